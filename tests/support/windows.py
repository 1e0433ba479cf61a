"""Rate-limit windows for tests that count admissions."""

from __future__ import annotations

import time


def fresh_window_seconds(now: float | None = None) -> float:
    """A window of about ten minutes that starts right now.

    The limiters' windows are `floor(now / window)`, and a sliding-window limiter admits a
    few more requests just after a boundary. With `window = now / k` the test runs at the
    very start of window `k`, so no boundary falls inside it and the count is exact.
    """
    now = time.time() if now is None else now
    return now / int(now // 600)

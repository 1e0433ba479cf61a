"""Sliding-log rate limiting: never more than `requests` admitted in any `window_seconds`.

Each client's admitted request times are kept for one window, so the limit holds over every
rolling window, not only on average: a client cannot double its allowance by straddling a
window boundary, as fixed or approximated sliding windows allow. Memory per client is at
most `requests` timestamps, and idle clients are forgotten.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from shared.settings import RateLimit


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, and if not, how many seconds until it may."""

    allowed: bool
    retry_after: int = 0


ALLOWED = Decision(True)


def retry_after_seconds(oldest_admitted: float, now: float, window_seconds: float) -> int:
    """Whole seconds until the oldest admitted request leaves the window (at least 1)."""
    return max(1, math.ceil(oldest_admitted + window_seconds - now))


class MemoryRateLimiter:
    """Per-process sliding-log limiter keyed by client address."""

    __slots__ = ("_last_sweep", "_limit", "_logs")

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._logs: dict[str, deque[float]] = {}
        self._last_sweep = 0.0

    @property
    def limit(self) -> RateLimit:
        """The configured limit."""
        return self._limit

    def hit(self, key: str, now: float) -> Decision:
        """Admit and record a request from `key` at `now` unless the window is full."""
        window = self._limit.window_seconds
        if now - self._last_sweep > window:
            self._sweep(now)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque()
        horizon = now - window
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) < self._limit.requests:
            log.append(now)
            return ALLOWED
        return Decision(False, retry_after_seconds(log[0], now, window))

    def _sweep(self, now: float) -> None:
        # Forget clients with nothing left in the window, so memory tracks active clients.
        horizon = now - self._limit.window_seconds
        self._logs = {k: log for k, log in self._logs.items() if log and log[-1] > horizon}
        self._last_sweep = now

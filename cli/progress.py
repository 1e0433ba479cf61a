"""A one-line progress bar on stderr: done/total, rate and ETA; silent when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


def render(done: int, total: int, elapsed: float) -> str:
    """The bar's text for `done` of `total` after `elapsed` seconds."""
    fraction = done / total if total else 1.0
    filled = int(_WIDTH * fraction)
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else 0.0
    return (
        f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total}"
        f" {fraction:4.0%} {rate:,.0f}/s ETA {eta:,.0f}s"
    )


class ProgressBar:
    """Redraws in place at most ~10 times a second; only when `stream` is a TTY."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.1) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()
        self._interval = interval
        self._started = time.monotonic()
        self._drawn_at = 0.0

    def update(self, done: int, total: int) -> None:
        """Show progress (throttled); the last update is always drawn by `finish`."""
        now = time.monotonic()
        if not self._live or (now - self._drawn_at < self._interval and done < total):
            return
        self._drawn_at = now
        self._stream.write("\r" + render(done, total, now - self._started))
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line, if one was drawn."""
        if self._live and self._drawn_at:
            self._stream.write("\n")
            self._stream.flush()

    @property
    def elapsed(self) -> float:
        """Seconds since the bar was made."""
        return time.monotonic() - self._started

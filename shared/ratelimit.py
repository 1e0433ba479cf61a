"""Sliding-window rate-limit arithmetic and the per-process (memory) limiter."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.settings import RateLimit


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, and if not, how many seconds until it may."""

    allowed: bool
    retry_after: int = 0


ALLOWED = Decision(True)


def window_position(now: float, window_seconds: float) -> tuple[int, float]:
    """The index of the fixed window holding `now` and how far into it `now` is (0..1)."""
    index = math.floor(now / window_seconds)
    return index, now / window_seconds - index


def decide(previous: int, current: int, elapsed: float, limit: RateLimit) -> Decision:
    """Sliding-window-counter decision for the next request.

    The previous window's count is weighted by how much of it still overlaps the sliding
    window. A request passes when the weighted estimate is below the limit, so the current
    fixed window alone never admits more than `limit`.
    """
    if previous * (1.0 - elapsed) + current < limit.requests:
        return ALLOWED
    window = limit.window_seconds
    if current >= limit.requests:
        # Wait for the next window, then for this window's weight to fall far enough.
        wait = (1.0 - elapsed) * window + (1.0 - limit.requests / (current + 1)) * window
    else:
        needed = 1.0 - (limit.requests - current) / previous
        wait = (needed - elapsed) * window
    return Decision(False, max(1, math.ceil(wait)))


class MemoryRateLimiter:
    """Per-process sliding-window limiter keyed by client address."""

    __slots__ = ("_counts", "_limit", "_swept_index")

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        # key -> [window index, previous window count, current window count]
        self._counts: dict[str, list[int]] = {}
        self._swept_index = 0

    @property
    def limit(self) -> RateLimit:
        """The configured limit."""
        return self._limit

    def hit(self, key: str, now: float) -> Decision:
        """Count a request from `key` at `now` unless it is over the limit."""
        index, elapsed = window_position(now, self._limit.window_seconds)
        if index > self._swept_index + 1:
            self._sweep(index)
        entry = self._counts.get(key)
        if entry is None:
            entry = self._counts[key] = [index, 0, 0]
        elif entry[0] != index:
            entry[1] = entry[2] if entry[0] == index - 1 else 0
            entry[2] = 0
            entry[0] = index
        decision = decide(entry[1], entry[2], elapsed, self._limit)
        if decision.allowed:
            entry[2] += 1
        return decision

    def _sweep(self, index: int) -> None:
        # Forget clients idle for two windows so memory tracks active clients only.
        self._counts = {k: v for k, v in self._counts.items() if v[0] >= index - 1}
        self._swept_index = index

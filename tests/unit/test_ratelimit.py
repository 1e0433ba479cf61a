"""Sliding-log rate limiting: the limit holds over every rolling window."""

from __future__ import annotations

import random

from shared.ratelimit import MemoryRateLimiter, retry_after_seconds
from shared.settings import RateLimit


def test_admits_exactly_the_limit_then_refuses_with_retry_after() -> None:
    limiter = MemoryRateLimiter(RateLimit(10, 60))
    results = [limiter.hit("a", 1000.0 + i) for i in range(12)]
    assert [r.allowed for r in results] == [True] * 10 + [False] * 2
    # The oldest admitted (t=1000) leaves the window at 1060; asked at 1011: 49 s.
    assert results[-1].retry_after == 49


def test_clients_are_limited_separately() -> None:
    limiter = MemoryRateLimiter(RateLimit(1, 60))
    assert limiter.hit("a", 0.0).allowed
    assert not limiter.hit("a", 1.0).allowed
    assert limiter.hit("b", 1.0).allowed


def test_a_window_boundary_gives_no_extra_allowance() -> None:
    # Fixed and approximated windows let a client send the limit just before a boundary and
    # again just after it. A sliding log does not.
    limiter = MemoryRateLimiter(RateLimit(3, 60))
    assert all(limiter.hit("a", 59.9).allowed for _ in range(3))
    assert not limiter.hit("a", 60.1).allowed
    assert not limiter.hit("a", 119.8).allowed
    assert limiter.hit("a", 120.0).allowed


def test_never_more_than_the_limit_in_any_rolling_window() -> None:
    rng = random.Random(7)
    limit = RateLimit(5, 10)
    limiter = MemoryRateLimiter(limit)
    now, admitted = 0.0, []
    for _ in range(5000):
        now += rng.expovariate(2.0)
        if limiter.hit("a", now).allowed:
            admitted.append(now)
    for i, start in enumerate(admitted):
        in_window = [t for t in admitted[i:] if t < start + limit.window_seconds]
        assert len(in_window) <= limit.requests
    assert len(admitted) > 500  # it does admit, at about the limit's rate


def test_idle_clients_are_forgotten() -> None:
    limiter = MemoryRateLimiter(RateLimit(2, 10))
    for i in range(100):
        limiter.hit(f"client-{i}", 100.0)
    limiter.hit("late", 140.0)
    assert len(limiter._logs) == 1  # the memory bound is the behaviour under test


def test_retry_after_is_at_least_one_second() -> None:
    assert retry_after_seconds(100.0, 159.99, 60) == 1
    assert retry_after_seconds(100.0, 130.0, 60) == 30

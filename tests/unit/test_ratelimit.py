"""Sliding-window rate-limit arithmetic and the memory limiter."""

from __future__ import annotations

from shared.ratelimit import MemoryRateLimiter, decide
from shared.settings import RateLimit

LIMIT = RateLimit(10, 60)


def test_under_the_limit_passes() -> None:
    assert decide(0, 9, 0.5, LIMIT).allowed


def test_current_window_full_is_refused_with_retry_after() -> None:
    decision = decide(0, 10, 0.5, LIMIT)
    assert not decision.allowed
    assert 30 <= decision.retry_after <= 60


def test_previous_window_weighs_by_overlap() -> None:
    # 20 in the previous window, 25 % into this one: estimate 15 → refused.
    assert not decide(20, 0, 0.25, LIMIT).allowed
    # 60 % into this one: estimate 8 → passes.
    assert decide(20, 0, 0.6, LIMIT).allowed


def test_retry_after_is_when_the_weight_has_fallen_enough() -> None:
    decision = decide(20, 0, 0.25, LIMIT)
    # Passes once 20 * (1 - e) < 10, i.e. e > 0.5: 0.25 of the window (15 s) from now.
    assert decision.retry_after == 15


def test_memory_limiter_admits_exactly_the_limit_per_client() -> None:
    limiter = MemoryRateLimiter(LIMIT)
    now = 1_000_020.0  # early in a window
    results = [limiter.hit("a", now).allowed for _ in range(15)]
    assert results.count(True) == 10
    assert limiter.hit("b", now).allowed  # another client is not affected


def test_memory_limiter_recovers_over_time() -> None:
    limiter = MemoryRateLimiter(RateLimit(2, 10))
    assert limiter.hit("a", 100.0).allowed
    assert limiter.hit("a", 100.1).allowed
    assert not limiter.hit("a", 100.2).allowed
    assert limiter.hit("a", 125.0).allowed  # two windows later nothing weighs


def test_memory_limiter_forgets_idle_clients() -> None:
    limiter = MemoryRateLimiter(RateLimit(2, 10))
    for i in range(100):
        limiter.hit(f"client-{i}", 100.0)
    limiter.hit("late", 140.0)
    assert len(limiter._counts) == 1

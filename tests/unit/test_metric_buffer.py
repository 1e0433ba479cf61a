"""Buffered metric counts reach prometheus-client exactly as direct calls would."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from shared.metric_buffer import MetricBuffers, observe_many

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.25, 1, 10)
# On bounds, between them, below the first and past the last (the +Inf bucket).
VALUES = [0.0, 0.0005, 0.0007, 0.001, 0.003, 0.25, 0.2501, 9.99, 10, 11, 1e9, 0.0005]


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The text exposition without the `_created` timestamps (those differ per registry)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def _pair() -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("t_requests", "Requests.", ["route"], registry=registry)
    histogram = Histogram("t_seconds", "Latency.", ["route"], buckets=BUCKETS, registry=registry)
    return registry, counter, histogram


def test_flushed_buffers_expose_what_direct_calls_expose() -> None:
    direct, direct_counter, direct_histogram = _pair()
    buffered, counter, histogram = _pair()
    buffers = MetricBuffers()
    count = buffers.counter(counter.labels("/a"))
    latency = buffers.histogram(histogram.labels("/a"))
    for value in VALUES:
        direct_counter.labels("/a").inc()
        direct_histogram.labels("/a").observe(value)
        count.inc()
        latency.observe(value)
    buffers.flush()
    assert _exposition(buffered) == _exposition(direct)


def test_nothing_reaches_the_metrics_before_a_flush_and_nothing_twice() -> None:
    registry, counter, histogram = _pair()
    buffers = MetricBuffers()
    count = buffers.counter(counter.labels("/a"))
    latency = buffers.histogram(histogram.labels("/a"))
    count.inc()
    count.inc()
    latency.observe(0.002)
    assert registry.get_sample_value("t_requests_total", {"route": "/a"}) == 0
    assert registry.get_sample_value("t_seconds_count", {"route": "/a"}) == 0

    buffers.flush()
    buffers.flush()  # a second flush with nothing new adds nothing
    assert registry.get_sample_value("t_requests_total", {"route": "/a"}) == 2
    assert registry.get_sample_value("t_seconds_count", {"route": "/a"}) == 1
    assert math.isclose(registry.get_sample_value("t_seconds_sum", {"route": "/a"}) or 0, 0.002)

    latency.observe(0.02)
    buffers.flush()
    assert registry.get_sample_value("t_seconds_count", {"route": "/a"}) == 2
    assert registry.get_sample_value("t_seconds_bucket", {"route": "/a", "le": "0.01"}) == 1
    assert registry.get_sample_value("t_seconds_bucket", {"route": "/a", "le": "0.25"}) == 2


def test_observe_many_exposes_what_one_observe_per_value_exposes_at_once() -> None:
    direct, _, direct_histogram = _pair()
    bulk, _, histogram = _pair()
    for value in VALUES:
        direct_histogram.labels("/a").observe(value)
    observe_many(histogram.labels("/a"), VALUES[:5])
    observe_many(histogram.labels("/a"), iter(VALUES[5:]))  # any iterable, no flush needed
    observe_many(histogram.labels("/a"), [])
    assert _exposition(bulk) == _exposition(direct)

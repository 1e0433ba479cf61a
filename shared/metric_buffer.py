"""Per-request metrics counted in plain integers and handed to prometheus-client in bulk.

A prometheus-client counter takes a lock and passes through a few Python frames on every call,
and a histogram observation does that twice plus a walk over its buckets: about 2 µs for the
three metric calls every ingest request makes, a few per cent of the request. Here a call is
an integer addition; `flush()` adds what was counted to the real metrics.

`observe_many` does the same for a batch of observations at once, with nothing left over.

The ingress flushes before it answers a scrape of /metrics, every second, and when it stops
(see `ingress.resources.metric_buffer_ctx`). A scrape therefore sees every request the
answering process has finished; with `--processes N` the other processes' counts are at most
a second old. Everything runs on the event-loop thread, so nothing here needs a lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import Counter, Histogram


class _Flushable(Protocol):
    def flush(self) -> None: ...


class CountBuffer:
    """Counts for one counter child (a metric with its label values)."""

    __slots__ = ("_child", "count")

    def __init__(self, child: Counter) -> None:
        self._child = child
        self.count = 0

    def inc(self) -> None:
        """Count one."""
        self.count += 1

    def flush(self) -> None:
        """Add the counts so far to the counter."""
        count = self.count
        if count:
            self.count = 0
            self._child.inc(count)


class ObservationBuffer:
    """Observations for one histogram child, kept as per-bucket counts and a sum."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        # prometheus-client's own bucket bounds, +Inf last; an observation belongs to the first
        # bound it does not exceed, exactly as Histogram.observe decides.
        self._bounds: list[float] = list(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Record one observation."""
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def flush(self) -> None:
        """Add the observations so far to the histogram."""
        counts = self._counts
        if not any(counts):
            return
        total, self._sum = self._sum, 0.0
        self._counts = [0] * len(counts)
        # Histogram has no public call that adds many observations at once; these are the
        # values its observe() increments (tests/unit/test_metric_buffer.py checks that the
        # exposition is the same as from observe()).
        child = self._child
        child._sum.inc(total)
        for bucket, count in zip(child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


def observe_many(child: Histogram, values: Iterable[float]) -> None:
    """Observe every value now, as one bulk addition per bucket instead of a locked call each.

    For work that finishes in batches (a worker's 500 deliveries): nothing is left buffered.
    """
    buffer = ObservationBuffer(child)
    observe = buffer.observe
    for value in values:
        observe(value)
    buffer.flush()


class MetricBuffers:
    """The buffers of one process; `flush()` hands all of them to prometheus-client."""

    def __init__(self) -> None:
        self._buffers: list[_Flushable] = []

    def counter(self, child: Counter) -> CountBuffer:
        """A new buffer in front of `child`."""
        buffer = CountBuffer(child)
        self._buffers.append(buffer)
        return buffer

    def histogram(self, child: Histogram) -> ObservationBuffer:
        """A new buffer in front of `child`."""
        buffer = ObservationBuffer(child)
        self._buffers.append(buffer)
        return buffer

    def flush(self) -> None:
        """Add everything counted so far to the real metrics."""
        for buffer in self._buffers:
            buffer.flush()


# One per process, like prometheus-client's own registry.
BUFFERS = MetricBuffers()

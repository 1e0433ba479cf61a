"""The coalescer batches one tick's submissions and routes each result to its caller."""

from __future__ import annotations

import asyncio

import pytest

from shared.coalesce import Coalescer


async def test_one_call_per_tick_and_results_in_order() -> None:
    calls: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        calls.append(items)
        return [i * 10 for i in items]

    batches: Coalescer[int, int] = Coalescer(send)
    results = await asyncio.gather(*(batches.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert calls == [[0, 1, 2, 3, 4]]


async def test_a_failure_reaches_every_waiter() -> None:
    async def send(items: list[int]) -> list[int]:
        raise ConnectionError("down")

    batches: Coalescer[int, int] = Coalescer(send)
    futures = [batches.submit(i) for i in range(3)]
    for future in futures:
        with pytest.raises(ConnectionError):
            await future


async def test_max_batch_splits_large_bursts() -> None:
    sizes: list[int] = []

    async def send(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batches: Coalescer[int, int] = Coalescer(send, max_batch=4)
    await asyncio.gather(*(batches.submit(i) for i in range(10)))
    assert sorted(sizes, reverse=True) == [4, 4, 2]


async def test_drain_waits_for_batches_in_flight() -> None:
    done: list[int] = []

    async def send(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        done.extend(items)
        return items

    batches: Coalescer[int, int] = Coalescer(send, linger_seconds=0.01)
    future = batches.submit(1)
    await batches.drain()
    assert done == [1]
    assert await future == 1

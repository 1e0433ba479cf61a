"""Coalesce work submitted during one event-loop tick into one batched call.

Under load, hundreds of requests reach their Redis step within the same tick. Sending them as
one round trip (one Lua call for the whole batch) costs about what one request would, while
each request still waits for the answer to its own item before replying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Coalescer(Generic[In, Out]):
    """Batches `submit` calls made in the same tick into one `send(items)` call."""

    __slots__ = ("_futures", "_items", "_linger", "_loop", "_max_batch", "_send", "_tasks")

    def __init__(
        self,
        send: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        max_batch: int = 512,
        linger_seconds: float = 0.0,
    ) -> None:
        self._send = send
        self._max_batch = max_batch
        # Waiting a little lets items that arrive over a few ticks share one call.
        self._linger = linger_seconds
        self._items: list[In] = []
        self._futures: list[asyncio.Future[Out]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: In) -> asyncio.Future[Out]:
        """Queue `item` for the next batch; the future resolves to its own result."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = self._loop.create_future()
        if not self._items:
            if self._linger:
                self._loop.call_later(self._linger, self._flush)
            else:
                self._loop.call_soon(self._flush)
        self._items.append(item)
        self._futures.append(future)
        if len(self._items) >= self._max_batch:
            self._flush()
        return future

    def _flush(self) -> None:
        if not self._items:
            return
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        task = asyncio.ensure_future(self._run(items, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[In], futures: list[asyncio.Future[Out]]) -> None:
        try:
            results = await self._send(items)
        except BaseException as error:  # every waiter must hear about the failure
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        """Flush what is pending and wait for every batch in flight (graceful shutdown)."""
        self._flush()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

"""Batches the database writes of concurrent delivery jobs into one transaction per round."""

from __future__ import annotations

import logging

import asyncpg

from shared.coalesce import Coalescer
from shared.db import connection
from shared.metrics import BATCH_SIZE
from shared.queries.deliveries import PersistRow, persist_processed
from shared.retry_policy import is_transient

log = logging.getLogger(__name__)


class DeliveryWriter:
    """Each job submits its row and waits for its own outcome; rows share one transaction.

    If a batch fails on a permanent error, its rows are retried one by one so that one bad
    row fails alone and the rest are stored.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, max_batch: int, linger_seconds: float = 0.005
    ) -> None:
        self._pool = pool
        self._batches: Coalescer[PersistRow, BaseException | None] = Coalescer(
            self._write, max_batch=max_batch, linger_seconds=linger_seconds
        )

    async def persist(self, row: PersistRow) -> None:
        """Store `row` as processed, or raise what prevented it."""
        error = await self._batches.submit(row)
        if error is not None:
            raise error

    async def write_batch(self, rows: list[PersistRow]) -> list[BaseException | None]:
        """Store `rows` in one transaction (one by one if that fails); each row's error or None."""
        if not rows:
            return []
        return await self._write(rows)

    async def _write(self, rows: list[PersistRow]) -> list[BaseException | None]:
        BATCH_SIZE.observe(len(rows))
        try:
            async with connection(self._pool) as conn:
                await persist_processed(conn, rows)
            return [None] * len(rows)
        except Exception as error:
            if is_transient(error) or len(rows) == 1:
                return [error] * len(rows)
            log.warning(
                "batch of %d failed (%s); writing rows one by one", len(rows), type(error).__name__
            )
        return [await self._write_one(row) for row in rows]

    async def _write_one(self, row: PersistRow) -> BaseException | None:
        try:
            async with connection(self._pool) as conn:
                await persist_processed(conn, [row])
        except Exception as error:
            return error
        return None

    async def drain(self) -> None:
        """Finish every write in flight."""
        await self._batches.drain()

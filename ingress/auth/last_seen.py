"""Marking agents online without a database write on the request path.

Requests note the agent in memory; a background task writes the noted agents in one UPDATE
every `flush_seconds`. Each agent is written at most once per `interval_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from shared.queries.agents import mark_agents_seen

log = logging.getLogger(__name__)


class LastSeenFlusher:
    """Batches agents' `last_seen_at`/`status = online` writes."""

    def __init__(
        self, pool: asyncpg.Pool, *, interval_seconds: float = 30.0, flush_seconds: float = 1.0
    ) -> None:
        self._pool = pool
        self._interval = interval_seconds
        self._flush_seconds = flush_seconds
        self._written: dict[uuid.UUID, float] = {}
        self._pending: dict[uuid.UUID, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin flushing in the background."""
        self._task = asyncio.create_task(self._run(), name="agent-last-seen")

    async def stop(self) -> None:
        """Stop, writing what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    def seen(self, agent_id: uuid.UUID) -> None:
        """Note a successful request of `agent_id` (cheap; no I/O)."""
        now = time.monotonic()
        last = self._written.get(agent_id)
        if last is not None and now - last < self._interval:
            return
        self._written[agent_id] = now
        self._pending[agent_id] = datetime.now(UTC)

    async def flush(self) -> None:
        """Write the pending agents in one statement."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            async with asyncio.timeout(5.0), self._pool.acquire() as conn:
                await mark_agents_seen(conn, list(batch), list(batch.values()))
        except Exception:
            for agent_id in batch:
                self._written.pop(agent_id, None)  # retry on the agent's next request
            raise
        if len(self._written) > 10_000:
            cutoff = time.monotonic() - self._interval
            self._written = {k: v for k, v in self._written.items() if v >= cutoff}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as error:
                log.warning("writing agents' last_seen_at failed (%s)", type(error).__name__)

"""Each ingress process's copy of webhook configuration, kept fresh without a query per request.

A background task polls for changes every `refresh_seconds` (changes hold within ~1 s, well
under the 5 s promise). An id the cache does not know may be a webhook created a moment ago:
the request waits for a refresh that starts after it arrived, and all such requests share
refreshes, at most one every `miss_interval` seconds, so random ids cannot turn into one query
each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timedelta

import asyncpg

from shared.errors import ServiceUnavailable
from shared.metrics import CONFIG_CACHE_AGE
from shared.queries.webhook_configs import (
    ConfigChanges,
    fetch_all_webhook_configs,
    fetch_webhook_config_changes,
)
from shared.webhook_config import WebhookConfig

log = logging.getLogger(__name__)

# Re-read a little before the last read so a transaction that committed late is not missed.
_OVERLAP = timedelta(seconds=3)
_FULL_RELOAD_SECONDS = 60.0


class WebhookConfigCache:
    """Webhook id → configuration, refreshed in the background."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        refresh_seconds: float = 1.0,
        miss_interval: float = 0.05,
        query_timeout: float = 3.0,
    ) -> None:
        self._pool = pool
        self._refresh_seconds = refresh_seconds
        self._miss_interval = miss_interval
        self._query_timeout = query_timeout
        self._configs: dict[str, WebhookConfig] = {}
        self._read_at: datetime | None = None
        self._loaded_monotonic = 0.0
        self._last_full = 0.0
        self._inflight: asyncio.Future[None] | None = None
        self._inflight_started = 0.0
        self._last_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Load every webhook, then keep refreshing in the background."""
        await self._refresh()
        CONFIG_CACHE_AGE.set(self.age_seconds)
        self._task = asyncio.create_task(self._poll(), name="webhook-config-refresh")

    async def stop(self) -> None:
        """Stop the background refresh."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ServiceUnavailable):
                await self._task

    @property
    def age_seconds(self) -> float:
        """Seconds since the last successful refresh."""
        return time.monotonic() - self._loaded_monotonic

    def get(self, webhook_id: str) -> WebhookConfig | None:
        """The cached configuration, without waiting."""
        return self._configs.get(webhook_id)

    async def lookup(self, webhook_id: str) -> WebhookConfig | None:
        """The configuration, refreshing once if the id is unknown; None if there is none."""
        config = self._configs.get(webhook_id)
        if config is not None:
            return config
        try:
            canonical = str(uuid.UUID(webhook_id))
        except ValueError:
            return None  # not an id at all: no query
        if canonical != webhook_id and (config := self._configs.get(canonical)):
            return config
        await self._refresh_after(time.monotonic())
        return self._configs.get(canonical)

    async def _refresh_after(self, arrival: float) -> None:
        while True:
            inflight = self._inflight
            if inflight is not None:
                await asyncio.shield(inflight)
                if self._inflight_started >= arrival:
                    return
                continue
            wait = self._last_started + self._miss_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._start_refresh()

    def _start_refresh(self) -> asyncio.Future[None]:
        future = asyncio.ensure_future(self._refresh())
        self._inflight, self._inflight_started = future, time.monotonic()
        self._last_started = self._inflight_started

        def done(_: asyncio.Future[None]) -> None:
            if self._inflight is future:
                self._inflight = None

        future.add_done_callback(done)
        return future

    async def _refresh(self) -> None:
        full = self._read_at is None or time.monotonic() - self._last_full > _FULL_RELOAD_SECONDS
        try:
            # asyncpg's own timeouts (acquire here, command_timeout on the pool): cancelling a
            # query from outside with asyncio.timeout can leave its connection mid-operation.
            async with self._pool.acquire(timeout=self._query_timeout) as conn:
                if full or self._read_at is None:
                    changes = await fetch_all_webhook_configs(conn)
                else:
                    changes = await fetch_webhook_config_changes(conn, self._read_at - _OVERLAP)
        except Exception as error:  # whatever the cause, keep serving the cached config
            if not self._failing:
                self._failing = True
                log.warning("webhook config refresh failing (%s); serving cached config", error)
            raise ServiceUnavailable("Webhook configuration unavailable; retry later.") from None
        if self._failing:
            self._failing = False
            log.info("webhook config refresh recovered")
        self._apply(changes, full)

    def _apply(self, changes: ConfigChanges, full: bool) -> None:
        if full:
            self._configs = {c.webhook_id: c for c in changes.changed}
            self._last_full = time.monotonic()
        else:
            for config in changes.changed:
                self._configs[config.webhook_id] = config
            for webhook_id in changes.deleted:
                self._configs.pop(webhook_id, None)
        self._read_at = changes.read_at
        self._loaded_monotonic = time.monotonic()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            with contextlib.suppress(ServiceUnavailable):
                await asyncio.shield(self._inflight or self._start_refresh())
            # Every process reports its own age (a failing refresh lets it grow): with
            # `--processes N`, /metrics is answered by one process but shows all of them.
            CONFIG_CACHE_AGE.set(self.age_seconds)

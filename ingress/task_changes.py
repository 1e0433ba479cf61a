"""Listening for PostgreSQL's `task_changes` notifications to drop kept task-list pages.

A trigger on `tasks` (migration 0004) notifies the board id of every changed task, whoever
changed it. This process listens on a connection of its own; each notification drops that
board's pages. While the connection is down notifications are lost, so every page is dropped
when it goes down and again when listening resumes; meanwhile pages still expire by age.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from ingress.keys import SETTINGS, TASK_PAGES
from ingress.task_pages import TaskPageCache
from shared.db import Conn

log = logging.getLogger(__name__)

CHANNEL = "task_changes"


class TaskChangeListener:
    """Keeps a LISTEN connection open (reconnecting) and invalidates pages on notifications."""

    def __init__(
        self,
        database_url: str,
        pages: TaskPageCache,
        *,
        retry_seconds: float = 1.0,
        check_seconds: float = 10.0,
    ) -> None:
        self._url = database_url
        self._pages = pages
        self._retry = retry_seconds
        self._check = check_seconds
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._failing = False

    @property
    def listening(self) -> bool:
        """Whether notifications are being received right now."""
        return self._listening.is_set()

    async def start(self, *, wait_seconds: float = 5.0) -> None:
        """Start listening in the background; wait briefly for the first LISTEN."""
        self._task = asyncio.create_task(self._run(), name="task-change-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait_seconds)

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _notified(self, _conn: Conn, _pid: int, _channel: str, payload: object) -> None:
        if not isinstance(payload, str) or not payload:
            self._pages.invalidate_all()
            return
        try:
            board_id = uuid.UUID(payload)
        except ValueError:
            self._pages.invalidate_all()
            return
        self._pages.invalidate(board_id)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "task change notifications unavailable (%s); task lists are kept at"
                        " most their max age",
                        type(error).__name__,
                    )
            await asyncio.sleep(self._retry)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._url, timeout=5.0)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._notified)
            # Changes made before LISTEN took effect were never notified to this process.
            self._pages.invalidate_all()
            self._listening.set()
            if self._failing:
                self._failing = False
                log.info("task change notifications recovered")
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._check)
                if not lost.is_set():
                    await conn.execute("SELECT 1", timeout=self._check)  # a silent dead link
        finally:
            self._listening.clear()
            self._pages.invalidate_all()
            with contextlib.suppress(Exception):
                await conn.close(timeout=2.0)
            if not conn.is_closed():
                conn.terminate()
        raise ConnectionError("task change listener connection lost")


TASK_CHANGE_LISTENER = web.AppKey("task_change_listener", TaskChangeListener)


async def task_pages_ctx(app: web.Application) -> AsyncIterator[None]:
    """The kept task-list pages and, when they are kept, the change listener."""
    settings = app[SETTINGS]
    pages = TaskPageCache(max_age_seconds=settings.task_list_cache_seconds)
    app[TASK_PAGES] = pages
    listener: TaskChangeListener | None = None
    if pages.enabled and settings.database_url:
        listener = TaskChangeListener(settings.database_url, pages)
        await listener.start()
        app[TASK_CHANGE_LISTENER] = listener
    yield
    if listener is not None:
        await listener.stop()

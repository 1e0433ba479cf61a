"""Rendered task-list pages, kept at most `max_age_seconds` and dropped on any task change.

Agents poll their board's task list many times a second; most polls find nothing new. A page
(the response body) is kept per board and query string. It is dropped:

- at once when this process writes a task of the board (the view calls `invalidate` after its
  transaction commits), so an agent sees its own claim on the next poll;
- when PostgreSQL notifies a change to the board's tasks (`TaskChangeListener`: every ingress
  process and the worker, usually within milliseconds);
- in any case once it is `max_age_seconds` old (measured from before its query began), which
  bounds staleness across processes even if notifications are lost.

A query that was running while its board changed is not stored (a per-board change mark newer
than the query's start), so a page read before a commit cannot outlive the commit's invalidation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

_MAX_MARKS = 10_000


@dataclass(slots=True)
class _Page:
    body: bytes
    fresh_until: float


class TaskPageCache:
    """Board id → query string → rendered page; bounded in age and in total bytes."""

    def __init__(
        self,
        *,
        max_age_seconds: float,
        max_bytes: int = 8 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age_seconds
        self._now = clock
        self._max_bytes = max_bytes
        self._boards: dict[uuid.UUID, dict[str, _Page]] = {}
        self._bytes = 0
        # A counter of invalidations; a query remembers it when it starts (`mark`), and its
        # page is stored only if its board was not invalidated since.
        self._change_count = 0
        self._changed: dict[uuid.UUID, int] = {}
        self._all_changed = 0

    @property
    def enabled(self) -> bool:
        """Whether pages are kept at all (`max_age_seconds` > 0)."""
        return self._max_age > 0

    def get(self, board_id: uuid.UUID, query: str) -> bytes | None:
        """The kept page for this board and query string, or None."""
        pages = self._boards.get(board_id)
        if pages is None:
            return None
        page = pages.get(query)
        if page is None:
            return None
        if self._now() >= page.fresh_until:
            self._bytes -= len(pages.pop(query).body)
            if not pages:
                del self._boards[board_id]
            return None
        return page.body

    def mark(self) -> tuple[int, float]:
        """Taken before a page's query starts; pass it to `put`."""
        return self._change_count, self._now()

    def put(self, board_id: uuid.UUID, query: str, body: bytes, mark: tuple[int, float]) -> None:
        """Keep a page unless its board changed after `mark` was taken."""
        seen, started = mark
        if not self.enabled or len(body) > self._max_bytes // 16:
            return
        if self._all_changed > seen or self._changed.get(board_id, 0) > seen:
            return  # read before a change this process already knows of
        pages = self._boards.setdefault(board_id, {})
        old = pages.pop(query, None)
        if old is not None:
            self._bytes -= len(old.body)
        pages[query] = _Page(body, started + self._max_age)
        self._bytes += len(body)
        while self._bytes > self._max_bytes:
            self._evict_one()

    def invalidate(self, board_id: uuid.UUID) -> None:
        """Drop the board's pages, and any page of it being read right now."""
        self._change_count += 1
        if len(self._changed) >= _MAX_MARKS:
            self._changed.clear()
            self._all_changed = self._change_count
        else:
            self._changed[board_id] = self._change_count
        pages = self._boards.pop(board_id, None)
        if pages:
            self._bytes -= sum(len(page.body) for page in pages.values())

    def invalidate_all(self) -> None:
        """Drop every page (notifications may have been missed)."""
        self._change_count += 1
        self._all_changed = self._change_count
        self._changed.clear()
        self._boards.clear()
        self._bytes = 0

    def _evict_one(self) -> None:
        board_id = next(iter(self._boards))
        pages = self._boards[board_id]
        query = next(iter(pages))
        self._bytes -= len(pages.pop(query).body)
        if not pages:
            del self._boards[board_id]

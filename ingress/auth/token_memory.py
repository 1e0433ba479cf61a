"""A short-lived memory of verified agent tokens, kept honest by polling credential changes.

Entries are keyed by SHA-256 of the token (never the token). A background task reads agents
whose credentials changed (rotation, lead flag, board) or that were deleted, every
`refresh_seconds`, and forgets their entries, so an old token stops working within about one
poll. If polling stops succeeding the memory answers nothing (every request verifies afresh),
so a database outage can never keep a revoked token alive past `trust_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.queries.agents import AuthChanges, fetch_agent_auth_changes, fetch_database_time

log = logging.getLogger(__name__)

# Re-read a little before the last read so a transaction that committed late is not missed.
_OVERLAP = timedelta(seconds=3)
# Change floors older than this cannot matter: no verification stays in flight that long.
_FLOOR_KEEP = timedelta(minutes=5)
_DELETED = datetime.max


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An authenticated agent."""

    id: uuid.UUID
    board_id: uuid.UUID
    is_board_lead: bool


@dataclass(slots=True)
class _Entry:
    identity: AgentIdentity
    changed_at: datetime
    expires: float


def token_digest(token: str) -> bytes:
    """The memory's key for a token: its SHA-256, so the token itself is never held."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class TokenMemory:
    """Digest → identity for tokens verified in the last `ttl_seconds`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl_seconds: float = 60.0,
        refresh_seconds: float = 1.0,
        trust_seconds: float = 4.0,
        max_entries: int = 10_000,
    ) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._refresh_seconds = refresh_seconds
        self._trust_seconds = trust_seconds
        self._max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}
        self._by_agent: dict[uuid.UUID, set[bytes]] = {}
        # agent id → newest credential change seen; entries verified before it are stale.
        self._floors: dict[uuid.UUID, datetime] = {}
        self._read_at: datetime | None = None
        self._polled_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Note the database time, then poll for changes in the background."""
        async with self._pool.acquire() as conn:
            self._read_at = await fetch_database_time(conn)
        self._polled_at = time.monotonic()
        self._task = asyncio.create_task(self._poll(), name="agent-auth-changes")

    async def stop(self) -> None:
        """Stop polling and forget everything."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._entries.clear()
        self._by_agent.clear()

    def get(self, digest: bytes) -> AgentIdentity | None:
        """The remembered identity, or None (unknown, expired, or polling is behind)."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        now = time.monotonic()
        if now - self._polled_at > self._trust_seconds or now >= entry.expires:
            self._drop(digest)
            return None
        return entry.identity

    def remember(self, digest: bytes, identity: AgentIdentity, changed_at: datetime) -> None:
        """Remember a token verified against a row whose credentials date from `changed_at`."""
        floor = self._floors.get(identity.id)
        if floor is not None and _naive(changed_at) < floor:
            return  # rotated or deleted while we verified: the next request must fail
        if len(self._entries) >= self._max_entries and digest not in self._entries:
            self._drop(next(iter(self._entries)))
        self._entries[digest] = _Entry(identity, changed_at, time.monotonic() + self._ttl)
        self._by_agent.setdefault(identity.id, set()).add(digest)

    def apply(self, changes: AuthChanges) -> None:
        """Forget entries of agents whose credentials changed or that were deleted."""
        for agent_id, changed_at in changes.changed:
            self._forget(agent_id, _naive(changed_at))
        for agent_id in changes.deleted:
            self._forget(agent_id, _DELETED)
        cutoff = _naive(changes.read_at) - _FLOOR_KEEP
        if len(self._floors) > 1000:
            self._floors = {k: v for k, v in self._floors.items() if v >= cutoff}
        self._read_at = changes.read_at
        self._polled_at = time.monotonic()

    def _forget(self, agent_id: uuid.UUID, changed_at: datetime) -> None:
        if changed_at > self._floors.get(agent_id, datetime.min):
            self._floors[agent_id] = changed_at
        for digest in list(self._by_agent.get(agent_id, ())):
            entry = self._entries.get(digest)
            if entry is not None and _naive(entry.changed_at) < changed_at:
                self._drop(digest)

    def _drop(self, digest: bytes) -> None:
        entry = self._entries.pop(digest, None)
        if entry is None:
            return
        digests = self._by_agent.get(entry.identity.id)
        if digests is not None:
            digests.discard(digest)
            if not digests:
                del self._by_agent[entry.identity.id]

    async def refresh(self) -> None:
        """Read credential changes since the last read and apply them."""
        since = (self._read_at or datetime.now().astimezone()) - _OVERLAP
        # asyncpg's own timeouts (acquire here, command_timeout on the pool): cancelling a query
        # from outside with asyncio.timeout can leave its connection mid-operation.
        async with self._pool.acquire(timeout=3.0) as conn:
            changes = await fetch_agent_auth_changes(conn, since)
        self.apply(changes)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
            except Exception as error:  # any failure: keep polling, verify afresh meanwhile
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "agent credential polling failing (%s); verifying every token afresh",
                        type(error).__name__,
                    )
                continue
            if self._failing:
                self._failing = False
                log.info("agent credential polling recovered")


def _naive(value: datetime) -> datetime:
    """UTC without tzinfo, so database times compare with the sentinels."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)

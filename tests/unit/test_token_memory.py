"""The verified-token memory: keyed by digest, forgets changed agents, distrusts stale polls."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg

from ingress.auth.token_memory import AgentIdentity, TokenMemory, token_digest
from shared.queries.agents import AuthChanges

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _memory(**options: Any) -> TokenMemory:
    memory = TokenMemory(cast(asyncpg.Pool, None), **options)
    memory.apply(AuthChanges(T0, [], []))  # as after a successful poll
    return memory


def _identity() -> AgentIdentity:
    return AgentIdentity(uuid.uuid4(), uuid.uuid4(), is_board_lead=False)


def test_the_key_is_a_digest_not_the_token() -> None:
    token = uuid.uuid4().hex
    digest = token_digest(token)
    assert len(digest) == 32
    assert token.encode() not in digest


def test_remembers_until_the_agent_changes() -> None:
    memory, agent = _memory(), _identity()
    digest = token_digest("one")
    memory.remember(digest, agent, T0)
    assert memory.get(digest) == agent
    memory.apply(
        AuthChanges(T0 + timedelta(seconds=2), [(agent.id, T0 + timedelta(seconds=1))], [])
    )
    assert memory.get(digest) is None


def test_an_unchanged_row_seen_again_by_an_overlapping_poll_is_kept() -> None:
    memory, agent = _memory(), _identity()
    digest = token_digest("one")
    memory.remember(digest, agent, T0)
    memory.apply(AuthChanges(T0 + timedelta(seconds=1), [(agent.id, T0)], []))
    assert memory.get(digest) == agent


def test_a_verification_that_finishes_after_the_change_is_not_remembered() -> None:
    memory, agent = _memory(), _identity()
    memory.apply(
        AuthChanges(T0 + timedelta(seconds=2), [(agent.id, T0 + timedelta(seconds=1))], [])
    )
    memory.remember(token_digest("old"), agent, T0)  # read before the rotation
    assert memory.get(token_digest("old")) is None


def test_deleted_agents_are_forgotten_for_good() -> None:
    memory, agent = _memory(), _identity()
    memory.remember(token_digest("one"), agent, T0)
    memory.apply(AuthChanges(T0 + timedelta(seconds=1), [], [agent.id]))
    assert memory.get(token_digest("one")) is None
    memory.remember(token_digest("one"), agent, T0 + timedelta(days=1))
    assert memory.get(token_digest("one")) is None


def test_nothing_is_trusted_when_polling_is_behind() -> None:
    memory, agent = _memory(trust_seconds=0.05), _identity()
    memory.remember(token_digest("one"), agent, T0)
    time.sleep(0.1)
    assert memory.get(token_digest("one")) is None


def test_entries_expire_and_the_size_is_bounded() -> None:
    memory = _memory(ttl_seconds=0)
    memory.remember(token_digest("one"), _identity(), T0)
    assert memory.get(token_digest("one")) is None
    small = _memory(max_entries=2)
    for name in ("a", "b", "c"):
        small.remember(token_digest(name), _identity(), T0)
    assert small.get(token_digest("a")) is None
    assert small.get(token_digest("c")) is not None

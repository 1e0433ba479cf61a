"""Agent token authentication: memory first, then the limiter, then one PBKDF2 run off the loop.

Order for every attempt not answered from the memory of verified tokens: count it against the
agent-auth limiter (429 before any hashing), reject a malformed token without hashing, find
the agent by the token's key id (one indexed row), and verify the secret in a small thread
pool — an unknown key id still spends one PBKDF2 run so timing does not reveal key ids.
Log lines carry the outcome, path, client IP and agent id; never the token or a piece of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

import asyncpg
from aiohttp import web

from ingress.auth.last_seen import LastSeenFlusher
from ingress.auth.token_memory import AgentIdentity, TokenMemory, token_digest
from ingress.auth.user import bearer_token
from ingress.keys import AGENT_AUTH_LIMITER, CLIENT_IP
from ingress.rate_limit import RateLimiter
from shared.errors import RateLimited, ServiceUnavailable, Unauthorized
from shared.metrics import AGENT_AUTH, PBKDF2_RUNS, RATE_LIMITED
from shared.queries.agents import fetch_agent_credentials
from shared.tokens import dummy_verify, parse_token, verify_secret

log = logging.getLogger("ingress.auth.agent")

_OUTCOMES = {
    name: AGENT_AUTH.labels(name) for name in ("ok", "cached", "invalid", "missing", "rate_limited")
}
_LIMITED = RATE_LIMITED.labels("agent_auth")
_UNAUTHORIZED = "Invalid or missing agent token."


def agent_token(request: web.Request) -> str | None:
    """The agent token of a request: `X-Agent-Token`, else `Authorization: Bearer`."""
    header = request.headers.get("X-Agent-Token")
    if header is not None:
        return header.strip() or None
    return bearer_token(request)


class AgentAuthenticator:
    """Checks agent tokens for one ingress process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        memory: TokenMemory,
        seen: LastSeenFlusher,
        executor: ThreadPoolExecutor,
        *,
        max_waiting: int = 256,
    ) -> None:
        self._pool = pool
        self._memory = memory
        self._seen = seen
        self._executor = executor
        # Bounds the verifications queued behind the pool across all clients (many IPs).
        self._max_waiting = max_waiting
        self._waiting = 0

    async def authenticate(
        self, token: str | None, *, limiter: RateLimiter, client_ip: str, path: str
    ) -> AgentIdentity:
        """The agent holding `token`; 401 when missing or wrong, 429 over the limit."""
        digest = token_digest(token) if token else None
        if digest is not None:
            remembered = self._memory.get(digest)
            if remembered is not None:
                _OUTCOMES["cached"].inc()
                self._seen.seen(remembered.id)
                log.debug(
                    "agent auth cached path=%s ip=%s agent_id=%s", path, client_ip, remembered.id
                )
                return remembered
        decision = await limiter.hit(client_ip)
        if not decision.allowed:
            _OUTCOMES["rate_limited"].inc()
            _LIMITED.inc()
            log.warning("agent auth rate_limited path=%s ip=%s", path, client_ip)
            raise RateLimited(decision.retry_after)
        if token is None or digest is None:
            self._fail("missing", path, client_ip)
        parsed = parse_token(token)
        if parsed is None:
            self._fail("invalid", path, client_ip)  # malformed: no hashing at all
        key_id, secret = parsed
        async with self._pool.acquire() as conn:
            row = await fetch_agent_credentials(conn, key_id)
        if row is None:
            await self._hash(dummy_verify, secret)
            self._fail("invalid", path, client_ip)
        if not await self._hash(verify_secret, secret, row.token_hash):
            self._fail("invalid", path, client_ip, row.id)
        identity = AgentIdentity(row.id, row.board_id, row.is_board_lead)
        self._memory.remember(digest, identity, row.auth_changed_at)
        self._seen.seen(identity.id)
        _OUTCOMES["ok"].inc()
        log.info("agent auth ok path=%s ip=%s agent_id=%s", path, client_ip, identity.id)
        return identity

    async def _hash(self, func: Callable[..., bool], *args: str) -> bool:
        if self._waiting >= self._max_waiting:
            raise ServiceUnavailable("Agent authentication is busy; retry shortly.", retry_after=1)
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, func, *args)
        finally:
            self._waiting -= 1
        PBKDF2_RUNS.inc()
        return bool(result)

    @staticmethod
    def _fail(outcome: str, path: str, client_ip: str, agent_id: object = None) -> NoReturn:
        _OUTCOMES[outcome].inc()
        if agent_id is None:
            log.info("agent auth %s path=%s ip=%s", outcome, path, client_ip)
        else:
            log.info("agent auth %s path=%s ip=%s agent_id=%s", outcome, path, client_ip, agent_id)
        raise Unauthorized(_UNAUTHORIZED)


AGENT_AUTHENTICATOR = web.AppKey("agent_authenticator", AgentAuthenticator)


async def require_agent(request: web.Request) -> AgentIdentity:
    """The agent making this request (token from `X-Agent-Token` or bearer); 401/429 otherwise."""
    return await request.app[AGENT_AUTHENTICATOR].authenticate(
        agent_token(request),
        limiter=request.app[AGENT_AUTH_LIMITER],
        client_ip=request[CLIENT_IP],
        path=request.path,
    )

"""Resources of agent and Clerk authentication, opened and closed by `cleanup_ctx`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from ingress.auth.agent import AGENT_AUTHENTICATOR, AgentAuthenticator
from ingress.auth.clerk import ClerkVerifier, JwksCache
from ingress.auth.last_seen import LastSeenFlusher
from ingress.auth.token_memory import TokenMemory
from ingress.auth.user import CLERK_VERIFIER
from ingress.keys import DB_POOL, SETTINGS
from ingress.resources import StartupError
from shared.tokens import dummy_hash


async def agent_auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The PBKDF2 thread pool, the verified-token memory and the last-seen flusher."""
    settings = app[SETTINGS]
    pool = app[DB_POOL]
    executor = ThreadPoolExecutor(
        max_workers=settings.agent_auth_threads, thread_name_prefix="agent-auth"
    )
    # The first unknown key id would otherwise pay for the dummy hash twice.
    await asyncio.get_running_loop().run_in_executor(executor, dummy_hash)
    memory = TokenMemory(
        pool,
        ttl_seconds=settings.agent_token_memory_seconds,
        refresh_seconds=settings.agent_auth_refresh_seconds,
    )
    await memory.start()
    seen = LastSeenFlusher(pool, interval_seconds=settings.agent_last_seen_interval_seconds)
    seen.start()
    app[AGENT_AUTHENTICATOR] = AgentAuthenticator(pool, memory, seen, executor)
    yield
    await seen.stop()
    await memory.stop()
    executor.shutdown(wait=True, cancel_futures=True)


async def clerk_ctx(app: web.Application) -> AsyncIterator[None]:
    """In Clerk mode, the JWKS cache and token verifier; nothing otherwise."""
    settings = app[SETTINGS]
    if settings.auth_mode != "clerk":
        yield
        return
    if not settings.clerk_jwks_url or not settings.clerk_issuer:
        raise StartupError("invalid setting CLERK_ISSUER: required when AUTH_MODE=clerk")
    session = aiohttp.ClientSession()
    jwks = JwksCache(
        session,
        settings.clerk_jwks_url,
        min_refresh_seconds=settings.clerk_jwks_min_refresh_seconds,
    )
    await jwks.refresh()  # warm; a failure is logged and retried on the first token
    app[CLERK_VERIFIER] = ClerkVerifier(
        jwks, issuer=settings.clerk_issuer, leeway_seconds=settings.clerk_leeway_seconds
    )
    yield
    await session.close()

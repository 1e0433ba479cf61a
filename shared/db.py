"""PostgreSQL connection pools with JSON codecs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from shared.retry_policy import DatabaseUnavailable

# Query functions accept a plain connection or one borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 5.0,
    command_timeout: float = 30.0,
) -> asyncpg.Pool:
    """A pool whose connections encode and decode json/jsonb with orjson."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        timeout=timeout,
        command_timeout=command_timeout,
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool, *, timeout: float = 10.0) -> AsyncIterator[Conn]:
    """A pooled connection; failing to get one raises DatabaseUnavailable (always transient)."""
    try:
        conn = await pool.acquire(timeout=timeout)
    except Exception as error:
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
    try:
        yield conn
    finally:
        await pool.release(conn)

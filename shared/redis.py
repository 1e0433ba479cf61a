"""Redis clients with bounded timeouts, so a dead Redis means a quick error, never a hang."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str, *, timeout: float, max_connections: int = 64) -> Redis:
    """A client whose every call fails within about `timeout` seconds when Redis is away."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 2.0),
        max_connections=max_connections,
        health_check_interval=30,
    )
    return client

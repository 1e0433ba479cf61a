"""The pipelined Redis connection against the shared Redis: encoding, replies, pipelining."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.resp import PipelinedRedis, RedisReplyError
from tests.conftest import REDIS_URL


@pytest.fixture
async def conn() -> AsyncIterator[PipelinedRedis]:
    """A pipelined connection to the shared Redis."""
    redis = PipelinedRedis(REDIS_URL, connect_timeout=5)
    yield redis
    await redis.close()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"t-resp-{uuid.uuid4().hex[:12]}:"
    yield name
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_str_bytes_and_int_arguments_reach_redis_unchanged(
    conn: PipelinedRedis, prefix: str
) -> None:
    values: list[tuple[str | bytes | int, bytes]] = [
        ("plain", b"plain"),
        ("ünïcode €", "ünïcode €".encode()),
        (b"\x00binary\r\n$3\r\n*1\xff", b"\x00binary\r\n$3\r\n*1\xff"),
        (b"", b""),
        (-42, b"-42"),
        (0, b"0"),
        (2**62, str(2**62).encode()),
    ]
    for n, (value, stored) in enumerate(values):
        key = f"{prefix}v{n}"
        assert await conn.call("SET", key, value) == b"OK"
        assert await conn.call("GET", key.encode()) == stored
        assert await conn.call("STRLEN", key) == len(stored)
    # An int argument is a number to Redis, not only text.
    assert await conn.call("INCRBY", f"{prefix}v5", 7) == 7
    assert await conn.call("EXPIRE", f"{prefix}v5", 100) == 1


async def test_a_large_value_arrives_in_many_chunks_and_parses_whole(
    conn: PipelinedRedis, prefix: str
) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB, read in many pieces
    await conn.call("SET", f"{prefix}big", big)
    assert await conn.call("GET", f"{prefix}big") == big
    assert await conn.call("PING") == b"PONG"


async def test_each_reply_type_parses(conn: PipelinedRedis, prefix: str) -> None:
    assert await conn.call("PING") == b"PONG"  # status
    assert await conn.call("SET", f"{prefix}s", "x") == b"OK"  # status
    assert await conn.call("INCR", f"{prefix}n") == 1  # integer
    assert await conn.call("DECRBY", f"{prefix}n", 5) == -4  # negative integer
    assert await conn.call("GET", f"{prefix}s") == b"x"  # bulk
    assert await conn.call("GET", f"{prefix}missing") is None  # nil bulk
    assert await conn.call("SET", f"{prefix}e", "") == b"OK"
    assert await conn.call("GET", f"{prefix}e") == b""  # empty bulk
    await conn.call("RPUSH", f"{prefix}l", "a", "b", "c")
    assert await conn.call("LRANGE", f"{prefix}l", 0, -1) == [b"a", b"b", b"c"]  # array
    assert await conn.call("LRANGE", f"{prefix}missing", 0, -1) == []  # empty array
    assert await conn.call("MGET", f"{prefix}s", f"{prefix}missing") == [b"x", None]
    nested = await conn.call("EVAL", "return {1, {2, 'a', {}}, 'b', {{3}}}", 0)
    assert nested == [1, [2, b"a", []], b"b", [[3]]]
    assert await conn.call("EVAL", "return redis.status_reply('FINE')", 0) == b"FINE"
    assert await conn.call("EVAL", "return nil", 0) is None


async def test_an_error_reply_raises_and_the_connection_stays_usable(
    conn: PipelinedRedis, prefix: str
) -> None:
    await conn.call("SET", f"{prefix}s", "not a number")
    with pytest.raises(RedisReplyError, match="not an integer"):
        await conn.call("INCR", f"{prefix}s")
    with pytest.raises(RedisReplyError, match="WRONGTYPE"):
        await conn.call("LPUSH", f"{prefix}s", "x")
    with pytest.raises(RedisReplyError, match="unknown command"):
        await conn.call("NO-SUCH-COMMAND", 1)
    with pytest.raises(RedisReplyError, match="NOSCRIPT"):
        await conn.call("EVALSHA", "0" * 40, 0)
    assert await conn.call("GET", f"{prefix}s") == b"not a number"
    # Errors in the middle of a pipeline reach only their own caller.
    replies = await asyncio.gather(
        conn.call("ECHO", "before"),
        conn.call("INCR", f"{prefix}s"),
        conn.call("ECHO", "after"),
        return_exceptions=True,
    )
    assert replies[0] == b"before"
    assert isinstance(replies[1], RedisReplyError)
    assert replies[2] == b"after"


async def test_a_thousand_concurrent_mixed_calls_each_get_their_own_reply(
    conn: PipelinedRedis, prefix: str
) -> None:
    counter, listing = f"{prefix}counter", f"{prefix}list"
    await conn.call("PING")  # connected: every call below is written at once

    def command(i: int) -> tuple[str | int, ...]:
        match i % 4:
            case 0:
                return ("INCR", counter)
            case 1:
                return ("ECHO", f"echo-{i}")
            case 2:
                return ("RPUSH", listing, i)
            case _:
                return ("GET", f"{prefix}missing-{i}")

    replies = await asyncio.gather(*(conn.call(*command(i)) for i in range(1000)))
    for i, reply in enumerate(replies):
        match i % 4:
            case 0:
                assert reply == i // 4 + 1  # INCRs ran in send order
            case 1:
                assert reply == f"echo-{i}".encode()
            case 2:
                assert reply == i // 4 + 1  # the list's length after this push
            case _:
                assert reply is None
    pushed = await conn.call("LRANGE", listing, 0, -1)
    assert pushed == [str(i).encode() for i in range(2, 1000, 4)]


async def test_calls_made_before_the_first_connect_keep_their_order(prefix: str) -> None:
    redis = PipelinedRedis(REDIS_URL, connect_timeout=5)
    try:
        replies = await asyncio.gather(*(redis.call("INCR", f"{prefix}c") for _ in range(200)))
        assert replies == list(range(1, 201))
    finally:
        await redis.close()


async def test_a_caller_that_gives_up_does_not_shift_later_replies(
    conn: PipelinedRedis, prefix: str
) -> None:
    await conn.call("PING")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await conn.call("BLPOP", f"{prefix}never", "0.3")
    # The BLPOP's nil reply still comes, first; it must be dropped, not handed to ECHO.
    assert await conn.call("ECHO", "mine") == b"mine"
    assert await asyncio.gather(*(conn.call("ECHO", i) for i in range(50))) == [
        str(i).encode() for i in range(50)
    ]


async def test_a_caller_that_gives_up_on_a_first_connect_does_not_shift_replies(
    prefix: str,
) -> None:
    redis = PipelinedRedis(REDIS_URL, connect_timeout=5)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await redis.call("BLPOP", f"{prefix}never", "0.3")
        assert await redis.call("ECHO", "mine") == b"mine"
    finally:
        await redis.close()


async def test_close_then_call_connects_again(conn: PipelinedRedis) -> None:
    assert await conn.call("PING") == b"PONG"
    await conn.close()
    assert await conn.call("ECHO", "again") == b"again"

"""The pipelined Redis connection under real faults, on a redis-server of the test's own."""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.resp import PipelinedRedis, RedisConnectionLost, RedisReplyError
from tests.support.log_audit import register_secret
from tests.support.operator_api import eventually
from tests.support.servers import PrivateRedis, free_port


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A private redis-server that allows DEBUG and listens on a unix socket too."""
    folder = tmp_path_factory.mktemp("redis")
    redis = PrivateRedis(
        folder,
        appendonly=False,
        extra_args=("--enable-debug-command", "yes", "--unixsocket", str(folder / "r.sock")),
    )
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
async def admin(server: PrivateRedis) -> AsyncIterator[Redis]:
    """A redis-py client on the private server, for set-up and checks (one connection)."""
    client = Redis(port=server.port, single_connection_client=True)
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture
async def conn(server: PrivateRedis) -> AsyncIterator[PipelinedRedis]:
    """The connection under test."""
    redis = PipelinedRedis(server.url, connect_timeout=5)
    yield redis
    await redis.close()


async def command(client: Redis, *args: str | int) -> Any:
    """A raw command (redis-py leaves execute_command untyped)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


async def connections_received(admin: Redis) -> int:
    """How many connections the server has accepted so far (the admin's included)."""
    stats: dict[str, Any] = await admin.info("stats")
    return int(stats["total_connections_received"])


async def connected_clients(admin: Redis) -> int:
    """How many clients are connected now (the admin included)."""
    clients: dict[str, Any] = await admin.info("clients")
    return int(clients["connected_clients"])


async def test_a_reply_that_comes_after_its_caller_timed_out_is_dropped(
    conn: PipelinedRedis,
) -> None:
    assert await conn.call("PING") == b"PONG"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await conn.send(["DEBUG", "SLEEP", "0.2"])
    replies = await asyncio.gather(*(conn.call("ECHO", i) for i in range(20)))
    assert replies == [str(i).encode() for i in range(20)]
    # Several callers give up while later ones wait: each later one still gets its own reply.
    slow = [conn.send(["DEBUG", "SLEEP", "0.05"]) for _ in range(3)]
    after = conn.send(["ECHO", "after"])
    for future in slow:
        future.cancel()
    assert await after == b"after"


async def test_a_killed_connection_fails_every_waiter_and_the_next_call_reconnects(
    conn: PipelinedRedis, admin: Redis
) -> None:
    assert await conn.call("PING") == b"PONG"
    accepted = await connections_received(admin)
    waiting = [conn.send(["BLPOP", "nothing", 5]), conn.send(["ECHO", "queued"])]
    await eventually(lambda: _blocked_clients(admin, 1))
    assert await command(admin, "CLIENT", "KILL", "TYPE", "normal") == 1
    for future in waiting:
        with pytest.raises(RedisConnectionLost):
            await future
    assert issubclass(RedisConnectionLost, ConnectionError)
    assert await conn.call("ECHO", "back") == b"back"
    assert await connections_received(admin) == accepted + 1


async def _blocked_clients(admin: Redis, count: int) -> bool:
    clients: dict[str, Any] = await admin.info("clients")
    return int(clients["blocked_clients"]) == count


async def test_a_crashed_server_fails_the_waiters_and_a_restarted_one_is_used_again(
    server: PrivateRedis, conn: PipelinedRedis
) -> None:
    assert await conn.call("PING") == b"PONG"
    in_flight = conn.send(["BLPOP", "nothing", 5])
    await asyncio.sleep(0)
    server.kill()
    with pytest.raises(ConnectionError):
        await in_flight
    with pytest.raises(ConnectionRefusedError):  # down: connecting fails at once
        await conn.call("PING")
    server.start()
    assert await conn.call("PING") == b"PONG"


async def test_after_a_restart_at_most_one_call_fails(
    server: PrivateRedis, conn: PipelinedRedis
) -> None:
    assert await conn.call("SET", "k", "v") == b"OK"
    server.stop()
    server.start()
    failures = 0
    for _ in range(3):
        try:
            assert await conn.call("PING") == b"PONG"
        except ConnectionError:  # the stale connection may take one call down with it
            failures += 1
    assert failures <= 1


async def test_concurrent_first_calls_share_one_connection(
    conn: PipelinedRedis, admin: Redis
) -> None:
    accepted = await connections_received(admin)
    replies = await asyncio.gather(*(conn.call("INCR", "shared") for _ in range(100)))
    assert replies == list(range(1, 101))
    assert await connections_received(admin) == accepted + 1
    assert await connected_clients(admin) == 2


async def test_concurrent_first_calls_share_one_failed_attempt() -> None:
    attempts = 0

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    listener = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    redis = PipelinedRedis(f"redis://:secret-pass@127.0.0.1:{port}", connect_timeout=5)
    try:
        async with asyncio.timeout(10):  # a hang guard, not a timing check
            results = await asyncio.gather(
                *(redis.call("PING") for _ in range(20)), return_exceptions=True
            )
        assert all(isinstance(result, ConnectionError) for result in results), results
        assert attempts == 1
        # The failure is not remembered: the next call tries again.
        with pytest.raises(ConnectionError):
            await redis.call("PING")
        assert attempts == 2
    finally:
        await redis.close()
        listener.close()
        await listener.wait_closed()


async def test_a_server_that_is_down_fails_the_call_at_once() -> None:
    redis = PipelinedRedis(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=5)
    try:
        async with asyncio.timeout(4):  # a hang guard, not a timing check
            with pytest.raises(ConnectionRefusedError):
                await redis.call("PING")
            results = await asyncio.gather(
                *(redis.call("PING") for _ in range(10)), return_exceptions=True
            )
        assert all(isinstance(result, ConnectionRefusedError) for result in results)
    finally:
        await redis.close()


async def test_connect_timeout_bounds_a_handshake_that_never_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, reads the AUTH, never answers
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    redis = PipelinedRedis(f"redis://:secret-pass@127.0.0.1:{port}/1", connect_timeout=0.2)
    try:
        async with asyncio.timeout(5):  # a hang guard: without connect_timeout this waits forever
            with pytest.raises(TimeoutError):
                await redis.call("PING")
    finally:
        await redis.close()
        listener.close()
        await listener.wait_closed()


async def test_connect_timeout_bounds_a_tcp_connect_that_never_completes() -> None:
    # A listener that never accepts, with its accept queue full: Linux drops further SYNs,
    # so a connect neither succeeds nor is refused.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    redis = PipelinedRedis(f"redis://127.0.0.1:{port}", connect_timeout=0.3)
    try:
        async with asyncio.timeout(5):  # a hang guard, not a timing check
            with pytest.raises(TimeoutError):
                await redis.call("PING")
    finally:
        await redis.close()
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_server_refusing_the_client_raises_its_error(
    server: PrivateRedis, admin: Redis
) -> None:
    # At maxclients Redis accepts, answers an error (before or after our command is written)
    # and hangs up: either way the caller hears why, not an internal error.
    await admin.config_set("maxclients", 1)
    redis = PipelinedRedis(server.url, connect_timeout=5)
    try:
        for _ in range(5):
            with pytest.raises((ConnectionError, RedisReplyError)):
                await redis.call("PING")
        await admin.config_set("maxclients", 100)
        assert await redis.call("PING") == b"PONG"
    finally:
        await redis.close()


async def test_a_caller_cancelled_during_connect_leaves_no_stale_attempt_behind(
    conn: PipelinedRedis, admin: Redis
) -> None:
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    first = conn.send(["PING"])
    await asyncio.sleep(0)  # it starts connecting
    first.cancel()
    await eventually(lambda: _connected(admin, 2))  # the connect finished without its caller
    await command(admin, "CLIENT", "KILL", "TYPE", "normal")
    await eventually(lambda: _connected(admin, 1))
    await asyncio.sleep(0.05)  # the loop sees the hang-up
    # The finished attempt and its now dead connection must not be reused.
    assert await conn.call("PING") == b"PONG"
    gc.collect()
    assert unhandled == []


async def test_a_caller_cancelled_during_a_failed_connect_leaves_no_stale_error_behind(
    server: PrivateRedis,
) -> None:
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    server.stop()
    redis = PipelinedRedis(server.url, connect_timeout=5)
    try:
        first = redis.send(["PING"])
        await asyncio.sleep(0)  # it starts connecting
        first.cancel()
        await asyncio.sleep(0.1)  # the refused connect completes with nobody waiting
        server.start()
        assert await redis.call("PING") == b"PONG"
    finally:
        await redis.close()
    gc.collect()
    assert unhandled == [], "a failed connect nobody waited for must not log an error"


async def _connected(admin: Redis, count: int) -> bool:
    return await connected_clients(admin) == count


async def test_password_in_url_authenticates_and_the_path_selects_the_db(
    server: PrivateRedis, admin: Redis
) -> None:
    password = f"p@ss:w/rd%{uuid.uuid4().hex[:8]}"
    register_secret(password, "test redis password")
    await admin.config_set("requirepass", password)
    encoded = password.replace("%", "%25").replace("@", "%40").replace(":", "%3A")
    encoded = encoded.replace("/", "%2F")
    redis = PipelinedRedis(f"redis://:{encoded}@127.0.0.1:{server.port}/2", connect_timeout=5)
    try:
        assert await redis.call("SET", "where", "db2") == b"OK"
        assert await redis.call("CLIENT", "INFO") is not None
    finally:
        await redis.close()
    assert await command(admin, "SELECT", 2)
    assert await admin.get("where") == b"db2"
    assert await command(admin, "SELECT", 0)
    assert await admin.get("where") is None


async def test_wrong_or_missing_password_raises(server: PrivateRedis, admin: Redis) -> None:
    password = f"right-{uuid.uuid4().hex}"
    register_secret(password, "test redis password")
    await admin.config_set("requirepass", password)
    before = await connected_clients(admin)
    wrong = PipelinedRedis(f"redis://:wrong-password@127.0.0.1:{server.port}", connect_timeout=5)
    try:
        with pytest.raises(RedisReplyError, match="WRONGPASS"):
            await wrong.call("PING")
        with pytest.raises(RedisReplyError):  # and again: nothing half-open is kept
            await wrong.call("PING")
    finally:
        await wrong.close()
    await eventually(lambda: _connected(admin, before))  # failed handshakes hung up
    anonymous = PipelinedRedis(server.url, connect_timeout=5)
    try:
        with pytest.raises(RedisReplyError, match="NOAUTH"):
            await anonymous.call("PING")
    finally:
        await anonymous.close()


async def test_an_acl_user_authenticates_with_name_and_password(
    server: PrivateRedis, admin: Redis
) -> None:
    password = f"acl-{uuid.uuid4().hex}"
    register_secret(password, "test redis password")
    await command(admin, "ACL", "SETUSER", "ingest", "on", f">{password}", "~*", "+@all")
    redis = PipelinedRedis(
        f"redis://ingest:{password}@127.0.0.1:{server.port}/3", connect_timeout=5
    )
    try:
        assert await redis.call("ACL", "WHOAMI") == b"ingest"
        assert await redis.call("SET", "acl", "db3") == b"OK"
    finally:
        await redis.close()
    assert await command(admin, "SELECT", 3)
    assert await admin.get("acl") == b"db3"
    wrong = PipelinedRedis(f"redis://ingest:nope-nope@127.0.0.1:{server.port}", connect_timeout=5)
    try:
        with pytest.raises(RedisReplyError, match="WRONGPASS"):
            await wrong.call("PING")
    finally:
        await wrong.close()


async def test_a_unix_socket_url_connects_and_selects_the_db(
    server: PrivateRedis, admin: Redis
) -> None:
    socket_path = Path(server.folder) / "r.sock"
    redis = PipelinedRedis(f"unix://{socket_path}?db=4", connect_timeout=5)
    try:
        assert await redis.call("SET", "over-unix", 1) == b"OK"
    finally:
        await redis.close()
    assert await command(admin, "SELECT", 4)
    assert await admin.get("over-unix") == b"1"

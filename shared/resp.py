"""A lean, pipelined Redis connection for the ingest hot path.

redis-py spends about 45 µs of CPU on one script call (connection pool, retry wrapper, command
packing, a timeout context, parsing); on the ingest path that is more than the rest of the
request. This connection writes each command as soon as it is given, keeps one future per
command in send order and parses replies with hiredis (redis-py's own C parser). Many commands
can be in flight on the one connection; Redis answers in order, so replies need no ids.

It speaks only what the hot path needs: connect (TCP, TLS or a unix socket), AUTH, SELECT and
commands whose replies are plain values. Anything else stays on redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis

Arg = bytes | str | int


class RedisReplyError(Exception):
    """Redis answered a command with an error reply."""


class RedisConnectionLost(ConnectionError):
    """The connection closed before the reply arrived."""


def encode_command(args: tuple[Arg, ...] | list[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings (hiredis's C encoder, ~2.5x Python's)."""
    # hiredis's stub types the argument as a 1-tuple; it takes any number of arguments.
    packed: bytes = hiredis.pack_command(cast(Any, tuple(args)))
    return packed


class RedisAddress:
    """Where and how to connect, from a redis://, rediss:// or unix:// URL."""

    __slots__ = ("db", "host", "password", "path", "port", "tls", "username")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        self.tls = parts.scheme == "rediss"
        self.path = unquote(parts.path) if parts.scheme == "unix" else None
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 6379
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        db = query.get("db")
        if db is None and parts.scheme != "unix":
            db = parts.path.lstrip("/") or None
        self.db = int(db) if db else 0


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=RedisReplyError)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (asyncio's, or another loop's that is not a subclass of it).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while (reply := reader.gets()) is not False:
            if not waiting:  # a reply nobody asked for: the stream cannot be trusted
                self.abort(RedisConnectionLost("unexpected reply from Redis"))
                return
            future = waiting.popleft()
            if future.done():  # its caller gave up (timeout); the reply is dropped
                continue
            if isinstance(reply, RedisReplyError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        error = RedisConnectionLost(
            f"Redis connection lost ({type(exc).__name__ if exc else 'closed'})"
        )
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)

    def abort(self, error: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class PipelinedRedis:
    """One Redis connection shared by every caller; connects (again) on demand."""

    def __init__(self, url: str, *, connect_timeout: float) -> None:
        self._address = RedisAddress(url)
        self._connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None

    def send(self, args: tuple[Arg, ...] | list[Arg]) -> asyncio.Future[Any]:
        """Write one command now if connected; the future resolves to its reply."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            return asyncio.ensure_future(self._send_after_connect(encode_command(args)))
        return self._write(protocol, encode_command(args))

    async def call(self, *args: Arg) -> Any:
        """Send one command and wait for its reply."""
        return await self.send(args)

    def abort(self) -> None:
        """Drop the connection (e.g. after a timeout); waiting callers get an error."""
        if self._protocol is not None:
            self._protocol.abort(RedisConnectionLost("Redis connection aborted"))
            self._protocol = None

    async def close(self) -> None:
        """Close the connection."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            await protocol.lost

    @staticmethod
    def _write(protocol: _Protocol, payload: bytes) -> asyncio.Future[Any]:
        transport = protocol.transport
        if transport is None:  # lost after connecting, before this caller's turn to write
            raise RedisConnectionLost("Redis connection lost before the command was sent")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        transport.write(payload)
        protocol.waiting.append(future)
        return future

    async def _send_after_connect(self, payload: bytes) -> Any:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:  # connected meanwhile
            return await self._write(protocol, payload)
        connecting = self._connecting
        if connecting is None or connecting.done():
            # A finished attempt is stale here (its connection is gone, or it failed with
            # nobody left to clear it): start a new one that concurrent callers share.
            connecting = self._connecting = asyncio.ensure_future(self._connect())
        try:
            protocol = await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None
        return await self._write(protocol, payload)

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        address = self._address
        async with asyncio.timeout(self._connect_timeout):
            if address.path is not None:
                _, protocol = await loop.create_unix_connection(_Protocol, address.path)
            else:
                context = ssl.create_default_context() if address.tls else None
                _, protocol = await loop.create_connection(
                    _Protocol, address.host, address.port, ssl=context
                )
            try:
                if address.password is not None:
                    auth: list[Arg] = ["AUTH", address.password]
                    if address.username:
                        auth.insert(1, address.username)
                    await self._write(protocol, encode_command(auth))
                if address.db:
                    await self._write(protocol, encode_command(["SELECT", address.db]))
            except BaseException:
                protocol.abort(RedisConnectionLost("Redis handshake failed"))
                raise
        self._protocol = protocol
        return protocol

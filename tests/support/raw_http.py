"""A raw HTTP/1.1 client over a socket, for requests no well-behaved client would send."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class RawResponse:
    """What came back: the status (0 when the server closed without answering), headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body decoded as JSON."""
        return orjson.loads(self.body)


def request_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """A request line and header block, sent exactly as given (no validation at all)."""
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return RawResponse(0, {}, b"")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        body = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        body = b""
    return RawResponse(status, headers, body)


async def raw_request(
    port: int,
    head: bytes,
    body: bytes = b"",
    *,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
) -> RawResponse:
    """Send `head` then `body` on a new connection and read one response (status 0 if none)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(timeout):
            writer.write(head + body)
            await writer.drain()
            return await _read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def trickle_request(
    port: int,
    head: bytes,
    body: bytes,
    *,
    interval: float,
    give_up_after: float,
    host: str = "127.0.0.1",
) -> tuple[RawResponse, bool]:
    """Send `body` a byte every `interval` seconds while watching for an answer or a close.

    Returns the response (status 0 when the server closed without one) and whether the
    server ended the exchange before `give_up_after` seconds (False: it held the connection).
    """
    reader, writer = await asyncio.open_connection(host, port)

    async def send() -> None:
        writer.write(head)
        for index in range(len(body)):
            writer.write(body[index : index + 1])
            await writer.drain()
            await asyncio.sleep(interval)

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(give_up_after):
            response = await _read_response(reader)
        return response, True
    except TimeoutError:
        return RawResponse(0, {}, b""), False
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

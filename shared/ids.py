"""Random ids for the hot path without a system call per id.

`uuid.uuid4()` reads 16 bytes from the kernel on every call and builds a UUID object just to
print it; on the ingest path that is a syscall and about 2 µs per request. Here the kernel's
randomness is read 4 KiB at a time and cut into ids. A forked child must never repeat its
parent's ids, so the buffer is dropped in the child at fork.
"""

from __future__ import annotations

import os

_CHUNK = 4096


class _RandomBuffer:
    __slots__ = ("_data", "_offset")

    def __init__(self) -> None:
        self._data = b""
        self._offset = 0

    def take(self, size: int) -> bytes:
        offset = self._offset
        if offset + size > len(self._data):
            self._data = os.urandom(_CHUNK)
            offset = 0
        self._offset = offset + size
        return self._data[offset : offset + size]

    def reset(self) -> None:
        self._data = b""
        self._offset = 0


_buffer = _RandomBuffer()
os.register_at_fork(after_in_child=_buffer.reset)


def uuid4_str() -> str:
    """A random (version 4) UUID in its canonical text form, from the kernel's CSPRNG."""
    raw = bytearray(_buffer.take(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def random_hex_id() -> str:
    """32 random hex characters (128 bits of the kernel's CSPRNG, read from the buffer).

    Used for request ids: unique like a uuid4, and unlike a counter they say nothing about a
    process's request volume.
    """
    return _buffer.take(16).hex()

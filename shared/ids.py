"""Random ids for the hot path without a system call per id.

`uuid.uuid4()` reads 16 bytes from the kernel on every call and builds a UUID object just to
print it; on the ingest path that is a syscall and about 2 µs per request. Here the kernel's
randomness is read 4 KiB at a time, turned into hex once, and cut into ids. A forked child
must never repeat its parent's ids, so the buffer is dropped in the child at fork.
"""

from __future__ import annotations

import os

_CHUNK = 4096  # bytes of randomness read at a time: 8,192 hex digits, 256 ids
_ID_DIGITS = 32  # 128 bits

# RFC 4122 variant: the digit after the third dash is 10xx in binary (8, 9, a or b); its two
# low bits stay random.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _HexBuffer:
    __slots__ = ("_digits", "_offset")

    def __init__(self) -> None:
        self._digits = ""
        self._offset = 0

    def take(self, count: int) -> str:
        """`count` random lower-case hex digits, never handed out before."""
        offset = self._offset
        end = offset + count
        if end > len(self._digits):
            self._digits = os.urandom(_CHUNK).hex()
            offset, end = 0, count
        self._offset = end
        return self._digits[offset:end]

    def reset(self) -> None:
        self._digits = ""
        self._offset = 0


_buffer = _HexBuffer()
os.register_at_fork(after_in_child=_buffer.reset)


def uuid4_str() -> str:
    """A random (version 4) UUID in its canonical text form, from the kernel's CSPRNG."""
    h = _buffer.take(_ID_DIGITS)
    # Version digit 4, variant digit from _VARIANT: 122 random bits, as uuid.uuid4() has.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def random_hex_id() -> str:
    """32 random hex characters (128 bits of the kernel's CSPRNG, read from the buffer).

    Used for request ids: unique like a uuid4, and unlike a counter they say nothing about a
    process's request volume.
    """
    return _buffer.take(_ID_DIGITS)

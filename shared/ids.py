"""Random ids for the hot path without a system call per id.

`uuid.uuid4()` reads 16 bytes from the kernel on every call and builds a UUID object just to
print it; on the ingest path that would be a syscall and about 2 µs per request. Here the
kernel's randomness is read 4 KiB at a time, turned into hex once, and cut into ids. A forked
child must never repeat its parent's ids, so the buffer is dropped in the child at fork.
"""

from __future__ import annotations

import os

_CHUNK = 4096  # bytes of randomness read at a time: 8,192 hex digits
_ID_DIGITS = 32  # 128 bits
_V7_RANDOM_DIGITS = 19  # 3 after the version digit, the variant digit, 3 + 12 after it
_MS_MASK = (1 << 48) - 1

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


def uuid7_str(unix_ms: int) -> str:
    """A time-ordered (version 7, RFC 9562) UUID in its canonical text form.

    The first 48 bits are `unix_ms` (milliseconds since the epoch, e.g. when a delivery was
    received); the other 74 bits, after the version and variant, come from the kernel's CSPRNG.
    Payload ids are primary keys of the table that grows fastest: ids that grow with time are
    inserted at the right edge of its indexes (and of every index keyed by payload id) instead
    of at random pages, which costs PostgreSQL less CPU per row and keeps the recently written
    part of each index small (docs/performance.md: "Payload ids are time-ordered").
    """
    h = _buffer.take(_V7_RANDOM_DIGITS)
    t = f"{unix_ms & _MS_MASK:012x}"
    # Version digit 7, variant digit from _VARIANT: 74 random bits.
    return f"{t[:8]}-{t[8:]}-7{h[:3]}-{_VARIANT[h[3]]}{h[4:7]}-{h[7:]}"


def random_hex_id() -> str:
    """32 random hex characters (128 bits of the kernel's CSPRNG, read from the buffer).

    Used for request ids: unique like a uuid4, and unlike a counter they say nothing about a
    process's request volume.
    """
    return _buffer.take(_ID_DIGITS)

"""Payload ids (buffered CSPRNG UUIDv4 text) and request ids (32 random hex digits)."""

from __future__ import annotations

import os
import re
import uuid

from shared.ids import random_hex_id, uuid4_str

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuid4_str_is_a_canonical_version_4_rfc_4122_uuid() -> None:
    for _ in range(2000):  # crosses several 4 KiB refills of the buffer
        text = uuid4_str()
        assert CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_uuid4_str_keeps_the_random_bits() -> None:
    # Every hex digit outside the fixed nibbles takes many values: the bytes are not reused
    # or zeroed (a stuck buffer offset would make all ids equal).
    ids = [uuid.UUID(uuid4_str()).hex for _ in range(512)]
    for position in range(32):
        if position == 12:  # the version nibble
            assert {h[position] for h in ids} == {"4"}
        elif position == 16:  # the variant nibble: 10xx
            assert {h[position] for h in ids} <= set("89ab")
            assert len({h[position] for h in ids}) == 4
        else:
            assert len({h[position] for h in ids}) >= 12, position


def test_100k_uuid4_str_are_unique() -> None:
    ids = {uuid4_str() for _ in range(100_000)}
    assert len(ids) == 100_000


def _child_ids(count: int) -> tuple[int, list[str]]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave without running any cleanup
        try:
            os.close(read_end)
            os.write(write_end, "\n".join(uuid4_str() for _ in range(count)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read():
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode().split("\n")


def test_a_forked_child_never_repeats_its_parents_next_ids() -> None:
    uuid4_str()  # the buffer holds unused random bytes at fork
    status, child = _child_ids(50)
    parent = [uuid4_str() for _ in range(50)]
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child) == 50
    assert all(CANONICAL.match(text) for text in child)
    assert not set(child) & set(parent)


def test_two_forked_children_get_different_ids() -> None:
    uuid4_str()
    _, first = _child_ids(20)
    _, second = _child_ids(20)
    assert not set(first) & set(second)


def test_request_ids_are_random_32_hex_characters() -> None:
    values = [random_hex_id() for _ in range(10_000)]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in values)  # the documented shape
    # Random throughout, no per-process prefix and counter (which would tell request volume).
    assert len({value[:16] for value in values}) == len(values)

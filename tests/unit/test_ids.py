"""Payload ids (buffered CSPRNG UUIDv7 text) and request ids (32 random hex digits)."""

from __future__ import annotations

import os
import re
import time
import uuid

from shared.ids import random_hex_id, uuid7_str

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NOW_MS = 1_764_547_200_123  # 2025-12-01T00:00:00.123Z


def _ms_of(text: str) -> int:
    return uuid.UUID(text).int >> 80


def test_uuid7_str_is_a_canonical_version_7_rfc_9562_uuid() -> None:
    for _ in range(2000):  # crosses several 4 KiB refills of the buffer
        text = uuid7_str(NOW_MS)
        assert CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_uuid7_str_starts_with_the_given_milliseconds() -> None:
    assert _ms_of(uuid7_str(NOW_MS)) == NOW_MS
    assert uuid7_str(NOW_MS).startswith("019ad735-847b-7")
    assert _ms_of(uuid7_str(0)) == 0
    assert _ms_of(uuid7_str(2**48 - 1)) == 2**48 - 1
    now = int(time.time() * 1000)
    assert _ms_of(uuid7_str(now)) == now


def test_later_milliseconds_sort_later_as_text_and_as_uuids() -> None:
    # What PostgreSQL's uuid ordering (bytewise) and a text sort both see: time order first.
    ids = [uuid7_str(NOW_MS + step) for step in (0, 1, 2, 1000, 86_400_000)]
    assert ids == sorted(ids)
    assert [uuid.UUID(i) for i in ids] == sorted(uuid.UUID(i) for i in ids)


def test_uuid7_str_keeps_the_random_bits() -> None:
    # Every hex digit outside the timestamp and the fixed nibbles takes many values: the bytes
    # are not reused or zeroed (a stuck buffer offset would make all ids of a millisecond equal).
    ids = [uuid.UUID(uuid7_str(NOW_MS)).hex for _ in range(512)]
    for position in range(32):
        values = {h[position] for h in ids}
        if position < 12:  # the milliseconds
            assert len(values) == 1, position
        elif position == 12:  # the version nibble
            assert values == {"7"}
        elif position == 16:  # the variant nibble: 10xx
            assert values <= set("89ab")
            assert len(values) == 4
        else:
            assert len(values) >= 12, position


def test_100k_uuid7_str_of_one_millisecond_are_unique() -> None:
    ids = {uuid7_str(NOW_MS) for _ in range(100_000)}
    assert len(ids) == 100_000


def _child_ids(count: int) -> tuple[int, list[str]]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave without running any cleanup
        try:
            os.close(read_end)
            os.write(write_end, "\n".join(uuid7_str(NOW_MS) for _ in range(count)).encode())
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
    uuid7_str(NOW_MS)  # the buffer holds unused random bytes at fork
    status, child = _child_ids(50)
    parent = [uuid7_str(NOW_MS) for _ in range(50)]
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child) == 50
    assert all(CANONICAL.match(text) for text in child)
    assert not set(child) & set(parent)


def test_two_forked_children_get_different_ids() -> None:
    uuid7_str(NOW_MS)
    _, first = _child_ids(20)
    _, second = _child_ids(20)
    assert not set(first) & set(second)


def test_request_ids_are_random_32_hex_characters() -> None:
    values = [random_hex_id() for _ in range(10_000)]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in values)  # the documented shape
    # Random throughout, no per-process prefix and counter (which would tell request volume).
    assert len({value[:16] for value in values}) == len(values)

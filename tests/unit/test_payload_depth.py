"""Deeply nested JSON payloads stay presentable: too deep for orjson to write back → text."""

from __future__ import annotations

import orjson

from shared.payloads import MAX_JSON_DEPTH, decode_payload, preview, storable_json


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    """`depth` levels of nesting."""
    return open_ * depth + close * depth


def test_json_up_to_the_depth_limit_is_decoded() -> None:
    value = decode_payload(nested(MAX_JSON_DEPTH), "application/json")
    assert isinstance(value, list)
    # With room for the API's own wrapping (page, items, delivery object).
    orjson.dumps({"items": [{"payload": value}]})


def test_deeper_json_is_kept_as_text_and_can_be_written_back() -> None:
    for body in (
        nested(MAX_JSON_DEPTH + 1),
        nested(300),
        nested(1000),
        b'{"a":' * 300 + b"1" + b"}" * 300,
        b'[{"a": ' + nested(500) + b"}]",
    ):
        value = decode_payload(body, "application/json")
        assert value == body.decode()
        assert storable_json(value) == value
        assert preview(value)


def test_many_brackets_that_are_not_deep_are_still_json() -> None:
    wide = orjson.dumps([[i] for i in range(1000)])
    assert decode_payload(wide, None) == [[i] for i in range(1000)]

"""The media type of a Content-Type header value."""

from __future__ import annotations

import pytest

from shared.headers import media_type


def test_no_header_means_no_media_type() -> None:
    assert media_type(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("application/json;charset=utf-8", "application/json"),
        ("APPLICATION/JSON; Charset=UTF-8", "application/json"),
        ("Text/Plain", "text/plain"),
        ("  application/x-www-form-urlencoded  ", "application/x-www-form-urlencoded"),
        ("\tapplication/json \t; charset=utf-8", "application/json"),
        ('multipart/form-data; boundary="a;b"', "multipart/form-data"),
        ("application/vnd.api+json", "application/vnd.api+json"),
    ],
)
def test_media_type_is_lower_case_without_parameters_or_whitespace(
    value: str, expected: str
) -> None:
    assert media_type(value) == expected


def test_an_empty_content_type_is_no_media_type() -> None:
    assert media_type("") is None
    assert media_type(" ; charset=utf-8") is None


def test_header_name_decisions_are_remembered_up_to_a_cap() -> None:
    from shared import headers as module

    for n in range(module._MAX_DECIDED + 100):
        module.kept_headers([(f"X-Random-{n}", "v")], frozenset())
    assert len(module._DECIDED) <= module._MAX_DECIDED
    # Past the cap a name is still decided correctly, just not remembered.
    assert module.kept_headers([("X-Late-Secret-Token", "v"), ("X-Late", "v")], frozenset()) == {
        "x-late": "v"
    }

"""Building blocks of the request models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# RFC 7230 `token`: the characters an HTTP header name may contain.
HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def reject_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail the insert (500)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


NoNul = AfterValidator(reject_nul)
Name = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200),
    NoNul,
]
Description = Annotated[str, StringConstraints(strict=True, max_length=10_000), NoNul]


class RequestModel(BaseModel):
    """A JSON request body: unknown fields and loose types (`"1"` for 1) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def reject_null(value: Any) -> Any:
    """A `mode="before"` check for PATCH fields that may be omitted but not set to null."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def id_text(value: Any) -> str | None:
    """An id column as JSON text (orjson does not serialise asyncpg's own UUID type)."""
    return None if value is None else str(value)

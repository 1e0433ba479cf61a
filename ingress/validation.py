"""Parsing request input: JSON bodies into pydantic models, paging and ids. Bad input → 422."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ingress.keys import SETTINGS
from shared.errors import DomainError, NotFound, PayloadTooLarge, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def _field_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


def body_read_timeout() -> DomainError:
    """The answer to a sender too slow to finish its body (the connection is then closed)."""
    return DomainError("Timed out reading the request body.", headers={"Connection": "close"})


async def read_body(request: web.Request) -> bytes:
    """The whole body: 413 over the app's size cap, an error when the sender is too slow."""
    declared = request.content_length
    if declared is not None and declared > request.client_max_size:
        # Refuse at once: waiting for a body we would refuse anyway holds the connection.
        raise PayloadTooLarge(f"Payload exceeds {request.client_max_size} bytes.")
    try:
        async with asyncio.timeout(request.app[SETTINGS].ingress_read_timeout_seconds):
            return await request.read()
    except TimeoutError:
        # aiohttp has no body read timeout: without this a trickling client holds a handler.
        raise body_read_timeout() from None


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The JSON body validated as `model`; 422 with field details when it is not."""
    raw = await read_body(request)
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise ValidationFailed(
            [{"loc": ["body"], "msg": "Body is not valid JSON.", "type": "json_invalid"}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(_field_errors(error)) from None


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """A path segment that must be an id; a malformed one cannot exist, so 404."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound("Not found.") from None


@dataclass(frozen=True, slots=True)
class Page:
    """`limit` (1..200, default 50) and `offset` (>= 0) of a list request."""

    limit: int
    offset: int


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed(
            [
                {
                    "loc": ["query", name],
                    "msg": f"must be an integer from {low} to {high}",
                    "type": "value_error",
                }
            ]
        )
    return value


def page_params(request: web.Request) -> Page:
    """The paging parameters of a list request; 422 when out of range."""
    return Page(
        limit=_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(request, "offset", 0, 0, 2**31 - 1),
    )


def page_body(items: list[Any], total: int, page: Page) -> dict[str, Any]:
    """The contract's list shape."""
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


def page_json(items_json: str, total: int, page: Page) -> bytes:
    """The list shape around items already encoded as JSON (comma-joined, no brackets)."""
    return b'{"items":[%s],"total":%d,"limit":%d,"offset":%d}' % (
        items_json.encode(),
        total,
        page.limit,
        page.offset,
    )


def _json_default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not serialize natively.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with orjson (UUIDs and datetimes included)."""
    body = orjson.dumps(data, default=_json_default)
    return web.Response(status=status, body=body, content_type="application/json")

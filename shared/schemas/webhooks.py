"""Webhooks: request bodies and the JSON shape. The secret is write-only."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any

import asyncpg
from pydantic import AfterValidator, Field, StringConstraints, field_validator

from shared.queries.webhooks import endpoint_path, endpoint_url
from shared.schemas.common import (
    HTTP_TOKEN,
    Description,
    NoNul,
    RequestModel,
    id_text,
    reject_null,
)
from shared.signatures import SCHEMES

MAX_GRACE_SECONDS = 7 * 86_400
DEFAULT_GRACE_SECONDS = 86_400


def _header_name(value: str) -> str:
    if not HTTP_TOKEN.fullmatch(value):
        raise ValueError("must be an HTTP header name (RFC 7230 token characters only)")
    return value


def _scheme(value: str) -> str:
    if value not in SCHEMES:
        raise ValueError(f"must be one of {', '.join(sorted(SCHEMES))}")
    return value


HeaderName = Annotated[
    str, StringConstraints(strict=True, max_length=100), AfterValidator(_header_name)
]
Scheme = Annotated[str, StringConstraints(strict=True), AfterValidator(_scheme)]
Secret = Annotated[str, StringConstraints(strict=True, max_length=4096), NoNul]
# JSON has no UUID type: an id arrives as a string, which strict mode alone would refuse.
AgentId = Annotated[uuid.UUID, Field(strict=False)]
Tolerance = Annotated[int, Field(ge=1, le=86_400)]


def check_secret_fits(scheme: str | None, secret: str | None) -> None:
    """Raise ValueError when `secret` cannot work with `scheme`."""
    # A standard-webhooks secret is base64 key material (after `whsec_`); one that does not
    # decode would make every delivery fail its signature check, so refuse it up front.
    if scheme != "standard-webhooks" or not secret:
        return
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("a standard-webhooks secret must be base64 (optionally after 'whsec_')")


class WebhookCreate(RequestModel):
    """`POST /boards/{board_id}/webhooks`."""

    description: Description = ""
    enabled: bool = True
    agent_id: AgentId | None = None
    secret: Secret | None = None
    signature_header: HeaderName | None = None
    signature_scheme: Scheme = "hmac-sha256"
    timestamp_tolerance_seconds: Tolerance = 300


class WebhookPatch(RequestModel):
    """`PATCH …/webhooks/{id}`: any subset; `secret` "" or null clears it, as null clears
    `signature_header` and `agent_id`."""

    description: Description | None = None
    enabled: bool | None = None
    agent_id: AgentId | None = None
    secret: Secret | None = None
    signature_header: HeaderName | None = None
    signature_scheme: Scheme | None = None
    timestamp_tolerance_seconds: Tolerance | None = None

    _not_null = field_validator(
        "description", "enabled", "signature_scheme", "timestamp_tolerance_seconds", mode="before"
    )(reject_null)

    def changes(self) -> dict[str, object]:
        """The fields the client sent, by column name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class SecretRotation(RequestModel):
    """`POST …/webhooks/{id}/rotate-secret`: the old secret stays valid for `grace_seconds`."""

    secret: Annotated[Secret, StringConstraints(min_length=1)]
    grace_seconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)] = DEFAULT_GRACE_SECONDS


def webhook_json(row: asyncpg.Record, base_url: str | None) -> dict[str, Any]:
    """A webhook as the API shows it: `has_secret`, never the secret."""
    board_id, webhook_id = str(row["board_id"]), str(row["id"])
    return {
        "id": webhook_id,
        "board_id": board_id,
        "agent_id": id_text(row["agent_id"]),
        "description": row["description"],
        "enabled": row["enabled"],
        "has_secret": row["has_secret"],
        "signature_header": row["signature_header"],
        "signature_scheme": row["signature_scheme"],
        "timestamp_tolerance_seconds": row["timestamp_tolerance_seconds"],
        "previous_secret_expires_at": row.get("previous_secret_expires_at"),
        "endpoint_path": endpoint_path(board_id, webhook_id),
        "endpoint_url": endpoint_url(base_url, board_id, webhook_id),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }

"""Boards: request bodies and the JSON shape."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import field_validator

from shared.schemas.common import Description, Name, RequestModel, id_text, reject_null


class BoardCreate(RequestModel):
    """`POST /boards`."""

    name: Name
    description: Description = ""


class BoardPatch(RequestModel):
    """`PATCH /boards/{id}`: any subset of the fields."""

    name: Name | None = None
    description: Description | None = None

    _not_null = field_validator("name", "description", mode="before")(reject_null)


def board_json(row: asyncpg.Record) -> dict[str, Any]:
    """A board as the API shows it."""
    return {
        "id": id_text(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }

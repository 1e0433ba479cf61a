"""The bulk replay request body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, model_validator

from shared.queries.replay import ReplayFilter
from shared.schemas.common import RequestModel


def _uuid(value: str) -> str:
    uuid.UUID(value)  # ValueError → 422 naming the field
    return value


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date-time; one without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _instant(value: str) -> str:
    parse_instant(value)
    return value


Id = Annotated[str, AfterValidator(_uuid)]
Instant = Annotated[str, AfterValidator(_instant)]


class ReplayRequest(RequestModel):
    """`POST /api/v1/replay`: which stored deliveries to replay; `dry_run` only counts them."""

    board_id: Id | None = None
    webhook_id: Id | None = None
    status: Literal["processed", "failed"] | None = None
    received_after: Instant | None = None
    received_before: Instant | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ReplayRequest:
        after, before = self.received_after, self.received_before
        if after and before and parse_instant(after) >= parse_instant(before):
            raise ValueError("received_after must be before received_before")
        return self

    def to_filter(self) -> ReplayFilter:
        """The query filter this request describes."""
        return ReplayFilter(
            board_id=uuid.UUID(self.board_id) if self.board_id else None,
            webhook_id=uuid.UUID(self.webhook_id) if self.webhook_id else None,
            status=self.status,
            received_after=parse_instant(self.received_after) if self.received_after else None,
            received_before=(parse_instant(self.received_before) if self.received_before else None),
        )

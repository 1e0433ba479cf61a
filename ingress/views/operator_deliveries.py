"""Operator API: a webhook's stored deliveries (`…/webhooks/{webhook_id}/payloads…`).

A delivery accepted by the ingress but not yet stored by a worker is not here yet (404).
"""

from __future__ import annotations

from aiohttp import web

from ingress.auth.user import require_user
from ingress.keys import DB_POOL
from ingress.validation import json_response, page_body, page_params, path_uuid
from ingress.views.operator_webhooks import WEBHOOK_NOT_FOUND
from shared.errors import NotFound, ValidationFailed
from shared.queries import deliveries as queries
from shared.queries.attempts import list_attempts
from shared.queries.webhooks import webhook_on_board
from shared.schemas.deliveries import DELIVERY_STATUSES, attempt_json, delivery_json


def _status_filter(request: web.Request) -> str | None:
    status = request.query.get("status") or None
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed(
            [
                {
                    "loc": ["query", "status"],
                    "msg": f"must be one of {', '.join(sorted(DELIVERY_STATUSES))}",
                    "type": "value_error",
                }
            ]
        )
    return status


async def list_deliveries(request: web.Request) -> web.Response:
    """`GET …/payloads?status=&limit=&offset=` → newest first."""
    await require_user(request)
    board_id, webhook_id = path_uuid(request, "board_id"), path_uuid(request, "webhook_id")
    status = _status_filter(request)
    page = page_params(request)
    async with request.app[DB_POOL].acquire() as conn:
        if not await webhook_on_board(conn, board_id, webhook_id):
            raise NotFound(WEBHOOK_NOT_FOUND)
        rows, total = await queries.list_deliveries(
            conn, board_id, webhook_id, status=status, limit=page.limit, offset=page.offset
        )
    return json_response(page_body([delivery_json(r) for r in rows], total, page))


async def get_delivery(request: web.Request) -> web.Response:
    """`GET …/payloads/{payload_id}`, with its attempt history (tries and replays)."""
    await require_user(request)
    board_id, webhook_id = path_uuid(request, "board_id"), path_uuid(request, "webhook_id")
    payload_id = path_uuid(request, "payload_id")
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.get_delivery(conn, board_id, webhook_id, payload_id)
        if row is None:
            raise NotFound("Delivery not found.")
        history = await list_attempts(conn, payload_id)
    return json_response({**delivery_json(row), "history": [attempt_json(a) for a in history]})

"""Operator API: a board's webhooks (`/api/v1/boards/{board_id}/webhooks…`).

Every write moves `webhooks.updated_at` (a trigger), which each ingress process polls: a change
holds for ingest within about a second. The secret is write-only.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
from aiohttp import web

from ingress.auth.user import require_user
from ingress.keys import DB_POOL, SETTINGS
from ingress.validation import json_response, page_body, page_params, parse_body, path_uuid
from ingress.views.operator_boards import BOARD_NOT_FOUND
from shared.db import Conn
from shared.errors import NotFound, ValidationFailed
from shared.queries import webhooks as queries
from shared.queries.agents import agent_on_board
from shared.queries.boards import board_exists
from shared.schemas.webhooks import (
    SecretRotation,
    WebhookCreate,
    WebhookPatch,
    check_secret_fits,
    webhook_json,
)

log = logging.getLogger(__name__)
WEBHOOK_NOT_FOUND = "Webhook not found."


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [field], "msg": message, "type": "value_error"}])


async def _check_agent(conn: Conn, board_id: uuid.UUID, agent_id: uuid.UUID | None) -> None:
    if agent_id is not None and not await agent_on_board(conn, board_id, agent_id):
        raise _field_error("agent_id", "must be an agent of this board")


def _check_secret(scheme: str, secret: str | None) -> None:
    try:
        check_secret_fits(scheme, secret)
    except ValueError as error:
        raise _field_error("secret", str(error)) from None


def _ids(request: web.Request) -> tuple[uuid.UUID, uuid.UUID]:
    return path_uuid(request, "board_id"), path_uuid(request, "webhook_id")


def _answer(request: web.Request, row: asyncpg.Record, status: int = 200) -> web.Response:
    return json_response(webhook_json(row, request.app[SETTINGS].base_url), status=status)


async def create_webhook(request: web.Request) -> web.Response:
    """`POST …/webhooks` → 201 webhook; it takes deliveries at once."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    body = await parse_body(request, WebhookCreate)
    _check_secret(body.signature_scheme, body.secret)
    try:
        async with request.app[DB_POOL].acquire() as conn, conn.transaction():
            if not await board_exists(conn, board_id):
                raise NotFound(BOARD_NOT_FOUND)
            await _check_agent(conn, board_id, body.agent_id)
            row = await queries.create_webhook(
                conn,
                board_id=board_id,
                description=body.description,
                enabled=body.enabled,
                agent_id=body.agent_id,
                secret=body.secret,
                signature_header=body.signature_header,
                signature_scheme=body.signature_scheme,
                timestamp_tolerance_seconds=body.timestamp_tolerance_seconds,
            )
    except asyncpg.ForeignKeyViolationError:  # the board was deleted meanwhile
        raise NotFound(BOARD_NOT_FOUND) from None
    log.info("webhook %s created on board %s", row["id"], board_id)
    return _answer(request, row, status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    """`GET …/webhooks` → a page of webhooks."""
    await require_user(request)
    board_id = path_uuid(request, "board_id")
    page = page_params(request)
    base_url = request.app[SETTINGS].base_url
    async with request.app[DB_POOL].acquire() as conn:
        if not await board_exists(conn, board_id):
            raise NotFound(BOARD_NOT_FOUND)
        rows, total = await queries.list_webhooks(conn, board_id, page.limit, page.offset)
    return json_response(page_body([webhook_json(r, base_url) for r in rows], total, page))


async def get_webhook(request: web.Request) -> web.Response:
    """`GET …/webhooks/{webhook_id}`."""
    await require_user(request)
    board_id, webhook_id = _ids(request)
    async with request.app[DB_POOL].acquire() as conn:
        row = await queries.get_webhook(conn, board_id, webhook_id)
    if row is None:
        raise NotFound(WEBHOOK_NOT_FOUND)
    return _answer(request, row)


async def update_webhook(request: web.Request) -> web.Response:
    """`PATCH …/webhooks/{webhook_id}`: any subset of fields."""
    await require_user(request)
    board_id, webhook_id = _ids(request)
    body = await parse_body(request, WebhookPatch)
    changes = body.changes()
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        current = await queries.get_webhook(conn, board_id, webhook_id)
        if current is None:
            raise NotFound(WEBHOOK_NOT_FOUND)
        if "agent_id" in changes:
            await _check_agent(conn, board_id, body.agent_id)
        scheme = body.signature_scheme or current["signature_scheme"]
        if "secret" in changes:
            _check_secret(scheme, body.secret)
        elif "signature_scheme" in changes:  # the kept secret must suit the new scheme
            _check_secret(scheme, await queries.get_webhook_secret(conn, webhook_id))
        row = await queries.update_webhook(conn, board_id, webhook_id, changes)
    if row is None:  # deleted meanwhile
        raise NotFound(WEBHOOK_NOT_FOUND)
    log.info("webhook %s updated (%s)", webhook_id, ", ".join(sorted(changes)) or "nothing")
    return _answer(request, row)


async def rotate_secret(request: web.Request) -> web.Response:
    """`POST …/webhooks/{webhook_id}/rotate-secret`: new secret; the old one for a grace period."""
    await require_user(request)
    board_id, webhook_id = _ids(request)
    body = await parse_body(request, SecretRotation)
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        current = await queries.get_webhook(conn, board_id, webhook_id)
        if current is None:
            raise NotFound(WEBHOOK_NOT_FOUND)
        _check_secret(current["signature_scheme"], body.secret)
        row = await queries.rotate_webhook_secret(
            conn, board_id, webhook_id, body.secret, body.grace_seconds
        )
    if row is None:
        raise NotFound(WEBHOOK_NOT_FOUND)
    log.info("webhook %s secret rotated (grace %ss)", webhook_id, body.grace_seconds)
    return _answer(request, row)


async def delete_webhook(request: web.Request) -> web.Response:
    """`DELETE …/webhooks/{webhook_id}` → 204; ingest answers 404 within seconds."""
    await require_user(request)
    board_id, webhook_id = _ids(request)
    async with request.app[DB_POOL].acquire() as conn:
        deleted = await queries.delete_webhook(conn, board_id, webhook_id)
    if not deleted:
        raise NotFound(WEBHOOK_NOT_FOUND)
    log.info("webhook %s deleted", webhook_id)
    return web.Response(status=204)

"""Task and comment routes, served twice: to agents under `/api/v1/agent` and, shared by
operators and agents, under `/api/v1` (user auth first, then the bearer as an agent token).

Operators may do anything on any board. An agent works on its own board only (403 elsewhere);
what its updates may change is decided by `shared.task_rules`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from ingress.auth.agent import require_agent
from ingress.auth.token_memory import AgentIdentity
from ingress.auth.user import User, resolve_user
from ingress.keys import DB_POOL, TASK_PAGES
from ingress.validation import (
    json_response,
    page_body,
    page_json,
    page_params,
    parse_body,
    path_uuid,
)
from ingress.views.task_models import CommentCreate, TaskCreate, TaskUpdate
from shared.db import Conn
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.queries import comments as comment_queries
from shared.queries import tasks as task_queries
from shared.queries.agents import agent_on_board
from shared.task_rules import agent_update, parse_statuses, user_update

Caller = User | AgentIdentity
Resolver = Callable[[web.Request], Awaitable[Caller]]
Core = Callable[[web.Request, Caller, uuid.UUID], Awaitable[web.Response]]

_BOARD_FORBIDDEN = "Agent does not belong to this board."
_LEAD_ONLY = "Only the board lead may create tasks."


async def resolve_caller(request: web.Request) -> Caller:
    """An operator if user auth succeeds, else the agent of the token (rate-limited); 401."""
    user = await resolve_user(request)
    if user is not None:
        return user
    return await require_agent(request)


async def _board_exists(conn: Conn, board_id: uuid.UUID) -> bool:
    return await conn.fetchval("SELECT 1 FROM boards WHERE id = $1", board_id) is not None


async def _check_board(conn: Conn, caller: Caller, board_id: uuid.UUID) -> None:
    if isinstance(caller, AgentIdentity):
        if caller.board_id != board_id:
            raise Forbidden(_BOARD_FORBIDDEN)
    elif not await _board_exists(conn, board_id):
        raise NotFound("Board not found.")


async def _check_assignee(conn: Conn, board_id: uuid.UUID, agent_id: uuid.UUID | None) -> None:
    if agent_id is not None and not await agent_on_board(conn, board_id, agent_id):
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "assigned_agent_id"],
                    "msg": "must be an agent of this board",
                    "type": "value_error",
                }
            ]
        )


def _query_flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValidationFailed(
        [{"loc": ["query", name], "msg": "must be true or false", "type": "bool_parsing"}]
    )


def _query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(
            [{"loc": ["query", name], "msg": "must be a UUID", "type": "uuid_parsing"}]
        ) from None


def _statuses(request: web.Request) -> list[str] | None:
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    try:
        return parse_statuses(raw)
    except ValueError as error:
        raise ValidationFailed(
            [{"loc": ["query", "status"], "msg": str(error), "type": "enum"}]
        ) from None


async def list_tasks(request: web.Request, caller: Caller, board_id: uuid.UUID) -> web.Response:
    """A page of the board's tasks, newest first, filtered by status and assignment."""
    pages = request.app[TASK_PAGES]
    query = request.query_string  # a kept page exists only for a query string that validated
    if isinstance(caller, AgentIdentity):
        body = pages.get(board_id, query)  # the agent's board was checked by `_authenticated`
        if body is not None:
            return _json_body(body)
    statuses = _statuses(request)
    assigned = _query_uuid(request, "assigned_agent_id")
    unassigned = _query_flag(request, "unassigned")
    page = page_params(request)
    mark = pages.mark()
    async with request.app[DB_POOL].acquire() as conn:
        await _check_board(conn, caller, board_id)  # an operator's board may be gone: 404
        body = pages.get(board_id, query)
        if body is None:
            items, total = await task_queries.task_page_json(
                conn,
                board_id,
                statuses=statuses,
                assigned_agent_id=assigned,
                unassigned=unassigned,
                limit=page.limit,
                offset=page.offset,
            )
            body = page_json(items, total, page)
            pages.put(board_id, query, body, mark)
    return _json_body(body)


def _json_body(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


@contextlib.asynccontextmanager
async def _changing_tasks(request: web.Request, board_id: uuid.UUID) -> AsyncIterator[None]:
    """Drop the board's kept task-list pages once the enclosed writes commit (or fail), so
    this process's next list shows them; other processes learn of them by notification."""
    try:
        yield
    finally:
        request.app[TASK_PAGES].invalidate(board_id)


async def create_task(request: web.Request, caller: Caller, board_id: uuid.UUID) -> web.Response:
    """Create a task (operators, or the board's lead agent)."""
    body = await parse_body(request, TaskCreate)
    async with _changing_tasks(request, board_id), request.app[DB_POOL].acquire() as conn:
        await _check_board(conn, caller, board_id)
        if isinstance(caller, AgentIdentity) and not caller.is_board_lead:
            raise Forbidden(_LEAD_ONLY)
        await _check_assignee(conn, board_id, body.assigned_agent_id)
        row = await task_queries.create_task(conn, board_id, **body.model_dump())
    return json_response(dict(row), status=201)


async def update_task(request: web.Request, caller: Caller, board_id: uuid.UUID) -> web.Response:
    """Change a task's fields; an inline `comment` is stored in the same transaction."""
    task_id = path_uuid(request, "task_id")
    body = await parse_body(request, TaskUpdate)
    requested = body.requested()
    async with (
        _changing_tasks(request, board_id),
        request.app[DB_POOL].acquire() as conn,
        conn.transaction(),
    ):
        await _check_board(conn, caller, board_id)
        task = await task_queries.lock_task(conn, board_id, task_id)
        if task is None:
            raise NotFound("Task not found.")
        changes: dict[str, Any]
        if isinstance(caller, AgentIdentity):
            changes = agent_update(
                caller.id,
                is_lead=caller.is_board_lead,
                assignee=task["assigned_agent_id"],
                requested=requested,
            )
        else:
            changes = user_update(requested)
        if "assigned_agent_id" in requested:
            await _check_assignee(conn, board_id, requested["assigned_agent_id"])
        row = await task_queries.update_task(conn, task_id, changes) if changes else task
        if body.comment is not None:
            author = caller.id if isinstance(caller, AgentIdentity) else None
            await comment_queries.create_comment(conn, task_id, author, body.comment)
    return json_response(dict(row))


async def _task_of_board(conn: Conn, board_id: uuid.UUID, task_id: uuid.UUID) -> asyncpg.Record:
    task = await task_queries.get_task(conn, board_id, task_id)
    if task is None:
        raise NotFound("Task not found.")
    return task


async def list_comments(request: web.Request, caller: Caller, board_id: uuid.UUID) -> web.Response:
    """A page of a task's comments, oldest first."""
    task_id = path_uuid(request, "task_id")
    page = page_params(request)
    async with request.app[DB_POOL].acquire() as conn:
        await _check_board(conn, caller, board_id)
        await _task_of_board(conn, board_id, task_id)
        rows, total = await comment_queries.list_comments(
            conn, task_id, limit=page.limit, offset=page.offset
        )
    return json_response(page_body([dict(r) for r in rows], total, page))


async def create_comment(request: web.Request, caller: Caller, board_id: uuid.UUID) -> web.Response:
    """Comment on a task (`agent_id` is the commenting agent, null for an operator)."""
    task_id = path_uuid(request, "task_id")
    body = await parse_body(request, CommentCreate)
    async with _changing_tasks(request, board_id), request.app[DB_POOL].acquire() as conn:
        await _check_board(conn, caller, board_id)
        await _task_of_board(conn, board_id, task_id)
        author = caller.id if isinstance(caller, AgentIdentity) else None
        row = await comment_queries.create_comment(conn, task_id, author, body.message)
    return json_response(dict(row), status=201)


def _authenticated(
    resolve: Resolver, core: Core
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        caller = await resolve(request)  # authenticate before reading anything else
        board_id = path_uuid(request, "board_id")
        if isinstance(caller, AgentIdentity) and caller.board_id != board_id:
            raise Forbidden(_BOARD_FORBIDDEN)  # before the body: 403, never a 422 or 404
        return await core(request, caller, board_id)

    handler.__doc__ = core.__doc__
    return handler


def _routes(prefix: str, resolve: Resolver) -> list[web.RouteDef]:
    tasks = f"{prefix}/boards/{{board_id}}/tasks"
    task = f"{tasks}/{{task_id}}"
    return [
        web.get(tasks, _authenticated(resolve, list_tasks)),
        web.post(tasks, _authenticated(resolve, create_task)),
        web.patch(task, _authenticated(resolve, update_task)),
        web.get(f"{task}/comments", _authenticated(resolve, list_comments)),
        web.post(f"{task}/comments", _authenticated(resolve, create_comment)),
    ]


# Agents only (every request counts against the agent-auth limiter unless remembered).
AGENT_ROUTES = _routes("/api/v1/agent", require_agent)
# Operators and agents (user auth first; the bearer is tried as an agent token only after).
MIXED_ROUTES = _routes("/api/v1", resolve_caller)

"""Tasks of a board."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Conn

TASK_COLUMNS = (
    "id, board_id, title, description, status, priority, assigned_agent_id, payload_id,"
    " created_at, updated_at"
)
# The only columns an update may set; keys of `changes` are checked against it.
UPDATABLE = ("title", "description", "status", "priority", "assigned_agent_id")


def _conditions(
    board_id: uuid.UUID,
    statuses: list[str] | None,
    assigned_agent_id: uuid.UUID | None,
    unassigned: bool | None,
) -> tuple[str, list[Any]]:
    where = ["board_id = $1"]
    args: list[Any] = [board_id]
    if statuses:
        args.append(statuses)
        where.append(f"status = ANY(${len(args)}::text[])")
    if assigned_agent_id is not None:
        args.append(assigned_agent_id)
        where.append(f"assigned_agent_id = ${len(args)}")
    if unassigned is True:
        where.append("assigned_agent_id IS NULL")
    elif unassigned is False:
        where.append("assigned_agent_id IS NOT NULL")
    return " AND ".join(where), args


async def list_tasks(
    conn: Conn,
    board_id: uuid.UUID,
    *,
    statuses: list[str] | None = None,
    assigned_agent_id: uuid.UUID | None = None,
    unassigned: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of a board's tasks, newest first, and how many match in all."""
    condition, args = _conditions(board_id, statuses, assigned_agent_id, unassigned)
    # One round trip for the page and the total (agents poll this): the window count is
    # computed before LIMIT. Only a page past the end needs a separate count.
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS}, count(*) OVER () AS total_matching FROM tasks WHERE {condition}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    if rows:
        total = int(rows[0]["total_matching"])
    elif offset == 0:
        total = 0
    else:
        total = int(await conn.fetchval(f"SELECT count(*) FROM tasks WHERE {condition}", *args))
    return [_without_total(row) for row in rows], total


def _without_total(row: asyncpg.Record) -> dict[str, Any]:
    task = dict(row)
    del task["total_matching"]
    return task


# A timestamp as the API writes it everywhere else (orjson's ISO 8601 of a UTC datetime):
# microseconds only when not zero, always six digits, `+00:00`.
def _iso(column: str) -> str:
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_part('microseconds', {column})::bigint % 1000000 = 0 THEN ''"
        f" ELSE to_char({utc}, '.US') END || '+00:00'"
    )


_TASK_JSON_COLUMNS = (
    "p.id, p.board_id, p.title, p.description, p.status, p.priority, p.assigned_agent_id,"
    f" p.payload_id, {_iso('p.created_at')} AS created_at, {_iso('p.updated_at')} AS updated_at"
)


async def task_page_json(
    conn: Conn,
    board_id: uuid.UUID,
    *,
    statuses: list[str] | None = None,
    assigned_agent_id: uuid.UUID | None = None,
    unassigned: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[str, int]:
    """`list_tasks` rendered by PostgreSQL: the page's task objects as compact JSON joined by
    commas (no brackets; byte for byte what orjson writes for them), and the total."""
    condition, args = _conditions(board_id, statuses, assigned_agent_id, unassigned)
    # row_to_json writes compact JSON, key order as selected: the same bytes orjson writes.
    row = await conn.fetchrow(
        "SELECT coalesce(string_agg(row_to_json(j)::text, ',' ORDER BY p.created_at DESC,"
        " p.id DESC), ''), coalesce(max(p.total_matching), 0)"
        f" FROM (SELECT {TASK_COLUMNS}, count(*) OVER () AS total_matching FROM tasks"
        f" WHERE {condition} ORDER BY created_at DESC, id DESC"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}) p,"
        f" LATERAL (SELECT {_TASK_JSON_COLUMNS}) j",
        *args,
        limit,
        offset,
    )
    assert row is not None
    items: str = row[0]
    total = int(row[1])
    if not items and offset > 0:
        total = int(await conn.fetchval(f"SELECT count(*) FROM tasks WHERE {condition}", *args))
    return items, total


async def create_task(
    conn: Conn,
    board_id: uuid.UUID,
    *,
    title: str,
    description: str = "",
    status: str = "inbox",
    priority: str = "medium",
    assigned_agent_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    """Insert a task and return it."""
    row = await conn.fetchrow(
        "INSERT INTO tasks (id, board_id, title, description, status, priority,"
        f" assigned_agent_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TASK_COLUMNS}",
        uuid.uuid4(),
        board_id,
        title,
        description,
        status,
        priority,
        assigned_agent_id,
    )
    assert row is not None
    return row


async def lock_task(conn: Conn, board_id: uuid.UUID, task_id: uuid.UUID) -> asyncpg.Record | None:
    """A task of the board, locked until the transaction ends (so claims serialize)."""
    return await conn.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND board_id = $2 FOR UPDATE",
        task_id,
        board_id,
    )


async def get_task(conn: Conn, board_id: uuid.UUID, task_id: uuid.UUID) -> asyncpg.Record | None:
    """A task of the board, or None."""
    return await conn.fetchrow(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND board_id = $2", task_id, board_id
    )


async def update_task(conn: Conn, task_id: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    """Apply `changes` (keys from UPDATABLE) and return the task."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    columns = [c for c in UPDATABLE if c in changes]
    sets = [f"{column} = ${i}" for i, column in enumerate(columns, start=2)]
    sets.append("updated_at = now()")
    row = await conn.fetchrow(
        f"UPDATE tasks SET {', '.join(sets)} WHERE id = $1 RETURNING {TASK_COLUMNS}",
        task_id,
        *(changes[c] for c in columns),
    )
    assert row is not None
    return row

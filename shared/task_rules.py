"""What a caller's task update may change (pure; no I/O)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from shared.errors import Forbidden

TaskStatus = Literal["inbox", "in_progress", "review", "done"]
TASK_STATUSES: tuple[str, ...] = ("inbox", "in_progress", "review", "done")
# Statuses that mean "someone works on it" take the caller; the others hand the task back.
CLAIMING = frozenset({"in_progress", "done"})
RELEASING = frozenset({"inbox", "review"})
NON_LEAD_FIELDS = frozenset({"status", "comment"})

FIELD_FORBIDDEN = "task_update_field_forbidden"
ASSIGNEE_MISMATCH = "task_assignee_mismatch"


def parse_statuses(raw: str) -> list[str]:
    """A comma list of statuses; ValueError naming the first unknown one."""
    statuses = [part.strip() for part in raw.split(",") if part.strip()]
    for status in statuses:
        if status not in TASK_STATUSES:
            raise ValueError(
                f"unknown status {status!r}; expected one of {', '.join(TASK_STATUSES)}"
            )
    return statuses


def agent_update(
    agent_id: uuid.UUID,
    *,
    is_lead: bool,
    assignee: uuid.UUID | None,
    requested: dict[str, Any],
) -> dict[str, Any]:
    """The column changes an agent's PATCH makes; Forbidden when it may not make them.

    A non-lead agent may send only `status` and `comment`, and only on a task that is
    unassigned or its own. A lead may change any field of any task of its board. Moving to
    in_progress/done assigns the caller and to inbox/review unassigns, unless the request
    names `assigned_agent_id` itself (leads only).
    """
    if not is_lead:
        if set(requested) - NON_LEAD_FIELDS:
            raise Forbidden(FIELD_FORBIDDEN)
        if assignee is not None and assignee != agent_id:
            raise Forbidden(ASSIGNEE_MISMATCH)
    changes = {k: v for k, v in requested.items() if k != "comment"}
    status = requested.get("status")
    if status is not None and "assigned_agent_id" not in requested:
        if status in CLAIMING:
            changes["assigned_agent_id"] = agent_id
        elif status in RELEASING:
            changes["assigned_agent_id"] = None
    return changes


def user_update(requested: dict[str, Any]) -> dict[str, Any]:
    """The column changes an operator's PATCH makes: exactly the fields sent."""
    return {k: v for k, v in requested.items() if k != "comment"}


def truncate_text(text: str, max_chars: int | None) -> tuple[str, bool]:
    """`text` cut to at most `max_chars` characters ending in `...` when cut, and whether it was."""
    if max_chars is None or len(text) <= max_chars:
        return text, False
    return text[: max(max_chars - 3, 0)] + "...", True

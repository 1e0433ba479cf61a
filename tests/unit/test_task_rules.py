"""What agents' and operators' task updates may change."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import Forbidden
from shared.task_rules import agent_update, parse_statuses, truncate_text, user_update

ME, OTHER = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("status", "assignee"), [("in_progress", ME), ("done", ME), ("inbox", None), ("review", None)]
)
def test_status_moves_claim_or_release(status: str, assignee: uuid.UUID | None) -> None:
    changes = agent_update(ME, is_lead=False, assignee=None, requested={"status": status})
    assert changes == {"status": status, "assigned_agent_id": assignee}


def test_comment_is_not_a_column_change() -> None:
    changes = agent_update(ME, is_lead=False, assignee=ME, requested={"comment": "hi"})
    assert changes == {}


def test_non_lead_may_not_touch_another_agents_task() -> None:
    with pytest.raises(Forbidden) as caught:
        agent_update(ME, is_lead=False, assignee=OTHER, requested={"status": "done"})
    assert caught.value.detail == "task_assignee_mismatch"


@pytest.mark.parametrize("field", ["title", "description", "priority", "assigned_agent_id"])
def test_non_lead_may_change_only_status_and_comment(field: str) -> None:
    with pytest.raises(Forbidden) as caught:
        agent_update(ME, is_lead=False, assignee=None, requested={field: "x", "status": "done"})
    assert caught.value.detail == "task_update_field_forbidden"


def test_lead_changes_anything_and_an_explicit_assignee_wins() -> None:
    requested = {"status": "in_progress", "assigned_agent_id": OTHER, "title": "t"}
    assert agent_update(ME, is_lead=True, assignee=OTHER, requested=requested) == requested


def test_users_change_exactly_what_they_send() -> None:
    assert user_update({"status": "done", "comment": "c"}) == {"status": "done"}


def test_parse_statuses() -> None:
    assert parse_statuses("inbox, review,") == ["inbox", "review"]
    with pytest.raises(ValueError, match="bogus"):
        parse_statuses("inbox,bogus")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", None, ("abcdef", False)),
        ("abcdef", 6, ("abcdef", False)),
        ("abcdefg", 6, ("abc...", True)),
        ("abcdefg", 3, ("...", True)),
    ],
)
def test_truncate_text(text: str, limit: int | None, expected: tuple[str, bool]) -> None:
    assert truncate_text(text, limit) == expected

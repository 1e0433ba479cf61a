"""Request bodies of the task routes (validated → 422 with field details)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.task_rules import TaskStatus

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Description = Annotated[str, Field(max_length=20_000)]
Priority = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class TaskCreate(BaseModel):
    """`POST …/tasks`."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    status: TaskStatus = "inbox"
    priority: Priority = "medium"
    assigned_agent_id: uuid.UUID | None = None


class TaskUpdate(BaseModel):
    """`PATCH …/tasks/{task_id}`: any subset of fields, plus an optional inline comment."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    priority: Priority | None = None
    assigned_agent_id: uuid.UUID | None = None
    comment: Message | None = None

    @model_validator(mode="after")
    def _no_null_fields(self) -> TaskUpdate:
        for name in ("title", "description", "status", "priority", "comment"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be omitted but not null")
        return self

    def requested(self) -> dict[str, Any]:
        """The fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class CommentCreate(BaseModel):
    """`POST …/comments`."""

    model_config = ConfigDict(extra="forbid")

    message: Message

"""What every job of a worker process shares, created in `on_startup`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.settings import Settings
from workers.writer import DeliveryWriter

_CONTEXT_KEY = "mc"


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """Settings, the database pool and the batching writer."""

    settings: Settings
    pool: asyncpg.Pool
    writer: DeliveryWriter


def worker_context(ctx: dict[str, Any]) -> WorkerContext:
    """The WorkerContext stored in arq's ctx dict."""
    value = ctx[_CONTEXT_KEY]
    assert isinstance(value, WorkerContext)
    return value


def store_worker_context(ctx: dict[str, Any], value: WorkerContext) -> None:
    """Keep `value` in arq's ctx dict for the jobs."""
    ctx[_CONTEXT_KEY] = value

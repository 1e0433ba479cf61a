"""What the delivery and replay jobs share: an in-job deadline and best-effort retry records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.queries.attempts import Attempt, record_attempts
from shared.settings import Settings

log = logging.getLogger(__name__)

_RECORD_TIMEOUT_SECONDS = 1.0


def job_deadline_seconds(settings: Settings) -> float:
    """How long a job's database work may take before the job gives up and retries."""
    timeout = settings.worker_job_timeout_seconds
    return max(timeout / 2, timeout - 2)


@asynccontextmanager
async def job_deadline(settings: Settings) -> AsyncIterator[None]:
    """Raise TimeoutError (a transient failure, so a retry) before arq's own job timeout.

    arq treats its job timeout as a final failure and deletes the job without a word; a job
    stuck on a lock or a dead connection must instead end as a deliberate, recorded retry.
    """
    async with asyncio.timeout(job_deadline_seconds(settings)):
        yield


async def record_retry(pool: asyncpg.Pool, attempt: Attempt) -> None:
    """Add a retry to the attempt history if the database answers quickly; never raise.

    Retries mostly happen because PostgreSQL is away, so this record is a courtesy: the final
    outcome (processed or failed) is written with the delivery itself.
    """
    try:
        async with asyncio.timeout(_RECORD_TIMEOUT_SECONDS), pool.acquire() as conn:
            await record_attempts(conn, [attempt])
    except Exception as error:
        log.debug("retry of %s not recorded: %s", attempt.payload_id, type(error).__name__)

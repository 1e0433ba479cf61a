"""Run a batch of claimed delivery jobs: one transaction for all, each job's own outcome."""

from __future__ import annotations

import logging
import time
from itertools import repeat
from typing import Any

from shared.jobs import Delivery, deserialize_job
from shared.metric_buffer import observe_many
from shared.metrics import JOB_DURATION, JOBS
from shared.queries.deliveries import PersistRow
from workers.batch import ClaimedJob, JobOutcome
from workers.context import worker_context
from workers.deliveries import build_row, count_processed_many, settle_failure
from workers.lifecycle import job_deadline

log = logging.getLogger(__name__)


async def process_delivery_batch(ctx: dict[str, Any], jobs: list[ClaimedJob]) -> list[JobOutcome]:
    """Persist the deliveries of `jobs` together; retry or fail each one on its own."""
    wctx = worker_context(ctx)
    started = time.perf_counter()
    outcomes: list[JobOutcome] = []
    pending = []
    for job in jobs:
        try:
            delivery = Delivery.from_envelope(deserialize_job(job.data)["a"][0])
            row = build_row(delivery, delivery.webhook_description, job.tries)
        except Exception:
            # Not a delivery we can read (it did not come from our ingress): nothing to keep.
            log.exception("job %s is not a readable delivery; discarding it", job.job_id)
            JOBS.labels("dropped").inc()
            outcomes.append(JobOutcome(job.job_id))
            continue
        pending.append((job, delivery, row))
    errors: list[BaseException | None]
    try:
        async with job_deadline(wctx.settings):
            errors = await wctx.writer.write_batch([row for _, _, row in pending])
    except TimeoutError as timeout:  # a transient failure: every job of the batch retries
        errors = [timeout] * len(pending)
    stored: list[tuple[Delivery, int]] = []
    failed: list[tuple[ClaimedJob, PersistRow, BaseException]] = []
    for (job, delivery, row), error in zip(pending, errors, strict=True):
        if error is None:
            stored.append((delivery, job.tries))
            outcomes.append(JobOutcome(job.job_id))
        else:
            failed.append((job, row, error))
    count_processed_many(stored)
    for job, row, error in failed:
        exception = error if isinstance(error, Exception) else RuntimeError(str(error))
        delay = await settle_failure(wctx, row, exception, job.tries)
        outcomes.append(JobOutcome(job.job_id, delay))
    observe_many(JOB_DURATION, repeat(time.perf_counter() - started, len(jobs)))
    return outcomes

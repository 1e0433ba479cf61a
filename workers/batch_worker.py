"""An arq Worker that runs delivery jobs in batches and every other job as arq does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Worker

from workers.batch import BatchClaimer, ClaimedJob, JobOutcome

log = logging.getLogger(__name__)

BatchRunner = Callable[[dict[str, Any], list[ClaimedJob]], Awaitable[list[JobOutcome]]]

# A batch that fails as a whole (a bug, or the database away before any row was tried) is
# offered again this much later.
_BATCH_RETRY_SECONDS = 1.0


class BatchingWorker(Worker):
    """arq's Worker with batch claiming for delivery jobs.

    arq's poll loop fetches the ids of due jobs and hands them to `start_jobs`; here delivery
    jobs among them are leased in one Lua call per batch and run by `run_batch`, up to
    `max_batches` batches at once. Batch tasks live in arq's own task table, so burst mode,
    shutdown and the health check treat them like any job.
    """

    def __init__(
        self,
        *args: Any,
        run_batch: BatchRunner,
        batch_size: int,
        max_batches: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._run_batch = run_batch
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._claimer: BatchClaimer | None = None
        self._leased: set[str] = set()
        self._running_batches = 0
        self._batch_seq = 0

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Lease due delivery jobs in batches; pass other jobs to arq's own start."""
        if self._claimer is None:
            self._claimer = BatchClaimer(
                self.pool, self.queue_name, lease_seconds=self.in_progress_timeout_s
            )
        candidates = [i for i in (raw.decode() for raw in job_ids) if i not in self._leased]
        others: list[str] = []
        while candidates and self._running_batches < self._max_batches:
            chunk, candidates = candidates[: self._batch_size], candidates[self._batch_size :]
            claimed, skipped = await self._claimer.claim(chunk)
            others += skipped
            if claimed:
                self._start_batch(claimed)
        if others:
            await super().start_jobs([i.encode() for i in others])

    def _start_batch(self, claimed: list[ClaimedJob]) -> None:
        ids = [job.job_id for job in claimed]
        self._leased.update(ids)
        self._running_batches += 1
        self._batch_seq += 1
        task = self.loop.create_task(self._batch(claimed))
        self.tasks[f"batch:{self._batch_seq}"] = task

        def done(_: asyncio.Task[None]) -> None:
            self._running_batches -= 1
            self._leased.difference_update(ids)

        task.add_done_callback(done)

    async def _batch(self, claimed: list[ClaimedJob]) -> None:
        assert self._claimer is not None
        try:
            async with asyncio.timeout(self.job_timeout_s):
                outcomes = await self._run_batch(self.ctx, claimed)
        except asyncio.CancelledError:
            # The worker is stopping (SIGTERM cancels running jobs). As arq does with a job it
            # cancels, the batch goes back on the queue at once for the next worker; a job
            # whose rows were already committed stores nothing twice when it runs again.
            self._stopped_mid_batch()
            log.info("stopping: %d deliveries go back on the queue", len(claimed))
            outcomes = [JobOutcome(job.job_id, 0.0) for job in claimed]
        except Exception:
            log.exception("a batch of %d deliveries failed; offering it again", len(claimed))
            outcomes = [JobOutcome(job.job_id, _BATCH_RETRY_SECONDS) for job in claimed]
        try:
            await self._claimer.finish(outcomes)
        except asyncio.CancelledError:
            self._stopped_mid_batch()
            log.warning("stopped while finishing a batch; its jobs run again when leases expire")
        except Exception as error:
            # The leases expire (job timeout + 10 s) and the jobs run again; running one twice
            # stores nothing twice.
            log.warning("could not finish a batch (%s); its jobs will run again", error)

    @staticmethod
    def _stopped_mid_batch() -> None:
        """Take back the cancellation this batch task absorbs (arq's close() awaits the task
        and would fail on it), so later awaits and timeouts in the task behave normally."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()

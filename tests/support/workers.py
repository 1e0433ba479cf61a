"""Run the real arq worker in-process until the queue is empty."""

from __future__ import annotations

from shared.settings import Settings
from workers.main import build_worker


async def drain_queue(settings: Settings) -> None:
    """Process every job waiting in the test's queue with a burst-mode worker."""
    worker = build_worker(settings, burst=True, metrics=False)
    try:
        await worker.main()
    finally:
        await worker.close()

"""`mission-control worker` as a real process: it starts, stores a delivery, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from shared.jobs import Delivery
from shared.settings import Settings
from tests.support.factories import Factory
from tests.support.process_env import service_env
from tests.support.queueing import enqueue_all

ROOT = Path(__file__).resolve().parents[2]


async def test_worker_command_processes_a_queued_delivery_and_stops_cleanly(
    settings: Settings, factory: Factory, db: asyncpg.Pool
) -> None:
    board = await factory.board()
    await factory.agent(board, lead=True)
    webhook = await factory.webhook(board)
    payload_id = str(uuid.uuid4())
    await enqueue_all(
        settings,
        [
            Delivery(
                payload_id=payload_id,
                board_id=str(board),
                webhook_id=str(webhook),
                body=b'{"n": 1}',
                headers={},
                source_ip="127.0.0.1",
                content_type="application/json",
                received_at_ms=int(time.time() * 1000),
            )
        ],
    )
    env = service_env(settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        stored = None
        for _ in range(300):
            stored = await db.fetchval(
                "SELECT status FROM webhook_payloads WHERE id = $1", uuid.UUID(payload_id)
            )
            if stored or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if stored != "processed":
            process.kill()
            output, _ = await process.communicate()
            raise AssertionError(f"not stored ({stored}); worker said:\n{output.decode()}")
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, output.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

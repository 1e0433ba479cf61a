"""Faults during steady load: every 202 processed exactly once, nothing stuck (short form)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.chaos.harness import ChaosConfig, run_chaos


@pytest.mark.slow
async def test_every_accepted_delivery_survives_redis_postgres_worker_and_ingress_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chaos")
    report = await run_chaos(ChaosConfig(duration_seconds=24, rate_per_second=60))
    summary = json.dumps(report.as_dict())
    assert report.sent > 1000, summary
    assert report.accepted > report.sent // 2, summary
    assert len(report.faults) == 4, summary
    assert report.missing == 0, summary
    assert report.duplicates == 0, summary
    assert report.tasks_missing == 0, summary
    assert report.unexpected == {}, summary
    assert report.jobs_left == 0, summary
    assert report.processed == report.accepted, summary
    assert report.ok, summary

"""The environment for running the real `mission-control` command against a test's services."""

from __future__ import annotations

import os
from pathlib import Path

from shared.settings import Settings

# The repository root: where `python -m cli.main` finds the code under test.
ROOT = Path(__file__).resolve().parents[2]


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """This process's environment plus the test's database, queue and auth; `overrides` win."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        DATABASE_URL=settings.database_url or "",
        RQ_REDIS_URL=settings.rq_redis_url,
        REDIS_NAMESPACE=settings.redis_namespace,
        AUTH_MODE="local",
        LOCAL_AUTH_TOKEN=settings.local_auth_token or "",
        WORKER_METRICS_PORT="0",
    )
    env.update(overrides)
    return env

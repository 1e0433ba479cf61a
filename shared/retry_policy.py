"""Which failures are worth retrying, and how long to wait before the next try."""

from __future__ import annotations

import random

import asyncpg

# SQLSTATE classes of conditions that pass: connection trouble (08), transaction rollback such as
# deadlock or serialization failure (40), insufficient resources (53), object not in prerequisite
# state such as a database not accepting connections or a lock not available (55), operator
# intervention such as shutdown or cancel (57), system errors (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})


class DatabaseUnavailable(Exception):
    """No connection could be had: whatever the cause, the work itself was never tried."""


def is_transient(error: BaseException) -> bool:
    """True for failures that may pass on their own (database or network trouble)."""
    if isinstance(
        error,
        DatabaseUnavailable | OSError | TimeoutError | ConnectionError | asyncpg.InterfaceError,
    ):
        return True
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", None) or ""
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter before retry number `attempt` (1 = first retry)."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    # "Equal jitter": at least half the ceiling, so retries spread out but never bunch at zero.
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

"""Helpers for agent-auth tests: random tokens, metric readings, leak scanning."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable

from prometheus_client import REGISTRY


def random_token() -> str:
    """A well-formed agent token no agent has (random key id and secret)."""
    alphabet = string.ascii_lowercase + string.digits
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"mca_{key_id}_{secrets.token_hex(32)}"


def garbage_token() -> str:
    """A malformed token (wrong shape): rejected without hashing."""
    return "x" + secrets.token_urlsafe(30)


def metric(name: str, **labels: str) -> float:
    """The current value of a sample (0 when never observed)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def pbkdf2_runs() -> float:
    """PBKDF2 verifications run so far in this process."""
    return metric("mc_agent_auth_pbkdf2_runs_total")


def fragments(token: str, size: int = 6) -> set[str]:
    """Every `size`-character substring of `token`."""
    return {token[i : i + size] for i in range(len(token) - size + 1)}


def leaked_fragments(text: str, tokens: Iterable[str]) -> list[str]:
    """The 6-character token fragments that appear in `text` (should be none)."""
    return sorted({f for token in tokens for f in fragments(token) if f in text})

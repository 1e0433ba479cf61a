"""Agent bearer tokens: mint, parse, PBKDF2-hash and verify (pure, sync, no I/O).

Token format: ``mca_<key_id>_<secret>`` (81 ASCII chars).
- ``key_id``: 12 chars from ``[a-z0-9]``, random (not derived from the secret); it
  finds the agent row (``agents.token_key_id``) so a bad token costs <= 1 PBKDF2 run.
- ``secret``: 32 random bytes as 64 lowercase hex chars. Neither part can contain
  ``_``, so splitting is unambiguous; parsing is one length check plus one regex.

Only the *secret part* is hashed (``verify_secret`` takes the secret returned by
``parse_token``, not the whole token); the key_id is matched by the DB lookup.
Stored hash: ``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>`` (urlsafe base64,
no padding); old iteration counts keep verifying, and ``needs_rehash`` flags them.

PBKDF2 takes ~100 ms: callers run ``verify_secret``/``dummy_verify``/``hash_secret``
via ``loop.run_in_executor``. For an unknown key_id call ``dummy_verify`` so timing
does not reveal which key ids exist.

Logging: never log the token or any fragment of it. The key_id is non-secret but
is 12 consecutive token characters, so logs identify agents by database id only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_ITERATIONS", "MintedToken", "dummy_hash", "dummy_verify", "hash_secret",
    "mint_token", "needs_rehash", "parse_token", "verify_secret",
]  # fmt: skip

DEFAULT_ITERATIONS = 260_000
# Upper bound on iterations read from storage: a corrupted row must not pin a CPU.
_MAX_ITERATIONS = 10_000_000
_ALGORITHM = "pbkdf2_sha256"
_PREFIX = "mca_"
_KEY_ID_LEN = 12
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_BYTES = 32
_SALT_BYTES = 16
_DIGEST_BYTES = 32
_TOKEN_LEN = len(_PREFIX) + _KEY_ID_LEN + 1 + 2 * _SECRET_BYTES
_TOKEN_RE = re.compile(r"mca_([a-z0-9]{12})_([0-9a-f]{64})")
_HASH_RE = re.compile(r"pbkdf2_sha256\$([1-9][0-9]{0,7})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)")


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A freshly minted token; repr hides every field so it cannot leak into logs."""

    token: str = field(repr=False)  # shown to the operator once, never stored
    key_id: str = field(repr=False)  # agents.token_key_id (unique index)
    token_hash: str = field(repr=False)  # agents.token_hash


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(iterations: int = DEFAULT_ITERATIONS) -> MintedToken:
    """Create a new random token and its storable hash."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LEN))
    secret = secrets.token_hex(_SECRET_BYTES)
    return MintedToken(
        token=f"{_PREFIX}{key_id}_{secret}",
        key_id=key_id,
        token_hash=hash_secret(secret, iterations),
    )


def parse_token(raw: str) -> tuple[str, str] | None:
    """(key_id, secret) or None when malformed."""
    # Length check first so huge inputs are rejected before any regex work.
    if len(raw) != _TOKEN_LEN:
        return None
    match = _TOKEN_RE.fullmatch(raw)
    if match is None:
        return None
    return match.group(1), match.group(2)


def hash_secret(
    secret: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """Hash a token secret as ``pbkdf2_sha256$<iterations>$<salt>$<hash>``."""
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValueError(f"iterations must be in 1..{_MAX_ITERATIONS}")
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    elif not salt:
        raise ValueError("salt must not be empty")
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return f"{_ALGORITHM}${iterations}${_b64e(salt)}${_b64e(digest)}"


def _parse_hash(stored_hash: str) -> tuple[int, bytes, bytes] | None:
    match = _HASH_RE.fullmatch(stored_hash)
    if match is None:
        return None
    iterations = int(match.group(1))
    try:
        salt, digest = _b64d(match.group(2)), _b64d(match.group(3))
    except ValueError:  # binascii.Error subclasses ValueError
        return None
    if iterations > _MAX_ITERATIONS or not salt or len(digest) != _DIGEST_BYTES:
        return None
    return iterations, salt, digest


def verify_secret(secret: str, stored_hash: str) -> bool:
    """Constant-time; False on a malformed stored hash."""
    parsed = _parse_hash(stored_hash)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    actual = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Hash of a random secret at the default cost, computed once on first use."""
    # Lazy so importing the module does not cost a ~100 ms PBKDF2 run.
    return hash_secret(secrets.token_hex(_SECRET_BYTES))


def dummy_verify(secret: str) -> bool:
    """Spend one PBKDF2 run and return False (unknown key ids)."""
    verify_secret(secret, dummy_hash())
    return False


def needs_rehash(stored_hash: str, iterations: int = DEFAULT_ITERATIONS) -> bool:
    """True when the stored hash is malformed or weaker than ``iterations``."""
    parsed = _parse_hash(stored_hash)
    return parsed is None or parsed[0] < iterations

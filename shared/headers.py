"""Which request headers are kept with a delivery, and the sender's delivery id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Never stored, whatever their name: credentials and anything that proves authorship.
_SECRET_MARKERS = ("signature", "token", "secret", "auth", "password", "cookie", "hmac", "api-key")
_ALWAYS_DROPPED = frozenset({"authorization", "cookie", "set-cookie", "x-agent-token"})

# The first present names the sender's delivery id, used for dedup.
DELIVERY_ID_HEADERS = ("x-github-delivery", "webhook-id", "idempotency-key", "x-shopify-webhook-id")
MAX_DELIVERY_ID_LENGTH = 200


# Senders repeat the same few header names: each name is decided once (a plain dict is
# cheaper per lookup than lru_cache); the number of names kept is capped.
_DECIDED: dict[str, str | None] = {}
_MAX_DECIDED = 4096
_UNDECIDED = "\0undecided"  # never a header name


def _kept_name(name: str) -> str | None:
    lower = name.lower()
    if lower in _ALWAYS_DROPPED:
        return None
    if lower in ("content-type", "user-agent") or (
        lower.startswith("x-") and not any(m in lower for m in _SECRET_MARKERS)
    ):
        return lower
    return None


def kept_headers(headers: Iterable[tuple[str, str]], dropped: frozenset[str]) -> dict[str, str]:
    """`content-type`, `user-agent` and `x-*` headers, minus secrets and `dropped` names."""
    kept: dict[str, str] = {}
    decided = _DECIDED
    for name, value in headers:
        lower = decided.get(name, _UNDECIDED)
        if lower is _UNDECIDED:
            lower = _kept_name(name)
            if len(decided) < _MAX_DECIDED:
                decided[name] = lower
        if lower is not None and lower not in dropped:
            kept[lower] = value
    return kept


def sender_delivery_id(headers: Mapping[str, str]) -> str | None:
    """The sender's own id for this delivery, if it sent one (case-insensitive `headers`)."""
    for name in DELIVERY_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value.strip()[:MAX_DELIVERY_ID_LENGTH] or None
    return None


def media_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type value, lower-cased and without parameters (None if
    there is none)."""
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip().lower() or None

"""Webhook signature verification for the supported signing schemes (pure, no I/O)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import ClassVar

DEFAULT_TOLERANCE_SECONDS = 300
SCHEMES: frozenset[str] = frozenset(
    {"hmac-sha256", "hmac-sha256-base64", "standard-webhooks", "stripe", "slack"}
)

_SHA256 = hashlib.sha256
_HUB_HEADER = "x-hub-signature-256"
_GENERIC_HEADER = "x-webhook-signature"
_SHOPIFY_HEADER = "x-shopify-hmac-sha256"
_SW_ID_HEADER = "webhook-id"
_SW_TIMESTAMP_HEADER = "webhook-timestamp"
_SW_SIGNATURE_HEADER = "webhook-signature"
_STRIPE_HEADER = "stripe-signature"
_SLACK_SIGNATURE_HEADER = "x-slack-signature"
_SLACK_TIMESTAMP_HEADER = "x-slack-request-timestamp"
_WHSEC_PREFIX = "whsec_"


class SignatureError(Exception):
    """Base: `detail` is the client-facing message (the class's `default_detail` unless given).

    The default is a class variable and the message an instance attribute, so the classes
    behave the same when compiled with mypyc (docs/operations.md, "Compiled hot path").
    """

    default_detail: ClassVar[str] = "Webhook signature verification failed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = self.default_detail if detail is None else detail
        super().__init__(self.detail)


class MissingSignature(SignatureError):
    """A header required by the scheme is absent or empty."""

    default_detail = "Missing webhook signature header."


class InvalidSignature(SignatureError):
    """No configured secret produced the presented signature (or it is malformed)."""

    default_detail = "Invalid webhook signature."


class TimestampOutsideTolerance(SignatureError):
    """The signed timestamp is too far from the current time (replay protection)."""

    default_detail = "Webhook timestamp outside tolerance."


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise MissingSignature
    return value


def _ascii(value: str) -> bytes:
    # Compare as bytes: compare_digest raises TypeError on non-ASCII str, and such a value
    # could never be a valid digest anyway.
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidSignature from None


def _check_timestamp(value: str, now: float, tolerance_seconds: int) -> None:
    # int() alone would accept "+1", " 1" and "1_0"; the signed string must be plain digits.
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidSignature
    try:
        timestamp = int(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise InvalidSignature from None
    try:
        outside = abs(now - timestamp) > tolerance_seconds
    except OverflowError:  # too many digits to become a float: certainly not "now"
        outside = True
    if outside:
        raise TimestampOutsideTolerance


def _hmac_sha256(key: bytes, prefix: bytes, body: bytes) -> bytes:
    if not prefix:
        # One-shot HMAC runs in C without building an hmac object: the common, hot case.
        return hmac.digest(key, body, "sha256")
    # update() instead of prefix + body avoids copying a potentially large body.
    mac = hmac.new(key, prefix, _SHA256)
    mac.update(body)
    return mac.digest()


def _match_any(expected: bytes, candidates: Sequence[bytes]) -> bool:
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def _verify_hex(secrets: Sequence[str], prefix: bytes, body: bytes, given: Sequence[bytes]) -> None:
    for secret in secrets:
        expected = _hmac_sha256(secret.encode(), prefix, body).hex().encode()
        if _match_any(expected, given):
            return
    raise InvalidSignature


def _verify_hmac_sha256(
    secrets: Sequence[str], body: bytes, headers: Mapping[str, str], signature_header: str | None
) -> None:
    if signature_header:
        value = headers.get(signature_header)
    else:
        value = headers.get(_HUB_HEADER) or headers.get(_GENERIC_HEADER)
    if not value:
        raise MissingSignature
    given = value.lower().removeprefix("sha256=")
    _verify_hex(secrets, b"", body, (_ascii(given),))


def _verify_hmac_sha256_base64(secrets: Sequence[str], body: bytes, value: str) -> None:
    given = _ascii(value)
    for secret in secrets:
        expected = base64.b64encode(_hmac_sha256(secret.encode(), b"", body))
        if hmac.compare_digest(expected, given):
            return
    raise InvalidSignature


@functools.lru_cache(maxsize=256)
def _standard_webhooks_key(secret: str) -> bytes | None:
    # Cached because the same few secrets are decoded on every request.
    try:
        return base64.b64decode(secret.removeprefix(_WHSEC_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None


def _verify_standard_webhooks(
    secrets: Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    value: str,
    now: float,
    tol: int,
) -> None:
    msg_id = _header(headers, _SW_ID_HEADER)
    timestamp = _header(headers, _SW_TIMESTAMP_HEADER)
    _check_timestamp(timestamp, now, tol)
    given = []
    for entry in value.split():
        version, _, signature = entry.partition(",")
        if version == "v1":  # other versions (e.g. v1a asymmetric) are not ours to check
            given.append(_ascii(signature))
    if not given:
        raise InvalidSignature
    prefix = f"{msg_id}.{timestamp}.".encode()
    for secret in secrets:
        key = _standard_webhooks_key(secret)
        if key is not None and _match_any(base64.b64encode(_hmac_sha256(key, prefix, body)), given):
            return
    raise InvalidSignature


def _verify_stripe(secrets: Sequence[str], body: bytes, value: str, now: float, tol: int) -> None:
    timestamp: str | None = None
    given = []
    for item in value.split(","):
        key, _, item_value = item.partition("=")
        key = key.strip()
        if key == "t":
            timestamp = item_value.strip()
        elif key == "v1":
            given.append(_ascii(item_value.strip().lower()))
    if timestamp is None or not given:
        raise InvalidSignature
    _check_timestamp(timestamp, now, tol)
    _verify_hex(secrets, f"{timestamp}.".encode(), body, given)


def _verify_slack(
    secrets: Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    value: str,
    now: float,
    tol: int,
) -> None:
    timestamp = _header(headers, _SLACK_TIMESTAMP_HEADER)
    _check_timestamp(timestamp, now, tol)
    version, _, given = value.lower().partition("=")
    if version != "v0":
        raise InvalidSignature
    _verify_hex(secrets, f"v0:{timestamp}:".encode(), body, (_ascii(given),))


def verify_signature(
    *,
    scheme: str,
    secrets: Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    signature_header: str | None,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise a SignatureError subclass unless one of `secrets` signed `body` under `scheme`."""
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown signature scheme: {scheme!r}")
    if not secrets:
        raise ValueError("At least one secret is required")
    if scheme == "hmac-sha256":
        _verify_hmac_sha256(secrets, body, headers, signature_header)
    elif scheme == "hmac-sha256-base64":
        value = _header(headers, signature_header or _SHOPIFY_HEADER)
        _verify_hmac_sha256_base64(secrets, body, value)
    elif scheme == "standard-webhooks":
        value = _header(headers, signature_header or _SW_SIGNATURE_HEADER)
        _verify_standard_webhooks(secrets, body, headers, value, now, tolerance_seconds)
    elif scheme == "stripe":
        value = _header(headers, signature_header or _STRIPE_HEADER)
        _verify_stripe(secrets, body, value, now, tolerance_seconds)
    else:
        value = _header(headers, signature_header or _SLACK_SIGNATURE_HEADER)
        _verify_slack(secrets, body, headers, value, now, tolerance_seconds)


def signature_header_names(scheme: str, signature_header: str | None) -> tuple[str, ...]:
    """Lower-cased names of the headers carrying signatures/timestamps for this scheme."""
    custom = signature_header.lower() if signature_header else None
    if scheme == "hmac-sha256":
        return (custom,) if custom else (_HUB_HEADER, _GENERIC_HEADER)
    if scheme == "hmac-sha256-base64":
        return (custom or _SHOPIFY_HEADER,)
    if scheme == "standard-webhooks":
        return (custom or _SW_SIGNATURE_HEADER, _SW_TIMESTAMP_HEADER)
    if scheme == "stripe":
        return (custom or _STRIPE_HEADER,)
    if scheme == "slack":
        return (custom or _SLACK_SIGNATURE_HEADER, _SLACK_TIMESTAMP_HEADER)
    raise ValueError(f"Unknown signature scheme: {scheme!r}")

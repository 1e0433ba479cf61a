"""What the ingress needs to know about a webhook to accept or refuse a delivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.signatures import signature_header_names


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One webhook's ingest-time configuration, as cached by each ingress process."""

    webhook_id: str
    board_id: str
    enabled: bool
    secret: str | None = field(default=None, repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_expires_at: float | None = None
    signature_header: str | None = None
    signature_scheme: str = "hmac-sha256"
    timestamp_tolerance_seconds: int = 300
    description: str = ""
    # Signature-bearing headers are never stored with a delivery.
    dropped_headers: frozenset[str] = frozenset()

    def secrets_at(self, now: float) -> tuple[str, ...]:
        """Secrets a signature may be made with at `now`: current, then one in its grace period."""
        if not self.secret:
            return ()
        if self.previous_secret and (self.previous_secret_expires_at or 0) > now:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    @classmethod
    def from_row(cls, row: Any) -> WebhookConfig:
        """Build from a `webhooks` row (mapping access by column name)."""
        expires = row["previous_secret_expires_at"]
        scheme = row["signature_scheme"]
        header = row["signature_header"]
        return cls(
            webhook_id=str(row["id"]),
            board_id=str(row["board_id"]),
            enabled=row["enabled"],
            secret=row["secret"] or None,
            previous_secret=row["previous_secret"] or None,
            previous_secret_expires_at=expires.timestamp() if expires else None,
            signature_header=header,
            signature_scheme=scheme,
            timestamp_tolerance_seconds=row["timestamp_tolerance_seconds"],
            description=row["description"],
            dropped_headers=frozenset(signature_header_names(scheme, header)),
        )

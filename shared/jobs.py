"""The delivery envelope that travels through the queue, in arq's job format, as JSON.

Jobs carry plain values only (no pickles): the serializer is orjson. The raw body rides as a
latin-1 string, which maps every byte to one code point and back without loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

PROCESS_DELIVERY = "process_delivery"
REPLAY_DELIVERY = "replay_delivery"
JOB_KEY_PREFIX = "arq:job:"  # arq's own prefix; the worker looks here
JOB_EXPIRY_MS = 7 * 86_400_000  # a job waiting this long has bigger problems than expiry


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted webhook request, as the ingress hands it to a worker."""

    payload_id: str
    board_id: str
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    source_ip: str
    content_type: str | None
    received_at_ms: int
    sender_delivery_id: str | None = None
    webhook_description: str = ""

    def to_envelope(self) -> dict[str, Any]:
        """The JSON-safe job argument."""
        return delivery_envelope(
            self.payload_id,
            self.board_id,
            self.webhook_id,
            self.body,
            self.headers,
            self.source_ip,
            self.content_type,
            self.received_at_ms,
            self.sender_delivery_id,
            self.webhook_description,
        )

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> Delivery:
        """Rebuild a delivery from its job argument."""
        return cls(
            payload_id=envelope["p"],
            board_id=envelope["b"],
            webhook_id=envelope["w"],
            body=envelope["body"].encode("latin-1"),
            headers=envelope["h"],
            source_ip=envelope["ip"],
            content_type=envelope["ct"],
            received_at_ms=envelope["r"],
            sender_delivery_id=envelope["d"],
            webhook_description=envelope.get("wd", ""),
        )


def delivery_envelope(
    payload_id: str,
    board_id: str,
    webhook_id: str,
    body: bytes,
    headers: dict[str, str],
    source_ip: str,
    content_type: str | None,
    received_at_ms: int,
    sender_delivery_id: str | None,
    webhook_description: str,
) -> dict[str, Any]:
    """The JSON-safe job argument of one delivery (read back by `Delivery.from_envelope`)."""
    return {
        "p": payload_id,
        "b": board_id,
        "w": webhook_id,
        "body": body.decode("latin-1"),
        "h": headers,
        "ip": source_ip,
        "ct": content_type,
        "r": received_at_ms,
        "d": sender_delivery_id,
        "wd": webhook_description,
    }


def serialize_job(data: dict[str, Any]) -> bytes:
    """arq job serializer: JSON via orjson."""
    return orjson.dumps(data)


def deserialize_job(raw: bytes) -> dict[str, Any]:
    """arq job deserializer: JSON via orjson."""
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("a job must be a JSON object")
    return value


def delivery_job_bytes(delivery: Delivery, enqueue_ms: int) -> bytes:
    """The bytes stored under `arq:job:<payload_id>`: the same shape arq's enqueue writes."""
    return envelope_job_bytes(delivery.to_envelope(), enqueue_ms)


def envelope_job_bytes(envelope: dict[str, Any], enqueue_ms: int) -> bytes:
    """A delivery job from its envelope (`Delivery.to_envelope`'s shape), ready to store.

    The ingest view builds the envelope itself, without a `Delivery`, to save work per request.
    """
    return orjson.dumps(
        {"t": None, "f": PROCESS_DELIVERY, "a": [envelope], "k": {}, "et": enqueue_ms}
    )


def replay_job_id(payload_id: str, replay_id: str) -> str:
    """The arq job id of one replay of one delivery (unique per replay request)."""
    return f"replay:{replay_id}:{payload_id}"


def replay_job_bytes(payload_id: str, replay_id: str, enqueue_ms: int) -> bytes:
    """A replay job: only the payload id and the replay's id; the body stays in PostgreSQL."""
    return orjson.dumps(
        {"t": None, "f": REPLAY_DELIVERY, "a": [payload_id, replay_id], "k": {}, "et": enqueue_ms}
    )

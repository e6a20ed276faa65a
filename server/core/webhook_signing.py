"""Webhook signing (DESIGN.md §7): the exact bytes a delivery POSTs and the signature over them, in one place,
so the worker that signs and the tests (and the README's snippet) that verify agree on every byte.

A delivery's body is `{id, event, profileId, timestamp, data}` as compact JSON; `id` is the event id (the same
on every attempt and redelivery, so receivers can de-duplicate), `timestamp` the event's time. The signature is
`sha256=<hex HMAC-SHA256 of "<X-Webhook-Timestamp>.<body>">` with the webhook's secret, where the timestamp is
the attempt's unix seconds: a receiver that refuses old timestamps refuses replays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
ID_HEADER = "X-Webhook-Id"
EVENT_HEADER = "X-Webhook-Event"
# How far a receiver should let the timestamp drift from its clock (what verify() allows).
TOLERANCE_S = 300


def _rfc3339(value: dt.datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(event_id: int, event: str, profile_id: str | None, created_at: dt.datetime, data: dict[str, Any]) -> bytes:
    """The POST body for one event: the same bytes on every attempt."""
    return json.dumps(
        {"id": event_id, "event": event, "profileId": profile_id or None, "timestamp": _rfc3339(created_at),
         "data": data},
        separators=(",", ":"), ensure_ascii=False,
    ).encode()


def sign(secret: str, timestamp: int | str, payload: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<payload>`."""
    message = str(timestamp).encode() + b"." + payload
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, payload: bytes, *, event_id: int, event: str, now: float | None = None
                   ) -> dict[str, str]:
    """The gateway's own headers of one attempt: id, event, timestamp (now) and signature."""
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: str(event_id),
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, payload),
    }


def verify(secret: str, payload: bytes, timestamp: str, signature: str, *, tolerance_s: float = TOLERANCE_S,
           now: float | None = None) -> bool:
    """What a receiver does: the signature matches (compared in constant time) and the timestamp is fresh."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, payload), signature)

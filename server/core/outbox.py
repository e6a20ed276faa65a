"""The outbox (DESIGN.md §5): a send is a stored row first, then a queued delivery. The database is the
truth: if queueing fails (Redis down), the row waits and the sweeper queues it once the broker is back."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import peewee

from server.core import broker
from server.core.db import utcnow, write_transaction
from server.core.errors import ApiError
from server.core.ids import new_id
from server.core.logs import fields
from server.core.models import Message, Profile

log = logging.getLogger("wagw.outbox")
DELIVER_ACTOR = "deliver"  # worker/actors.py
# How long before its time a delayed delivery reaches a worker, which sleeps the rest (see enqueue).
EARLY_S = 1.5


def accept(profile: Profile, *, chat_id: str, type_name: str, content: dict[str, Any], reply_to: str = "",
           mentions: list[str] | None = None, idempotency_key: str = "") -> Message:
    """Store one outbound message (PENDING) and queue its delivery. A repeated idempotency key returns the
    message the first request made."""
    if idempotency_key:
        first = Message.get_or_none((Message.profile == profile.id) & (Message.idempotency_key == idempotency_key))
        if first is not None:
            return first
    check_daily_cap(profile, 1)
    try:
        with write_transaction():
            row = Message.create(
                id=new_id("msg"), profile=profile.id, chat_id=chat_id, direction="OUTBOUND", type=type_name,
                content=content, status="PENDING", reply_to=reply_to, mentions=mentions or [],
                idempotency_key=idempotency_key or None, queued_at=utcnow(),
            )
    except peewee.IntegrityError:  # the same key, raced by a concurrent retry
        return Message.get((Message.profile == profile.id) & (Message.idempotency_key == idempotency_key))
    # queued_at is set above, in the same write: if queueing fails, the sweeper finds the row overdue.
    enqueue([row.id], record=False)
    return row


def check_daily_cap(profile: Profile, count: int) -> None:
    """RATE_LIMITED when accepting `count` more messages today would pass the profile's daily cap."""
    if not profile.daily_cap:
        return
    start = dt.datetime.combine(utcnow().date(), dt.time())
    accepted = (Message.select().where((Message.profile == profile.id) & (Message.direction == "OUTBOUND")
                                       & (Message.created_at >= start)
                                       & Message.status.not_in(["FAILED", "CANCELLED"])).count())
    if accepted + count > profile.daily_cap:
        reset = start + dt.timedelta(days=1)
        raise ApiError("RATE_LIMITED", f"profile '{profile.id}' reached its daily cap of {profile.daily_cap} "
                       f"messages; it resets at {reset.isoformat()}Z", resetAt=reset.isoformat() + "Z")


def enqueue(message_ids: list[str], delay_s: float = 0.0, *, record: bool = True) -> None:
    """Queue deliveries to run in `delay_s` seconds; a broker that is down only delays them (the sweeper queues
    what is left waiting). Delayed deliveries are handed to a worker EARLY_S before their time: the broker's
    delayed messages can be late by up to a second, so the worker waits out the last stretch itself."""
    broker_delay_ms = int(max(delay_s - EARLY_S, 0) * 1000) or None
    try:
        for message_id in message_ids:
            broker.enqueue(broker.DELIVERY_QUEUE, DELIVER_ACTOR, (message_id,), broker_delay_ms)
    except Exception as error:  # redis.ConnectionError and friends: the rows stay PENDING
        log.warning("queueing failed; the sweeper will retry", extra=fields(error=str(error)))
        return
    if record:  # when each is due, for the sweeper
        with write_transaction():
            Message.update(queued_at=utcnow() + dt.timedelta(seconds=delay_s)).where(
                Message.id.in_(message_ids)).execute()

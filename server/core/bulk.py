"""Bulk batches (DESIGN.md §6): accepting one in a single transaction, pacing its items in order, keeping its
counters, and finishing it. Items are ordinary outbox messages (batch_id, batch_index) delivered by the same
workers through the same send gate; an item waits with no `not_before` until the previous one is out."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

from server.core import events, outbox
from server.core.db import insert_rows, utcnow, write_transaction
from server.core.ids import new_id
from server.core.models import Batch, Message

TERMINAL = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
# Item statuses that count as "sent" in a batch's progress (delivered and read are counted as well).
_SENT = frozenset({"SENT", "DELIVERED", "READ"})
# How long the first send of a batch is expected to take, for the estimate.
_SEND_ESTIMATE_S = 0.5


def create(profile_id: str, items: list[dict[str, Any]], *, delay_ms: int, randomize: bool, stop_on_error: bool,
           start_at: dt.datetime | None, idempotency_key: str) -> Batch:
    """Store the batch and every item (call inside one transaction), the first item scheduled."""
    now = utcnow()
    first_at = max(start_at or now, now)
    average_gap = delay_ms / 1000 * (1.25 if randomize else 1.0)
    batch = Batch.create(
        id=new_id("bat"), profile=profile_id, total=len(items), delay_ms=delay_ms, randomize_delay=randomize,
        stop_on_error=stop_on_error, start_at=start_at, idempotency_key=idempotency_key or None,
        estimated_end_at=first_at + dt.timedelta(seconds=(len(items) - 1) * average_gap + _SEND_ESTIMATE_S),
    )
    insert_rows(Message, [{
        "id": new_id("msg"), "profile": profile_id, "chat_id": item["chat_id"], "direction": "OUTBOUND",
        "type": item["type"], "content": item["content"], "status": "PENDING", "error": "", "reply_to": "",
        "mentions": [], "sender": "", "attempts": 0, "batch_id": batch.id, "batch_index": index,
        "not_before": first_at if index == 0 else None, "created_at": now, "updated_at": now,
    } for index, item in enumerate(items)])
    return batch


def first_item(batch: Batch) -> Message:
    return Message.get((Message.batch_id == batch.id) & (Message.batch_index == 0))


def gap_s(batch: Batch) -> float:
    """The pause before the next item: the asked delay, plus a uniform 0-50% when randomized."""
    factor = 1 + random.uniform(0, 0.5) if batch.randomize_delay else 1.0
    return batch.delay_ms / 1000 * factor


def advance(batch_id: str, after: dt.datetime) -> None:
    """Schedule the batch's next waiting item one gap after `after` (the previous item's send) and queue it.
    Idempotent: while an item is scheduled, nothing changes."""
    with write_transaction():
        batch = Batch.get_or_none(Batch.id == batch_id)
        if batch is None or batch.status in TERMINAL:
            return
        following = (Message.select(Message.id, Message.not_before)
                     .where((Message.batch_id == batch_id) & (Message.status == "PENDING"))
                     .order_by(Message.batch_index).first())
        if following is None or following.not_before is not None:  # done, or the next item is scheduled
            return
        not_before = after + dt.timedelta(seconds=gap_s(batch))
        Message.update(not_before=not_before).where(Message.id == following.id).execute()
    outbox.enqueue([following.id], max((not_before - utcnow()).total_seconds(), 0.0))


def item_changed(message: Message, old: str, new: str) -> None:
    """Keep the batch's counters in step with one item's status change (inside the same transaction), record
    `bulk.progress`, and finish the batch when no item is left to send."""
    if not message.batch_id or old == new:
        return
    changes: dict[Any, Any] = {}
    for status, delta in ((old, -1), (new, 1)):
        for column in _columns(status):
            changes[column] = changes.get(column, getattr(Batch, column.name)) + delta
    if not changes:
        return
    changes[Batch.updated_at] = utcnow()
    Batch.update(changes).where(Batch.id == message.batch_id).execute()
    batch = Batch.get_by_id(message.batch_id)
    if new == "FAILED" and batch.stop_on_error and batch.status not in TERMINAL:
        cancel_pending(batch)
        batch = Batch.get_by_id(message.batch_id)
    if new in ("SENT", "FAILED", "CANCELLED") or old == "PENDING":
        events.record("bulk.progress", batch.profile_id, {"batchId": batch.id, **progress(batch)})
    if batch.status not in TERMINAL and batch.sent + batch.failed + batch.cancelled >= batch.total:
        finish(batch, "FAILED" if batch.stop_on_error and batch.failed else "COMPLETED")


def _columns(status: str) -> Iterable[Any]:
    if status in _SENT:
        yield Batch.sent
    if status in ("DELIVERED", "READ"):
        yield Batch.delivered
    if status == "READ":
        yield Batch.read
    if status == "FAILED":
        yield Batch.failed
    if status == "CANCELLED":
        yield Batch.cancelled


def finish(batch: Batch, status: str) -> None:
    now = utcnow()
    Batch.update(status=status, finished_at=now, updated_at=now).where(
        (Batch.id == batch.id) & Batch.status.not_in(list(TERMINAL))).execute()
    batch = Batch.get_by_id(batch.id)
    events.record("bulk.finished", batch.profile_id, {"batchId": batch.id, "status": batch.status,
                                                      **progress(batch)})


def cancel_pending(batch: Batch) -> int:
    """Cancel every item not yet handed to the engine; items in flight finish as they will."""
    waiting = list(Message.select().where((Message.batch_id == batch.id) & (Message.status == "PENDING")
                                          & Message.handed_at.is_null()))
    if waiting:
        now = utcnow()
        Message.update(status="CANCELLED", updated_at=now).where(Message.id.in_([m.id for m in waiting])).execute()
        Batch.update(cancelled=Batch.cancelled + len(waiting), updated_at=now).where(Batch.id == batch.id).execute()
    return len(waiting)


def progress(batch: Batch) -> dict[str, int]:
    return {"total": batch.total, "sent": batch.sent, "failed": batch.failed, "cancelled": batch.cancelled,
            "pending": batch.total - batch.sent - batch.failed - batch.cancelled,
            "delivered": batch.delivered, "read": batch.read}

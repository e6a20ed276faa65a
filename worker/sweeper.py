"""Re-queues pending messages whose queue entry was lost (Redis restarted empty, a worker died holding
it, the broker was down when they were accepted). Runs beside the workers; harmless when it queues a
message twice, since delivery is idempotent."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time

from server.core import bulk, outbox
from server.core.config import load
from server.core.db import database, utcnow, write_transaction
from server.core.models import Batch, Event, Message

log = logging.getLogger("wagw.sweeper")

EVERY_S = 5.0
# A message whose queue entry should have run this long ago, and is still pending, is queued again.
OVERDUE = dt.timedelta(seconds=float(os.environ.get("WAGW_SWEEP_OVERDUE_S", "").strip() or 30))
BATCH = 500
PRUNE_EVERY_S = 3600.0


def sweep_once() -> int:
    now = utcnow()
    with database.connection_context():
        overdue = [row.id for row in Message.select(Message.id).where(
            (Message.status == "PENDING") & (Message.direction == "OUTBOUND")
            & ((Message.queued_at.is_null()) | (Message.queued_at < now - OVERDUE))
            & ((Message.not_before.is_null() & Message.batch_id.is_null())
               | (Message.not_before <= now + dt.timedelta(seconds=EVERY_S)))
        ).limit(BATCH)]
        if overdue:
            outbox.enqueue(overdue)
        # A batch whose worker died between sending an item and scheduling the next would stall: schedule it.
        for batch in Batch.select(Batch.id).where(Batch.status.in_(["QUEUED", "PROCESSING"])):
            bulk.advance(batch.id, now)
    return len(overdue)


def prune_events(retention_days: float) -> int:
    """Delete events older than the retention (0 keeps them all); returns how many went."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    with database.connection_context(), write_transaction():
        return Event.delete().where(Event.created_at < cutoff).execute()


def run(stopping: threading.Event) -> None:
    retention_days = load().event_retention_days
    next_prune = 0.0
    while not stopping.wait(EVERY_S):
        try:
            count = sweep_once()
            if count:
                log.info("requeued pending messages", extra={"fields": {"count": count}})
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                pruned = prune_events(retention_days)
                if pruned:
                    log.info("pruned old events", extra={"fields": {"count": pruned}})
        except Exception:
            log.exception("sweep failed")

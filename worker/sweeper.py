"""Re-queues pending messages whose queue entry was lost (Redis restarted empty, a worker died holding
it, the broker was down when they were accepted). Runs beside the workers; harmless when it queues a
message twice, since delivery is idempotent."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading

from server import bulk, outbox
from server.db import database, utcnow
from server.models import Batch, Message

log = logging.getLogger("wagw.sweeper")

EVERY_S = 5.0
# A message whose queue entry should have run this long ago, and is still pending, is queued again.
OVERDUE = dt.timedelta(seconds=float(os.environ.get("WAGW_SWEEP_OVERDUE_S", "").strip() or 30))
BATCH = 500


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


def run(stopping: threading.Event) -> None:
    while not stopping.wait(EVERY_S):
        try:
            count = sweep_once()
            if count:
                log.info("requeued pending messages", extra={"fields": {"count": count}})
        except Exception:
            log.exception("sweep failed")

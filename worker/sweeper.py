"""The sweep beside the workers (server/core/jobs.py): every second it queues a wake-up for the durable jobs that
are due and free and whose wake-up went missing (the broker was down when they were queued, Redis restarted empty,
the worker holding them was killed), a profile's deliveries and webhook attempts alike. Harmless when it wakes a
job twice: a wake-up only claims the job's row. Once an hour it also prunes the event log."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from server.core import jobs, send_gate, webhook_deliveries
from server.core.config import Settings
from server.core.db import database, utcnow, write_transaction
from server.core.logs import fields
from server.core.models import Event

log = logging.getLogger("wagw.sweeper")

EVERY_S = 1.0
PRUNE_EVERY_S = 3600.0
KINDS = (send_gate.KIND, webhook_deliveries.KIND)


def sweep_once(overdue_s: float) -> int:
    """One sweep of every kind of job; returns how many wake-ups it queued."""
    queued = 0
    for kind in KINDS:
        count = jobs.sweep(kind, utcnow(), overdue_s)
        if count:
            log.info("queued jobs that waited", extra=fields(kind=kind.name, count=count))
        queued += count
    return queued


def prune_events(retention_days: float) -> int:
    """Delete events older than the retention (0 keeps them all); returns how many went."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    with database.connection_context(), write_transaction():
        return Event.delete().where(Event.created_at < cutoff).execute()


def run(stopping: threading.Event, settings: Settings) -> None:
    next_prune = 0.0
    while not stopping.wait(EVERY_S):
        try:
            sweep_once(settings.sweep_overdue_s)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                pruned = prune_events(settings.event_retention_days)
                if pruned:
                    log.info("pruned old events", extra=fields(count=pruned))
        except Exception:
            log.exception("sweep failed")

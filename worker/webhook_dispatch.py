"""The webhook dispatcher (DESIGN.md §7): a thread beside the workers (worker/runner.py) that follows the event log
from a cursor kept in the database (WebhookCursor) and writes one WebhookDelivery row per (event, matching active
webhook) in the transaction that moves the cursor, then wakes each webhook it made rows for: one wake-up per webhook
and pass, since a worker's lane for the webhook attempts all its due deliveries (worker/actors.py). Several
processes may run it: the rows are unique per (webhook, event) and inserted with "ignore", and the cursor only
moves forward.

It reads the log only up to the settled horizon (server/core/event_horizon.py), so the cursor never passes an
event whose transaction has yet to commit: every event gets its deliveries, once.

Attempts are durable jobs (server/core/jobs.py): the sweeper beside it (worker/sweeper.py) queues again those whose
wake-up was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from server.core import event_bus, event_filters, event_horizon
from server.core.db import Prepared, database, utcnow, write_statement, write_transaction
from server.core.ids import new_id
from server.core.models import Event, Webhook, WebhookCursor, WebhookDelivery
from server.core.webhook_deliveries import PENDING, TEST_EVENT, enqueue

log = logging.getLogger("wagw.webhooks")

CURSOR = "webhooks"
# Woken by the event bus when the horizon moves (the bus's tail keeps looking until an announced row is there),
# the dispatcher still looks every BACKSTOP_S (a lost wake-up); without the bus it polls every POLL_S. A pass when
# idle costs a connection and two reads (the horizon, the cursor): every 0.5 s, three were a third of an idle
# worker's CPU.
BACKSTOP_S = 2.0
POLL_S = 0.05
# Passes are at least this far apart: a busy gateway records hundreds of events a second, and a pass for each wake
# (several queries and a write to move the cursor, in every worker process) cost half a worker's CPU.
MIN_PASS_S = 0.05
BATCH = 500
ORPHANS_EVERY_S = 600.0


def wants(webhook: Webhook, event: Event) -> bool:
    """Whether an event goes to a webhook: its profile's (or any, for a global webhook), not older than the
    webhook, and passing its event filters."""
    if webhook.profile_id is not None and webhook.profile_id != event.profile_id:
        return False
    return event.created_at >= webhook.created_at and event_filters.matches(webhook.events, event.name)


# The statements of every pass, built into SQL once (server/core/db.py): building them was most of a pass's time.
_ACTIVE_WEBHOOKS = Prepared(lambda: Webhook.select(Webhook.id, Webhook.profile, Webhook.events, Webhook.created_at)
                            .where(Webhook.active == True))  # noqa: E712  (peewee expression)
# One delivery, unless another process made it already (unique per webhook and event): its row count says which.
_INSERT = Prepared(lambda delivery_id, webhook_id, event_id, event, profile_id, now: WebhookDelivery.insert(
    id=delivery_id, webhook_id=webhook_id, event_id=event_id, event=event, profile_id=profile_id, status=PENDING,
    attempts=[], round_attempts=0, next_attempt_at=now, queued_at=now, created_at=now, updated_at=now,
).on_conflict_ignore())
_EVENTS = Prepared(lambda after, horizon: Event.select(Event.id, Event.name, Event.profile_id, Event.created_at)
                   .where(Event.id > after, Event.id <= horizon).order_by(Event.id).limit(BATCH))
_CURSOR = Prepared(lambda: WebhookCursor.select(WebhookCursor.last_event_id).where(WebhookCursor.name == CURSOR))
_MOVE_CURSOR = Prepared(lambda cursor, now: WebhookCursor.update(last_event_id=cursor, updated_at=now).where(
    (WebhookCursor.name == CURSOR) & (WebhookCursor.last_event_id < cursor)))


class Dispatcher:
    """Follows the event log from the stored cursor, up to the horizon `settle` answers (a process's event tail,
    or a horizon of its own)."""

    def __init__(self, settle: Callable[[], int] | None = None) -> None:
        self.settle = settle or event_horizon.Horizon().settle

    def run_once(self) -> int:
        """One pass; returns how many events it read. The active webhooks are read after the horizon is settled, so
        after every event up to it committed, as before reading the events themselves: with none, the cursor passes
        those events unread (a webhook made later wants none of them: `wants`), one statement where a pass read
        the events and moved the cursor in a transaction."""
        horizon = self.settle()
        with database.connection_context():
            stored = self._stored_cursor()
            if horizon <= stored:
                return 0
            hooks = _ACTIVE_WEBHOOKS.all()
            if not hooks:
                with write_statement():
                    _MOVE_CURSOR.execute(horizon, utcnow())
                return 0
            rows = _EVENTS.all(stored, horizon)
            cursor = event_horizon.read_on(rows, stored, horizon, BATCH)
            made = self._dispatch(rows, hooks, stored, cursor, utcnow()) if cursor > stored else []
        enqueue(made)
        return len(rows)

    def _stored_cursor(self) -> int:
        row = _CURSOR.first()
        if row is not None:
            return row.last_event_id
        with write_transaction():
            WebhookCursor.insert(name=CURSOR, last_event_id=0).on_conflict_ignore().execute()
        return WebhookCursor.get(WebhookCursor.name == CURSOR).last_event_id

    def _dispatch(self, rows: list[Event], hooks: list[Webhook], stored: int, cursor: int, now: dt.datetime
                  ) -> list[str]:
        """Make the deliveries of `rows` to `hooks` and move the stored cursor, in one transaction; returns, for each
        webhook this call made deliveries for (another process may have made some of them already), the first."""
        fanned = [row for row in rows if row.name != TEST_EVENT]
        made: dict[str, str] = {}
        with write_transaction():
            for row in fanned:
                for hook in hooks:
                    if wants(hook, row):
                        delivery_id = new_id("whd")
                        if _INSERT.execute(delivery_id, hook.id, row.id, row.name, row.profile_id, now).rowcount:
                            made.setdefault(hook.id, delivery_id)
            if cursor > stored:
                _MOVE_CURSOR.execute(cursor, now)
        return list(made.values())


def remove_orphans() -> int:
    """Deliveries of webhooks deleted with their profile (webhook deletion itself removes them)."""
    with database.connection_context(), write_transaction():
        return WebhookDelivery.delete().where(
            WebhookDelivery.webhook_id.not_in(Webhook.select(Webhook.id))).execute()


def _follow_the_bus() -> tuple[event_bus.Tail, event_bus.Waiter] | None:
    """The process's event tail (server/core/event_bus.py), whose horizon the dispatcher shares, and a waiter it
    wakes when the log grows; None when the bus cannot be used: then the dispatcher keeps a horizon of its own
    and polls."""
    try:
        tail, waiter = event_bus.tail(), event_bus.Waiter()
        tail.add(waiter)
        return tail, waiter
    except Exception:
        log.warning("webhook dispatch: no event bus; polling the event log", exc_info=True)
        return None


def run(stopping: threading.Event) -> None:
    """The dispatcher's thread: follow the event log until `stopping`."""
    bus = _follow_the_bus()
    dispatcher = Dispatcher(bus[0].settle if bus else None)
    waiter = bus[1] if bus else None
    next_orphans = time.monotonic() + ORPHANS_EVERY_S
    while not stopping.is_set():
        busy = False
        began = time.monotonic()
        try:
            if waiter is not None:
                waiter.clear()  # before reading the log, so a wake during the pass is not missed
            busy = dispatcher.run_once() >= BATCH
            if time.monotonic() >= next_orphans:
                next_orphans = time.monotonic() + ORPHANS_EVERY_S
                remove_orphans()
        except Exception:
            log.exception("webhook dispatch failed")
            stopping.wait(1.0)
        if busy:
            continue
        if waiter is not None:
            waiter.wait(BACKSTOP_S)
            stopping.wait(MIN_PASS_S - (time.monotonic() - began))  # what comes meanwhile joins the next pass
        else:
            stopping.wait(POLL_S)

"""The per-profile send gate (DESIGN.md §5), kept in the database so that any number of workers share it: one
send in flight per profile, a minimum gap with jitter between sends, a daily cap, and pauses when WhatsApp pushes
back (rate-overlimit).

The gate's row is also the profile's delivery job (server/core/jobs.py): the worker holding its lease sends the
profile's waiting messages one at a time (worker/delivery.py), which is what makes "one in flight" true and keeps
a chat's messages in order. Whoever adds messages (server/core/lifecycle.py) marks the row due in the same
transaction (`add_work`), then queues a wake-up for it.

The daily cap counts the messages WhatsApp accepted (SENT) during the current UTC day: `sent_today`, kept in step
with each message's SENT transition. The lifecycle checks it when accepting a send; the gate applies it again when
sending (the cap lowered since, or messages carried over from the day before): a profile at its cap sends nothing
more until the next UTC day.

Every function takes `now` (and jitter its random source), so the rules are tested on an injected clock.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import peewee

from server.core import broker, jobs
from server.core.db import Prepared, database, with_ctes, write_transaction
from server.core.models import Profile, SendGate

KIND = jobs.Kind(
    name="deliveries", model=SendGate, key=SendGate.profile, due=SendGate.due_at, queued=SendGate.queued_at,
    leased_until=SendGate.leased_until, lease_owner=SendGate.lease_owner, version=SendGate.version,
    queue=broker.DELIVERY_QUEUE, actor="deliver",
)


def day_of(now: dt.datetime) -> str:
    return now.date().isoformat()


def next_day(now: dt.datetime) -> dt.datetime:
    """The next UTC midnight: when a daily cap resets."""
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time())


def _mark_due(profile_id: str, due: dt.datetime, wake: dt.datetime, today: Any = None, when: str = ""
              ) -> peewee.Insert:
    """The gate marked due by `due`; with `today`, one more message sent on that day counted too (`_count_sent`);
    with `when`, only if that SQL condition holds (`_upsert`)."""
    earlier = SendGate.due_at.is_null() | (SendGate.due_at > due)
    values = {SendGate.profile: profile_id, SendGate.due_at: due, SendGate.queued_at: wake, SendGate.version: 1}
    update = {
        SendGate.version: SendGate.version + 1,
        SendGate.due_at: peewee.Case(None, [(earlier, due)], SendGate.due_at),
        SendGate.queued_at: peewee.Case(None, [(earlier, wake)], SendGate.queued_at),
    }
    if today is not None:
        values |= {SendGate.day: today, SendGate.sent_today: 1}
        update |= _counted(today)
    return _upsert(values, update, when)


# A new gate row's columns as the model's defaults give them, for the inserts of a SELECT.
_DEFAULTS = {field: field.default for field in SendGate._meta.sorted_fields
             if field.default is not None and not callable(field.default)}


def _upsert(values: dict[peewee.Field, Any], update: dict[peewee.Field, Any], when: str = "") -> peewee.Insert:
    """The gate's row made with `values`, or changed by `update`. With `when` (SQL), only if it holds: an INSERT of
    a SELECT, a new row's other columns as the model's defaults give them, for a statement whose CTEs decide it."""
    if not when:
        return SendGate.insert(values).on_conflict(conflict_target=[SendGate.profile], update=update)
    row = {**_DEFAULTS, **values}
    return SendGate.insert_from(peewee.Select(None, list(row.values())).where(peewee.SQL(when)), list(row)).on_conflict(
        conflict_target=[SendGate.profile], update=update)


# Run on every accepted send, and every batch item sent: its SQL is built once (server/core/db.py). It answers the
# due time the row has after it, in the same statement (one round trip per send fewer than reading it first).
_MARK_DUE = Prepared(lambda profile_id, due, wake: _mark_due(profile_id, due, wake).returning(SendGate.due_at))
_MARK_DUE_COUNTING = Prepared(lambda profile_id, due, wake, today: _mark_due(profile_id, due, wake, today)
                              .returning(SendGate.due_at))


def add_work(profile_id: str, due: dt.datetime, now: dt.datetime, *, counting_sent: bool = False) -> bool:
    """Mark the profile's queue due by `due` (inside the transaction that adds the messages). In PostgreSQL this
    also locks the gate row until the transaction ends, so concurrent accepts of one profile count its cap one
    after the other. With `counting_sent`, the same statement does `count_sent(profile_id, now)` (a batch item sent,
    its next one scheduled: two changes of one row). Returns whether the caller must queue a wake-up (none was
    coming for so early)."""
    wake = jobs.wake_time(due, now)
    if counting_sent:
        [(after,)] = _MARK_DUE_COUNTING.execute(profile_id, due, wake, day_of(now)).fetchall()
    else:
        [(after,)] = _MARK_DUE.execute(profile_id, due, wake).fetchall()
    # Marked due at `due` by this call (or due at that very moment already: one wake-up more, which is harmless),
    # rather than due earlier, with its wake-up on the way.
    return SendGate.due_at.python_value(after) == due


def add_work_carrying(profile_id: str, due: dt.datetime, now: dt.datetime, insert: tuple[str, list[Any]]) -> bool:
    """add_work and an INSERT (SQL and parameters: db.insert_statement) in one statement, on PostgreSQL only: the
    insert is a data-modifying CTE beside the gate's mark, so that outside a transaction both commit together in
    one round trip, where BEGIN, the mark, the insert and COMMIT were four."""
    ctes_sql, params = with_ctes(("gate", _MARK_DUE.statement(profile_id, due, jobs.wake_time(due, now))),
                                 ("carried", insert))
    [(after,)] = database.execute_sql(f"{ctes_sql}SELECT * FROM gate", params).fetchall()
    return SendGate.due_at.python_value(after) == due


def wake(profile_id: str, due: dt.datetime, now: dt.datetime) -> None:
    """Queue the wake-up `add_work` asked for (after the transaction committed)."""
    jobs.enqueue(KIND, [profile_id], due, now)


def sent_today(gate: SendGate | None, now: dt.datetime) -> int:
    return gate.sent_today if gate is not None and gate.day == day_of(now) else 0


def _counted(today: Any) -> dict[peewee.Field, Any]:
    """The gate's update for one more message sent on `today`: the count restarts on a new day."""
    return {SendGate.sent_today: peewee.Case(None, [(SendGate.day == today, SendGate.sent_today + 1)], 1),
            SendGate.day: today}


def _count_sent(profile_id: str, today: str, when: str = "") -> peewee.Insert:
    return _upsert({SendGate.profile: profile_id, SendGate.day: today, SendGate.sent_today: 1}, _counted(today), when)


def _count_sent_moved(today: Any) -> peewee.Insert:
    """`_count_sent` of each row of the CTE `moved` (its profile_id)."""
    moved = peewee.Table("moved")
    values = {**_DEFAULTS, SendGate.profile: moved.c.profile_id, SendGate.day: today, SendGate.sent_today: 1}
    return SendGate.insert_from(peewee.Select((moved,), list(values.values())), list(values)).on_conflict(
        conflict_target=[SendGate.profile], update=_counted(today))


# Run on every delivered message.
_COUNT_SENT = Prepared(_count_sent, arity=2)
_COUNT_SENT_MOVED = Prepared(_count_sent_moved)
# A batch item's record on PostgreSQL (`after_scheduling`, `after_sending`): the statement's CTE `scheduled` says
# whether the next item got its time, and `moved` whether the item was sent.
_SCHEDULED = "EXISTS (SELECT 1 FROM scheduled)"
_SENT_UNSCHEDULED = "EXISTS (SELECT 1 FROM moved) AND NOT EXISTS (SELECT 1 FROM scheduled)"
_MARK_DUE_IF_SCHEDULED = Prepared(lambda profile_id, due, wake: _mark_due(profile_id, due, wake, when=_SCHEDULED))
_MARK_DUE_COUNTING_IF_SCHEDULED = Prepared(lambda profile_id, due, wake, today: _mark_due(
    profile_id, due, wake, today, when=_SCHEDULED))
_COUNT_SENT_IF_UNSCHEDULED = Prepared(lambda profile_id, today: _count_sent(profile_id, today, when=_SENT_UNSCHEDULED))
_NEXT_AT = Prepared(lambda next_at, profile_id: SendGate.update(next_at=next_at).where(SendGate.profile == profile_id))


def count_sent(profile_id: str, now: dt.datetime) -> None:
    """One more message sent today (inside the transaction that records it SENT)."""
    _COUNT_SENT.execute(profile_id, day_of(now))


def count_sent_moved(now: dt.datetime) -> tuple[str, list[Any]]:
    """PostgreSQL only: `count_sent` of each row of a CTE named `moved` (its profile_id column), as SQL and
    parameters for the statement that carries it beside the move it counts (lifecycle's `sent` of a single send)."""
    return _COUNT_SENT_MOVED.statement(day_of(now))


def after_scheduling(profile_id: str, due: dt.datetime, now: dt.datetime) -> list[tuple[str, tuple[str, list[Any]]]]:
    """PostgreSQL only: `add_work` once a batch's next item was given its time `due`, as a named CTE (db.with_ctes)
    for the statement whose CTE `scheduled` gives it (a row when it did)."""
    return [("marked", _MARK_DUE_IF_SCHEDULED.statement(profile_id, due, jobs.wake_time(due, now)))]


def after_sending(profile_id: str, due: dt.datetime, now: dt.datetime) -> list[tuple[str, tuple[str, list[Any]]]]:
    """PostgreSQL only: the gate's changes once a batch item was sent (the statement's CTE `moved` has a row) and
    its batch's next item given its time `due` (`scheduled` has a row), as named CTEs (db.with_ctes): the queue
    marked due then with the day's count in the same change (`add_work`); the count alone (`count_sent`) when no
    item was scheduled (the batch ended)."""
    return [("marked", _MARK_DUE_COUNTING_IF_SCHEDULED.statement(profile_id, due, jobs.wake_time(due, now),
                                                                 day_of(now))),
            ("counted", _COUNT_SENT_IF_UNSCHEDULED.statement(profile_id, day_of(now)))]


def ready_at(gate: SendGate, profile: Profile, now: dt.datetime) -> dt.datetime:
    """When the gate lets the profile's next message go: `now` if it may go now; else the end of the gap after
    the last send, of WhatsApp's pause, or of the day (at the daily cap)."""
    ready = max(gate.next_at or now, gate.paused_until or now, now)
    if profile.daily_cap and sent_today(gate, now) >= profile.daily_cap:
        ready = max(ready, next_day(now))
    return ready


def gap(profile: Profile, rng: random.Random | None = None) -> dt.timedelta:
    """The pause after a send: the profile's minimum gap plus a uniform 0..jitter."""
    jitter = (rng or random).randint(0, profile.jitter_ms) if profile.jitter_ms else 0
    return dt.timedelta(milliseconds=profile.min_gap_ms + jitter)


def attempted(profile: Profile, now: dt.datetime, rng: random.Random | None = None) -> dt.datetime:
    """A send was attempted (by the lease holder): the next one waits the profile's gap. Returns when it may go.
    Without a gap nothing is written (a write transaction per delivered message): the gate's `next_at` already let
    this send go, so it lets the next one go as well."""
    pause = gap(profile, rng)
    if pause:
        with write_transaction():
            _NEXT_AT.execute(now + pause, profile.id)
    return now + pause


def pause(profile: Profile, until: dt.datetime, reason: str) -> None:
    """Hold every send of the profile until `until` (WhatsApp said rate-overlimit)."""
    with write_transaction():
        SendGate.update(paused_until=until, pause_reason=reason).where(SendGate.profile == profile.id).execute()

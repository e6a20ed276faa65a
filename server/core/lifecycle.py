"""The message lifecycle (DESIGN.md §5, §6): every change of a Message's status and of a Batch's counters
happens here, with the events that go with it, each in one transaction. No other module writes them.

    accept ─► PENDING ─ hand over ─► (handed) ─ dispatch ─► (dispatched) ─ sent ─► SENT ─► DELIVERED ─► READ
                 │                        │                      └─ refused before it left: undispatch
                 │                        └─ refused before it left: unhand (PENDING again)
                 ├─ cancel (a batch's items not yet handed) ─► CANCELLED
                 └─ failed ─► FAILED          (WhatsApp may also report FAILED after SENT)

A worker hands a message over to an engine host; the engine host dispatches it (marks it given to WhatsApp)
just before the engine call. A message found dispatched but still PENDING has an unknown outcome: what follows
is the profile's delivery guarantee (server/core/delivery_guarantee.py), OUTCOME_UNKNOWN being one reason to fail.
    an incoming message ─► RECEIVED

Events: `message.ack` for SENT, DELIVERED, READ and FAILED; `bulk.progress` when an item of a batch is sent,
fails or is cancelled; `bulk.finished` when a batch ends (COMPLETED, FAILED with stopOnError, CANCELLED).

Conversations change messages after they were sent or received, whoever made the change (the profile through
the gateway, or the other side): a reaction (`message.reaction`, one per person, a new one replacing theirs, an
empty emoji removing it), an edit of a text within WhatsApp's window (`message.edited`: the text replaced, the old
one kept), a revoke (`message.revoked`: deleted for everyone; the content stays readable here), a deletion for the
profile only, a received message marked read, and a poll vote (`poll.vote`: each voter's latest vote counts).

A batch's items go out in order: only the next item has a time (`not_before`), set when the item before it is
sent or fails, one gap later (`gap_s`: delayBetweenMessages, plus 0-50% with randomizeDelay). Cancelling a
batch cancels the items not yet handed to the engine; an item in flight ends as its send does.

Single sends wait in the order they were accepted, and a profile's worker sends the oldest first (`next_to_send`),
one at a time: a chat's messages go out in order, across workers and retries. A message that fails or is
cancelled stops holding the later ones back; trouble that holds one (a disconnected profile, WhatsApp's rate
limit) holds the whole profile anyway.

Daily cap, one rule for single and bulk sends: a profile sends at most `dailyCap` messages per UTC day. Accepting
n more is refused (RATE_LIMITED, with resetAt) when the messages sent today plus those still waiting (whenever
they are due) plus n would pass it; a batch is accepted whole or not at all. At send time the gate applies the cap
again (server/core/send_gate.py).

Every function takes `now` (and the random source of the pacing), so the rules are tested on an injected clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from collections.abc import Iterable
from typing import Any

import peewee

from server.core import events, jobs, send_gate
from server.core.content import MEDIA_KINDS
from server.core.db import (
    CommitGroup,
    Prepared,
    database,
    insert_rows,
    insert_statement,
    is_sqlite,
    utcnow,
    with_ctes,
    write_statement,
    write_transaction,
)
from server.core.errors import ApiError, conflict, invalid, not_found
from server.core.ids import new_id
from server.core.models import Batch, Event, Message, Profile, SendGate

TERMINAL = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
# Item statuses that count as "sent" in a batch's progress (delivered and read are counted as well).
_SENT = frozenset({"SENT", "DELIVERED", "READ"})
# How long the first send of a batch is expected to take, for the estimate.
_SEND_ESTIMATE_S = 0.5
# randomizeDelay adds up to this share of the delay to each gap.
RANDOM_SHARE = 0.5
# WhatsApp lets a sender edit a text for 15 minutes after sending it, and delete it for everyone for about two days.
EDIT_WINDOW = dt.timedelta(minutes=15)
REVOKE_WINDOW = dt.timedelta(days=2)
_DONE = frozenset({"SENT", "DELIVERED", "READ"})

_random = random.Random()


def _store_sends(profile_id: str, rows: list[dict[str, Any]]) -> list[bool]:
    """Plain sends of a profile (no daily cap, no idempotency key) accepted at the same time: its gate marked due
    once and their rows inserted in one statement, both in one on PostgreSQL (send_gate.add_work_carrying), in a
    transaction on SQLite. Answers, for each, whether its caller must queue the wake-up (the first one at most)."""
    due = min(row["created_at"] for row in rows)
    if is_sqlite() or len(rows) * len(rows[0]) > _MAX_CARRIED_VALUES:
        with write_transaction():
            wake = send_gate.add_work(profile_id, due, due)
            insert_rows(Message, rows)
    else:
        wake = send_gate.add_work_carrying(profile_id, due, due, insert_statement(Message, rows))
    return [wake] + [False] * (len(rows) - 1)


# PostgreSQL takes at most 65,535 values in one statement; a group of sends is far below it (one per RPC thread).
_MAX_CARRIED_VALUES = 60_000
# Single sends accepted at the same time are stored together (server/core/db.py): a group of plain sends alone in
# one statement, on PostgreSQL outside a transaction.
_accepts = CommitGroup(_store_sends, atomic_flush=True)

# The statements of every delivered message (a worker's step, the engine host's send and receipts): their SQL is
# built once (server/core/db.py).
# A profile's next messages, from the partial indexes of waiting messages (server/core/models.py): the status is
# written into the SQL, not passed as a value, since a plan made for any value could not use them. The single
# sends' lookup is ordered by batch_id too (NULL in every row it matches) so that its ORDER BY is the index's own:
# PostgreSQL does not count `IS NULL` as an equality that would let it skip the column.
_WAITING = peewee.SQL("'PENDING'")
# The columns a step uses of the message it sends (the engine host reads the whole row itself): a whole row's content,
# mentions, reactions and edits are JSON, which a worker decoded four times a step (two lookups, and two more for
# the next message after a batch item).
_STEP_COLUMNS = (Message.id, Message.profile, Message.chat_id, Message.batch_id, Message.wa_message_id,
                 Message.created_at, Message.not_before)
# The next single send and the next batch item, in one statement (a step looks twice: before its send and, for a
# batch item, after it), each a SELECT of its own in the UNION, read from its own index.
_NEXT = Prepared(lambda profile_id: Message.select(*_STEP_COLUMNS).where(
    (Message.profile == profile_id) & (Message.status == _WAITING) & Message.batch_id.is_null())
    .order_by(Message.batch_id, Message.created_at, Message.id).limit(1)
    .union_all(Message.select(*_STEP_COLUMNS).where(
        (Message.profile == profile_id) & (Message.status == _WAITING) & Message.not_before.is_null(False))
        .order_by(Message.not_before, Message.batch_index).limit(1)))
# A receipt's message when its move did not happen (below): the columns a receipt reads, not the whole row (its
# content, mentions, reactions and edits are JSON to decode).
_OUTBOUND_BY_WA_ID = Prepared(lambda profile_id, wa_message_id: Message.select(
    Message.id, Message.profile, Message.chat_id, Message.status, Message.batch_id).where(
    (Message.profile == profile_id) & (Message.wa_message_id == wa_message_id) & (Message.direction == "OUTBOUND"))
    .limit(1))


def _hand_over(now: Any, message_id: Any) -> peewee.Update:
    return Message.update(handed_at=now, attempts=Message.attempts + 1, updated_at=now).where(
        (Message.id == message_id) & (Message.status == "PENDING"))


def _batch_handed(now: Any, batch_id: Any) -> peewee.Update:
    """An item handed over starts its batch, if it was QUEUED: on every item, as the statement that takes the
    batch's lock (`_lock_batch`) in the hand-over's transaction."""
    return Batch.update(
        status=peewee.Case(None, [(Batch.status == "QUEUED", "PROCESSING")], Batch.status),
        started_at=peewee.Case(None, [(Batch.status == "QUEUED", now)], Batch.started_at),
        updated_at=peewee.Case(None, [(Batch.status == "QUEUED", now)], Batch.updated_at)).where(Batch.id == batch_id)


# Each also under a worker's lease on the profile's delivery job, checked by the statement itself (`hand_over`).
_HAND_OVER = Prepared(_hand_over)
_HAND_OVER_HELD = Prepared(lambda now, message_id, profile_id: _hand_over(now, message_id).where(
    jobs.held_here(send_gate.KIND, profile_id)))
_BATCH_HANDED = Prepared(_batch_handed)
_BATCH_HANDED_HELD = Prepared(lambda now, batch_id, profile_id: _batch_handed(now, batch_id).where(
    jobs.held_here(send_gate.KIND, profile_id)))
# On PostgreSQL a batch item's hand-over is one statement (`_hand_over_item_in_one`): the batch's update as a CTE
# (`started`), the item's update only once that has taken the batch's row (the EXISTS is evaluated on the item's row
# before the item is locked, so the batch's lock still comes first).
_STARTED = Prepared(lambda now, batch_id: _batch_handed(now, batch_id).returning(Batch.id))
_STARTED_HELD = Prepared(lambda now, batch_id, profile_id: _batch_handed(now, batch_id).where(
    jobs.held_here(send_gate.KIND, profile_id)).returning(Batch.id))
_HANDED_AFTER_STARTED = Prepared(lambda now, message_id: _hand_over(now, message_id).where(
    peewee.SQL("EXISTS (SELECT 1 FROM started)")).returning(Message.id))
def _dispatch(now: Any, message_id: Any) -> peewee.ModelUpdate:
    return Message.update(dispatched_at=now, updated_at=now).where(
        (Message.id == message_id) & (Message.status == "PENDING") & Message.dispatched_at.is_null())


_DISPATCH = Prepared(_dispatch)
# The mark that reads the message too (`dispatch_reading`): only one of the profile's, with no media to fetch first.
_DISPATCH_READING = Prepared(lambda now, message_id, profile_id: _dispatch(now, message_id).where(
    (Message.profile == profile_id) & Message.type.not_in(list(MEDIA_KINDS))).returning(Message))


def _sent_update(wa_message_id: Any, sent_at: Any, message_id: Any) -> peewee.ModelUpdate:
    return Message.update(status="SENT", wa_message_id=wa_message_id, sent_at=sent_at, updated_at=sent_at,
                          error="").where((Message.id == message_id) & (Message.status == "PENDING"))


_SENT_UPDATE = Prepared(_sent_update)
# On PostgreSQL a single send's `sent` is one statement (`_sent_in_one`), fed by the move's RETURNING.
_SENT_MOVED = Prepared(lambda wa_message_id, sent_at, message_id: _sent_update(
    wa_message_id, sent_at, message_id).returning(Message.id, Message.profile, Message.chat_id))
# A batch's lock (`_lock_batch`). On PostgreSQL a sent batch item's move takes it in the same statement: the lock as
# a CTE (`locked`, which reads the status the batch had, to tell whether this item ends it), the item's update only
# once it is taken (the EXISTS is evaluated on the item's row before the item is locked, as in the hand-over).
_LOCK_BATCH = Prepared(lambda batch_id: Batch.select(Batch.id, Batch.status).where(Batch.id == batch_id)
                       .for_update())
_SENT_AFTER_LOCKED = Prepared(lambda wa_message_id, sent_at, message_id: _sent_update(
    wa_message_id, sent_at, message_id).where(peewee.SQL("EXISTS (SELECT 1 FROM locked)")).returning(
    Message.id, Message.profile, Message.chat_id, Message.batch_id))
# A DELIVERED or READ receipt moves its message, found by its WhatsApp id, from a status it may come from, and
# reads back what the batch's counters and the event need: one statement where a lookup and a move were two, for two
# of every sent message's events. The statuses it may come from are tried in the order receipts usually arrive (a
# READ after its DELIVERED). Receipts only move a message forward: a late DELIVERED never undoes READ.
_RECEIPT_COLUMNS = (Message.id, Message.profile, Message.chat_id, Message.batch_id)


def _move(status: str, old: str, *stamped: str) -> Prepared:
    """The receipt's move from `old` to `status`, `stamped` columns set to its time."""
    return Prepared(lambda now, profile_id, wa_message_id: Message.update(
        status=status, updated_at=now, **dict.fromkeys(stamped, now)).where(
        (Message.profile == profile_id) & (Message.wa_message_id == wa_message_id)
        & (Message.direction == "OUTBOUND") & (Message.status == old)).returning(*_RECEIPT_COLUMNS))


_RECEIPT_MOVES = {
    "DELIVERED": (("SENT", _move("DELIVERED", "SENT", "delivered_at")),),
    "READ": (("DELIVERED", _move("READ", "DELIVERED", "read_at")),
             ("SENT", _move("READ", "SENT", "delivered_at", "read_at"))),
}
# A FAILED receipt (at any time) moves a message from the status it was read in (`old`), its batch locked first.
_RECEIPT_FAILED = Prepared(lambda now, error, message_id, old: Message.update(
    status="FAILED", updated_at=now, error=error).where((Message.id == message_id) & (Message.status == old)))


def _counts(sent: Any, delivered: Any, read: Any, failed: Any, cancelled: Any, now: Any) -> peewee.ModelUpdate:
    return Batch.update(
        sent=Batch.sent + sent, delivered=Batch.delivered + delivered, read=Batch.read + read,
        failed=Batch.failed + failed, cancelled=Batch.cancelled + cancelled, updated_at=now)


def _count_items(sent: Any, delivered: Any, read: Any, failed: Any, cancelled: Any, now: Any, batch_id: Any
                 ) -> peewee.ModelUpdate:
    return _counts(sent, delivered, read, failed, cancelled, now).where(Batch.id == batch_id)


# A receipt changes the counters only; an item that leaves the queue reads the batch back from the same statement
# (its progress, whether it ended, the gap before the next item) instead of with another one.
_BATCH_COUNTS = Prepared(_count_items)
_BATCH_COUNTS_READ = Prepared(lambda *values: _count_items(*values).returning(Batch), arity=7)
# A batch ends (unless it has already), read back from the same statement.
_BATCH_FINISHED = Prepared(lambda status, now, batch_id: Batch.update(
    status=status, finished_at=now, updated_at=now).where(
    (Batch.id == batch_id) & Batch.status.not_in(list(TERMINAL))).returning(Batch))
# The batch's next waiting item gets its time, unless it has one already: one statement, found and set.
def _schedule_next(at: Any, batch_id: Any, passing: Any = None) -> peewee.ModelUpdate:
    waiting = (Message.batch_id == batch_id) & (Message.status == _WAITING)
    if passing is not None:
        waiting &= Message.id != passing
    return Message.update(not_before=at).where(
        (Message.id == Message.select(Message.id).where(waiting).order_by(Message.batch_index).limit(1))
        & Message.not_before.is_null())


_SCHEDULE_NEXT = Prepared(lambda at, batch_id: _schedule_next(at, batch_id))
# On PostgreSQL the CTE `scheduled` of `_schedule_and_record`'s statement: a row when it set the time.
_SCHEDULED_NEXT = Prepared(lambda at, batch_id: _schedule_next(at, batch_id).returning(Message.id))
_MOVED = peewee.Table("moved")


def _counted_after_moved(*values: Any) -> peewee.ModelUpdate:
    """The counters of the batch of each row of the CTE `moved` (its batch_id)."""
    return _counts(*values).from_(_MOVED).where(Batch.id == _MOVED.c.batch_id)


# On PostgreSQL a receipt's counters (`_receipt_in_one`).
_COUNTED_AFTER_MOVED = Prepared(_counted_after_moved, arity=6)


def _sent_item_totals(now: Any) -> peewee.ModelUpdate:
    """PostgreSQL: a sent item's count on its batch (the CTE `moved`), ending the batch as `_item_changed` ends it
    when no item is left to send (unless it has ended already), the batch read back."""
    ends = Batch.status.not_in(sorted(TERMINAL)) & (Batch.sent + 1 + Batch.failed + Batch.cancelled >= Batch.total)
    end_status = peewee.Case(None, [(Batch.stop_on_error & (Batch.failed > 0), "FAILED")], "COMPLETED")
    return Batch.update(
        sent=Batch.sent + 1, updated_at=now, status=peewee.Case(None, [(ends, end_status)], Batch.status),
        finished_at=peewee.Case(None, [(ends, now)], Batch.finished_at),
    ).from_(_MOVED).where(Batch.id == _MOVED.c.batch_id).returning(Batch)


_SENT_ITEM_TOTALS = Prepared(_sent_item_totals)
# On PostgreSQL the next item's time in a sent item's statement (`_sent_item_in_one`): the item it moved is still
# PENDING to the statement's other parts, so it is passed by; none once the batch has ended (the CTE `totals`).
_TERMINAL_SQL = ", ".join(f"'{status}'" for status in sorted(TERMINAL))
_SCHEDULED_AFTER_SENT = Prepared(lambda at, batch_id, moved_id: _schedule_next(at, batch_id, moved_id).where(
    peewee.SQL(f'EXISTS (SELECT 1 FROM totals WHERE totals."status" NOT IN ({_TERMINAL_SQL}))')).returning(Message.id))
# ... and the batch once this item ended it: ended by `totals`, not before (`locked` read the status before).
_ENDED_BY_SENT = (f'SELECT totals.* FROM totals, locked WHERE locked."status" NOT IN ({_TERMINAL_SQL}) '
                  f'AND totals."status" IN ({_TERMINAL_SQL})', [])


# Accepting


def accept_message(profile: Profile, *, chat_id: str, type_name: str, content: dict[str, Any], reply_to: str = "",
                   mentions: list[str] | None = None, idempotency_key: str = "", now: dt.datetime | None = None
                   ) -> Message:
    """Store one outbound message (PENDING) and wake the profile's queue. A repeated idempotency key returns the
    message the first request made."""
    now = now or utcnow()
    if idempotency_key:
        first = _by_key(profile, idempotency_key)
        if first is not None:
            return first

    row = Message(
        id=new_id("msg"), profile=profile.id, chat_id=chat_id, direction="OUTBOUND", type=type_name,
        content=content, status="PENDING", reply_to=reply_to, mentions=mentions or [],
        idempotency_key=idempotency_key or None, created_at=now, updated_at=now,
    )

    def store() -> bool:
        wake = send_gate.add_work(profile.id, now, now)
        check_daily_cap(profile, 1, now)
        insert_rows(Message, [row.__data__])
        return wake

    try:
        # Committed, with the sends accepted meanwhile. One that may be refused after its first write (the daily
        # cap) or meet a duplicate key runs in a savepoint of its own; the others are stored together.
        if profile.daily_cap or idempotency_key:
            wake = _accepts.run(store, key=profile.id)
        else:
            wake = _accepts.add(row.__data__, key=profile.id)
    except peewee.IntegrityError:  # the same key, raced by a concurrent retry; or the profile deleted meanwhile
        first = _by_key(profile, idempotency_key) if idempotency_key else None
        if first is not None:
            return first
        if not Profile.select().where(Profile.id == profile.id).exists():
            raise not_found("profile", profile.id) from None
        raise
    if wake:
        send_gate.wake(profile.id, now, now)
    return row


def _by_key(profile: Profile, key: str) -> Message | None:
    return Message.get_or_none((Message.profile == profile.id) & (Message.idempotency_key == key))


def accept_batch(profile: Profile, items: list[dict[str, Any]], *, delay_ms: int, randomize: bool,
                 stop_on_error: bool, start_at: dt.datetime | None, idempotency_key: str,
                 now: dt.datetime | None = None) -> Batch:
    """Store a batch and all its items (PENDING) in one transaction, the first item scheduled at the start time
    (or now), and wake the profile's queue for then. Refused whole when it does not fit in the daily cap."""
    now = now or utcnow()
    first_at = max(start_at or now, now)
    average_gap = delay_ms / 1000 * (1 + RANDOM_SHARE / 2 if randomize else 1.0)
    with write_transaction():
        wake = send_gate.add_work(profile.id, first_at, now)
        check_daily_cap(profile, len(items), now)
        batch = Batch.create(
            id=new_id("bat"), profile=profile.id, total=len(items), delay_ms=delay_ms, randomize_delay=randomize,
            stop_on_error=stop_on_error, start_at=start_at, idempotency_key=idempotency_key or None,
            created_at=now, updated_at=now,
            estimated_end_at=first_at + dt.timedelta(seconds=(len(items) - 1) * average_gap + _SEND_ESTIMATE_S),
        )
        insert_rows(Message, [{
            "id": new_id("msg"), "profile": profile.id, "chat_id": item["chat_id"], "direction": "OUTBOUND",
            "type": item["type"], "content": item["content"], "status": "PENDING", "error": "", "reply_to": "",
            "mentions": [], "sender": "", "attempts": 0, "batch_id": batch.id, "batch_index": index,
            "not_before": first_at if index == 0 else None, "created_at": now, "updated_at": now,
        } for index, item in enumerate(items)])
    if wake:
        send_gate.wake(profile.id, first_at, now)
    return batch


def check_daily_cap(profile: Profile, count: int, now: dt.datetime) -> None:
    """RATE_LIMITED when `count` more messages would not fit in today's cap: the messages sent today, plus those
    waiting to go out, plus these."""
    if not profile.daily_cap:
        return
    sent = send_gate.sent_today(SendGate.get_or_none(SendGate.profile == profile.id), now)
    waiting = Message.select().where((Message.profile == profile.id) & (Message.status == _WAITING)
                                     & (Message.direction == "OUTBOUND")).count()
    room = profile.daily_cap - sent - waiting
    if count <= room:
        return
    reset = send_gate.next_day(now).isoformat() + "Z"
    usage = f"{sent} sent today and {waiting} waiting to go out"
    if count == 1:
        message = (f"profile '{profile.id}' reached its daily cap of {profile.daily_cap} messages ({usage}); "
                   f"it resets at {reset}")
    else:
        message = (f"the batch of {count} messages does not fit in the daily cap of profile '{profile.id}' "
                   f"({profile.daily_cap} messages, {usage}): {max(room, 0)} more can be accepted today; "
                   f"it resets at {reset}")
    raise ApiError("RATE_LIMITED", message, resetAt=reset)


# Sending


def next_to_send(profile_id: str, now: dt.datetime) -> tuple[Message | None, dt.datetime | None]:
    """The profile's message to send now, if any: the oldest waiting single send, or a batch item whose time has
    come, whichever waits longer. Otherwise None, and when the next batch item's time comes (None: nothing
    waits). Only the columns a send's step uses are read (`_STEP_COLUMNS`)."""
    found = _NEXT.all(profile_id)
    single = next((row for row in found if row.batch_id is None), None)
    item = next((row for row in found if row.batch_id is not None), None)
    due = []
    if single is not None:  # due at once (its created_at may be a little ahead: another server's clock)
        due.append((min(single.created_at, now), single))
    if item is not None and item.not_before <= now:
        due.append((item.not_before, item))
    if due:
        return min(due, key=lambda pair: pair[0])[1], None
    return None, item.not_before if item is not None else None


def hand_over(message: Message, now: dt.datetime, lease: jobs.Lease | None = None) -> bool:
    """Mark a message as handed to the engine (from now on a batch cancel leaves it alone). False when it is not
    PENDING any more (sent meanwhile, or cancelled). With `lease` (a worker's step: its profile's delivery job),
    only while this process holds it, else LeaseLost: the lease is a condition of the first UPDATE (and looked up
    only when it changed nothing), so a single send is one statement, which on PostgreSQL is one round trip where
    BEGIN, the lease's check, the update and COMMIT were four."""
    if not message.batch_id:
        with write_statement():
            handed = (_HAND_OVER_HELD.execute(now, message.id, message.profile_id) if lease is not None
                      else _HAND_OVER.execute(now, message.id)).rowcount
        if not handed and lease is not None:
            jobs.verify(lease)  # not PENDING, or the lease lost
        return bool(handed)
    if not is_sqlite():
        return _hand_over_item_in_one(message, now, lease)
    with write_transaction():
        # Before the item, whether it is handed or not: an item of a QUEUED batch is PENDING, unless a concurrent
        # hand-over took it, which starts the batch as well.
        if lease is None:
            _BATCH_HANDED.execute(now, message.batch_id)
        elif not _BATCH_HANDED_HELD.execute(now, message.batch_id, message.profile_id).rowcount:
            jobs.verify(lease)  # the batch deleted meanwhile, or the lease lost
        return bool(_HAND_OVER.execute(now, message.id).rowcount)


def _hand_over_item_in_one(message: Message, now: dt.datetime, lease: jobs.Lease | None) -> bool:
    """PostgreSQL: `hand_over` of a batch item in one statement, outside a transaction (one round trip where BEGIN
    with the batch's update, the item's and COMMIT were three): the batch's update, under the lease if any, then the
    item's, as CTEs; LeaseLost when the batch's did not happen and the lease is gone."""
    started = (_STARTED_HELD.statement(now, message.batch_id, message.profile_id) if lease is not None
               else _STARTED.statement(now, message.batch_id))
    ctes_sql, params = with_ctes(("started", started), ("handed", _HANDED_AFTER_STARTED.statement(now, message.id)))
    with write_statement():
        [(started_count, handed)] = database.execute_sql(
            f"{ctes_sql}SELECT (SELECT count(*) FROM started), (SELECT count(*) FROM handed)", params).fetchall()
    if not started_count and lease is not None:
        jobs.verify(lease)  # the batch deleted meanwhile, or the lease lost
    return bool(handed)


def unhand(message: Message, now: dt.datetime) -> None:
    """The engine refused the message before it left (the profile was not connected, WhatsApp's rate limit): it
    was not handed after all. An item of a batch that ended meanwhile (cancelled) is cancelled now."""
    with write_transaction():
        _lock_batch(message.batch_id)
        Message.update(handed_at=None, updated_at=now).where(
            (Message.id == message.id) & (Message.status == "PENDING")).execute()
        if message.batch_id:
            batch = Batch.get_or_none(Batch.id == message.batch_id)
            if batch is not None and batch.status in TERMINAL and _cancel_waiting(batch, now, [message.id]):
                events.record("bulk.progress", batch.profile_id, {"batchId": batch.id,
                                                                  **progress(Batch.get_by_id(batch.id))})


def dispatch(message_id: str, now: dt.datetime) -> bool:
    """Mark a PENDING message as given to WhatsApp, before the engine call (one conditional UPDATE, committed
    before WhatsApp hears of it). False when it was marked already: an earlier send of it has an outcome nobody
    recorded (server/core/delivery_guarantee.py)."""
    with write_statement():
        return bool(_DISPATCH.execute(now, message_id).rowcount)


def dispatch_reading(message_id: str, profile_id: str, now: dt.datetime) -> Message | None:
    """`dispatch` of a message of `profile_id` whose type carries no media (nothing to fetch before it goes out),
    answering the message it marked, read by the same statement: one round trip where the read and the mark were
    two. None when it marked nothing: not such a message, or not PENDING and never given to WhatsApp (`dispatch`
    says False) — the caller reads it, to learn which."""
    with write_statement():
        return _DISPATCH_READING.first(now, message_id, profile_id)


def undispatch(message_id: str, now: dt.datetime) -> None:
    """The engine refused the message before it left (its answer is known): it was not given to WhatsApp."""
    with write_statement():
        Message.update(dispatched_at=None, updated_at=now).where(
            (Message.id == message_id) & (Message.status == "PENDING")).execute()


def sent(message: Message, wa_message_id: str, sent_at: dt.datetime, rng: random.Random | None = None) -> bool:
    """WhatsApp accepted the message (`sent_at`: when it was handed to WhatsApp), as read before its send (only its
    profile, chat and batch are used: they never change). False when it was recorded already (a repeated send), or
    deleted meanwhile.

    On PostgreSQL it is one statement: `_sent_in_one` for a single send, `_sent_item_in_one` for a batch item."""
    if not is_sqlite() and message.batch_id:
        return _sent_item_in_one(message, wa_message_id, sent_at, rng)
    if not is_sqlite():
        return _sent_in_one(message, wa_message_id, sent_at)
    with write_transaction():
        if not _SENT_UPDATE.execute(wa_message_id, sent_at, message.id).rowcount:
            return False
        recorded, next_at = _item_changed(message, "PENDING", "SENT", sent_at, rng)
        _schedule_and_record(message, next_at, sent_at, [_ack(message, "SENT", wa_message_id), *recorded],
                             counting_sent=True)
    return True


def _sent_in_one(message: Message, wa_message_id: str, sent_at: dt.datetime) -> bool:
    """PostgreSQL: `sent` of a single send (no batch, no next item) in one statement, where BEGIN, the move, the
    day's count, the ack and COMMIT were five round trips: the count and the ack are data-modifying CTEs fed by the
    move's RETURNING, writing the rows `sent` writes on SQLite (the item's row locked, then its gate's)."""
    ctes_sql, params = with_ctes(("moved", _SENT_MOVED.statement(wa_message_id, sent_at, message.id)),
                                 ("counted", send_gate.count_sent_moved(sent_at)),
                                 ("acked", events.insert_per_row(_acks("SENT", wa_message_id))))
    with write_statement():
        acked = database.execute_sql(f"{ctes_sql}SELECT * FROM acked", params).fetchall()
    if not acked:
        return False
    events.announce(acked[0][0])
    return True


def _acks(status: str, wa_message_id: str) -> tuple[str, str, str, list[Any]]:
    """PostgreSQL: the `message.ack` (`_ack`) of each row of a CTE named `moved` (its id, profile_id and chat_id), as
    a part of `events.insert_per_row` for the statement that moves them. Its data as JSONField writes it (sorted
    keys, no spaces): the two the row gives, then the rest."""
    rest = "," + Event.data.db_value({"status": status, "waMessageId": wa_message_id})[1:]
    return ("moved", "message.ack",
            """'{"chatId":' || to_json(moved."chat_id")::text || ',"messageId":' || to_json(moved."id")::text || %s""",
            [rest])


def _progress_of(source: str, name: str, *, with_status: bool = False) -> tuple[str, str, str, list[Any]]:
    """PostgreSQL: a batch's `bulk.progress` (or with its status, `bulk.finished`) of each row of the CTE `source`
    (batch rows), as a part of `events.insert_per_row`: the data `_item_changed` records, as JSONField writes it
    (sorted keys, no spaces)."""
    row = {"batchId": f'to_json({source}."id")::text',
           "pending": f'({source}."total" - {source}."sent" - {source}."failed" - {source}."cancelled")',
           **{column: f'{source}."{column}"' for column in ("total", "sent", "failed", "cancelled", "delivered",
                                                             "read")}}
    if with_status:
        row["status"] = f'to_json({source}."status")::text'
    return source, name, "'{' || " + " || ',' || ".join(f"""'"{key}":' || {row[key]}""" for key in sorted(row)) \
        + " || '}'", []


def _sent_item_in_one(message: Message, wa_message_id: str, sent_at: dt.datetime, rng: random.Random | None = None
                      ) -> bool:
    """PostgreSQL: `sent` of a batch item in one statement, outside a transaction, where BEGIN, the move, the
    batch's counters, the next item's time, the gate's mark and the events, then COMMIT, were six round trips. Each
    is a CTE: the batch's lock first (`locked`, as `_lock_batch` says), the move (`moved`), the counters, which end
    the batch when no item is left to send (`totals`; `ended` when this did), the next item's time unless the
    batch has ended (`scheduled`), the gate's mark with the day's count (send_gate.after_sending), and the events
    `_item_changed` records. The next item's time is worked out beforehand, from the batch's pacing, which never
    changes."""
    pacing = _pacing(message.batch_id)
    if pacing is None:  # deleted with its profile meanwhile
        return False
    at = sent_at + dt.timedelta(seconds=gap_s(pacing, rng))
    ctes_sql, params = with_ctes(
        ("locked", _LOCK_BATCH.statement(message.batch_id)),
        ("moved", _SENT_AFTER_LOCKED.statement(wa_message_id, sent_at, message.id)),
        ("totals", _SENT_ITEM_TOTALS.statement(sent_at)),
        ("ended", _ENDED_BY_SENT),
        ("scheduled", _SCHEDULED_AFTER_SENT.statement(at, message.batch_id, message.id)),
        *send_gate.after_sending(message.profile_id, at, sent_at),
        ("recorded", events.insert_per_row(_acks("SENT", wa_message_id), _progress_of("totals", "bulk.progress"),
                                           _progress_of("ended", "bulk.finished", with_status=True))))
    with write_statement():
        [(last,)] = database.execute_sql(f'{ctes_sql}SELECT max("id") FROM recorded', params).fetchall()
    if last is None:  # not PENDING any more (recorded already), or deleted
        return False
    events.announce(last)
    return True


@functools.lru_cache(maxsize=4096)
def _pacing(batch_id: str) -> Batch | None:
    """A batch as read once by this process, for its pacing (`gap_s`: its delay, randomized or not), which never
    changes."""
    return Batch.get_or_none(Batch.id == batch_id)


def failed(message: Message, reason: str, now: dt.datetime, rng: random.Random | None = None) -> bool:
    """The send failed for good (WhatsApp refused it, bad media, …). False when the message was no longer
    PENDING."""
    with write_transaction():
        _lock_batch(message.batch_id)
        done = Message.update(status="FAILED", error=reason, updated_at=now).where(
            (Message.id == message.id) & (Message.status == "PENDING")).execute()
        if not done:
            return False
        recorded, next_at = _item_changed(message, "PENDING", "FAILED", now, rng)
        _schedule_and_record(message, next_at, now,
                             [_ack(message, "FAILED", message.wa_message_id or "", error=reason), *recorded])
    return True


def receipt(profile_id: str, wa_message_id: str, status: str, now: dt.datetime, error: str = "") -> bool:
    """WhatsApp's word on a sent message (DELIVERED, READ or FAILED): moves it forward only. False when no
    outbound message has that WhatsApp id (yet).

    On PostgreSQL a DELIVERED or READ receipt needs no transaction: each move it tries is one statement
    (`_receipt_in_one`) that stands alone, and one that matched is all of the receipt (the moves are tried in turn;
    a profile's receipts arrive one after the other)."""
    if status != "FAILED" and not is_sqlite():
        with write_statement():
            if any(_receipt_in_one(move, old, status, now, profile_id, wa_message_id)
                   for old, move in _RECEIPT_MOVES[status]):
                return True
            return _OUTBOUND_BY_WA_ID.first(profile_id, wa_message_id) is not None
    with write_transaction():
        for old, move in _RECEIPT_MOVES.get(status, ()):
            message = move.first(now, profile_id, wa_message_id)
            if message is not None:
                events.record_all([_ack(message, status, wa_message_id),
                                   *_item_changed(message, old, status, now, None)[0]])
                return True
        message = _OUTBOUND_BY_WA_ID.first(profile_id, wa_message_id)
        if message is None:
            return False
        if status != "FAILED":
            return True  # it is there, past this status already (or failed): receipts only move it forward
        _lock_batch(message.batch_id)  # a failure may end the batch and cancel its waiting items (stop on error)
        old = message.status
        if old == status:
            return True
        error = error or "WhatsApp reported the message as failed"
        if not _RECEIPT_FAILED.execute(now, error, message.id, old).rowcount:
            return True  # another receipt moved it meanwhile
        recorded, next_at = _item_changed(message, old, status, now, None)
        # It was still PENDING: the next item waited for it.
        _schedule_and_record(message, next_at, now, [_ack(message, status, wa_message_id, error=error), *recorded])
    return True


def _receipt_in_one(move: Prepared, old: str, status: str, now: dt.datetime, profile_id: str, wa_message_id: str
                    ) -> bool:
    """PostgreSQL: a DELIVERED or READ receipt's move, its batch's counters and its `message.ack` event in one
    statement, where they were three round trips (for two of every sent message's events). The counters and the
    event are data-modifying CTEs fed by the move's RETURNING: the rows, the locks (the item, then its batch, as
    `_lock_batch` says) and the event's text are those `receipt` makes in three statements on SQLite. False when
    the message was not in `old`."""
    ctes_sql, params = with_ctes(("moved", move.statement(now, profile_id, wa_message_id)),
                                 ("counts", _COUNTED_AFTER_MOVED.statement(*_deltas(old, status).values(), now)),
                                 ("acked", events.insert_per_row(_acks(status, wa_message_id))))
    acked = database.execute_sql(f"{ctes_sql}SELECT * FROM acked", params).fetchall()
    if not acked:
        return False
    events.announce(acked[0][0])
    return True


def received(profile_id: str, *, wa_message_id: str, chat_id: str, type_name: str, content: dict[str, Any],
             sender: str, created_at: dt.datetime, details: dict[str, Any], sender_name: str = "",
             media_ref: dict[str, Any] | None = None) -> Message | None:
    """Store an incoming message (once: engines may deliver it again) and record `message.received` with
    `details` (the engine's description, in the API's case). `media_ref` is how the engine downloads its media
    again. None when it was stored already."""
    with write_transaction():
        duplicate = Message.get_or_none((Message.profile == profile_id) & (Message.direction == "INBOUND")
                                        & (Message.wa_message_id == wa_message_id))
        if duplicate is not None:
            return None
        message = Message.create(
            id=new_id("msg"), profile=profile_id, chat_id=chat_id, direction="INBOUND", type=type_name,
            content=content, status="RECEIVED", wa_message_id=wa_message_id, sender=sender, created_at=created_at,
            updated_at=created_at, sender_name=sender_name or None, media_ref=media_ref,
        )
        events.record("message.received", profile_id, {"messageId": message.id, **details})
    return message


def _ack(message: Message, status: str, wa_message_id: str, *, error: str = "") -> events.Record:
    """The `message.ack` event of a status change, to record with the batch's (events.record_all)."""
    data = {"messageId": message.id, "waMessageId": wa_message_id, "chatId": message.chat_id, "status": status}
    if error:
        data["error"] = error
    return "message.ack", message.profile_id, data


# Conversations


def sent_to_whatsapp(message: Message) -> bool:
    """Whether WhatsApp has the message: an outbound one it took, or one received."""
    return bool(message.wa_message_id) and message.status in (*_DONE, "RECEIVED")


def check_on_whatsapp(message: Message) -> None:
    """CONFLICT unless WhatsApp has the message (a reaction, or a deletion for the profile, needs its id there)."""
    if not sent_to_whatsapp(message):
        raise conflict(f"message '{message.id}' is {message.status}: only a message WhatsApp has (sent or "
                       "received) can be acted on", state=True)


def check_reply_target(profile_id: str, message_id: str) -> Message:
    """The message a new one replies to (`replyTo`, our id): one of the profile's own messages that WhatsApp has, or
    an outbound one still waiting (it goes out first). VALIDATION_ERROR naming `replyTo` otherwise: an unknown id and
    another profile's message read the same."""
    target = Message.get_or_none((Message.id == message_id) & (Message.profile == profile_id))
    if target is None:
        raise invalid("replyTo", f"no message '{message_id}' of profile '{profile_id}' to reply to")
    if not sent_to_whatsapp(target) and target.status != "PENDING":
        raise invalid("replyTo", f"message '{message_id}' is {target.status}: it never reached WhatsApp, so it "
                                 "cannot be quoted")
    return target


def check_reactable(message: Message) -> None:
    check_on_whatsapp(message)
    if message.revoked_at:
        raise conflict(f"message '{message.id}' was deleted for everyone", state=True)


def check_editable(message: Message, now: dt.datetime) -> None:
    """CONFLICT saying why the profile cannot edit this message: not its own, not a text, not sent, deleted, or
    past WhatsApp's edit window."""
    if message.direction != "OUTBOUND":
        raise conflict(f"message '{message.id}' was received: only the profile's own messages can be edited",
                       state=True)
    if message.type != "TEXT":
        raise conflict(f"message '{message.id}' is {message.type}: only text messages can be edited", state=True)
    if not sent_to_whatsapp(message):
        raise conflict(f"message '{message.id}' is {message.status}: only a sent message can be edited", state=True)
    if message.revoked_at:
        raise conflict(f"message '{message.id}' was deleted for everyone", state=True)
    if now - message.sent_at > EDIT_WINDOW:
        raise conflict(f"message '{message.id}' was sent more than {EDIT_WINDOW.seconds // 60} minutes ago: "
                       "WhatsApp's edit window has passed", state=True)


def check_revocable(message: Message, now: dt.datetime) -> None:
    """CONFLICT saying why the profile cannot delete this message for everyone."""
    if message.direction != "OUTBOUND":
        raise conflict(f"message '{message.id}' was sent by someone else: only the profile's own messages can be "
                       "deleted for everyone (forMe=true deletes it for the profile)", state=True)
    if not sent_to_whatsapp(message):
        raise conflict(f"message '{message.id}' is {message.status}: only a sent message can be deleted for "
                       "everyone", state=True)
    if message.revoked_at:
        raise conflict(f"message '{message.id}' was already deleted for everyone", state=True)
    if now - message.sent_at > REVOKE_WINDOW:
        raise conflict(f"message '{message.id}' was sent more than {REVOKE_WINDOW.days} days ago: WhatsApp no "
                       "longer deletes it for everyone", state=True)


def by_wa_id(profile_id: str, wa_message_id: str) -> Message | None:
    """The profile's message (sent or received) with this WhatsApp id."""
    return Message.get_or_none((Message.profile == profile_id) & (Message.wa_message_id == wa_message_id))


def reacted(profile_id: str, *, wa_message_id: str, chat_id: str, sender: str, emoji: str, from_me: bool,
            now: dt.datetime) -> Message | None:
    """`sender` reacted to the message with `emoji` ("" removes their reaction). The event is recorded even for a
    message the gateway does not know (sent before it, or elsewhere); None then."""
    with write_transaction():
        message = by_wa_id(profile_id, wa_message_id)
        if message is not None:
            kept = [reaction for reaction in message.reactions or () if reaction["sender"] != sender]
            if emoji:
                kept.append({"sender": sender, "emoji": emoji, "from_me": from_me, "time": _stamp(now)})
            Message.update(reactions=kept, updated_at=now).where(Message.id == message.id).execute()
        events.record("message.reaction", profile_id, {
            "messageId": message.id if message else "", "waMessageId": wa_message_id,
            "chatId": message.chat_id if message else chat_id, "sender": sender, "emoji": emoji, "fromMe": from_me})
    return message


def edited(profile_id: str, *, wa_message_id: str, chat_id: str, sender: str, text: str, from_me: bool,
           now: dt.datetime) -> Message | None:
    """The message's text was edited by its sender: the new text replaces it, the old one is kept. An edit by
    someone who did not send the message is no edit (WhatsApp would not show it) and changes nothing."""
    with write_transaction():
        message = by_wa_id(profile_id, wa_message_id)
        previous = ""
        if message is not None:
            author = "" if message.direction == "OUTBOUND" else message.sender
            if author != ("" if from_me else sender):
                return None
            previous = message.content.get("text", "")
            content = {**message.content, "text": text}
            history = [*(message.edits or ()), {"text": previous, "replaced_at": _stamp(now)}]
            Message.update(content=content, edits=history, edited_at=now, updated_at=now).where(
                Message.id == message.id).execute()
        events.record("message.edited", profile_id, {
            "messageId": message.id if message else "", "waMessageId": wa_message_id,
            "chatId": message.chat_id if message else chat_id, "sender": sender, "text": text,
            "previousText": previous, "fromMe": from_me})
    return message


def revoked(profile_id: str, *, wa_message_id: str, chat_id: str, sender: str, from_me: bool, now: dt.datetime
            ) -> Message | None:
    """The message was deleted for everyone (by its sender, or a group admin)."""
    with write_transaction():
        message = by_wa_id(profile_id, wa_message_id)
        if message is not None:
            if message.revoked_at:
                return message
            Message.update(revoked_at=now, updated_at=now).where(Message.id == message.id).execute()
        events.record("message.revoked", profile_id, {
            "messageId": message.id if message else "", "waMessageId": wa_message_id,
            "chatId": message.chat_id if message else chat_id, "sender": sender, "fromMe": from_me})
    return message


def deleted_for_me(message: Message, now: dt.datetime) -> None:
    with write_transaction():
        Message.update(deleted_at=now, updated_at=now).where(Message.id == message.id).execute()


def unread(profile_id: str, chat_id: str) -> peewee.ModelSelect:
    """The received messages of a chat not marked read."""
    return Message.select().where((Message.profile == profile_id) & (Message.chat_id == chat_id)
                                  & (Message.direction == "INBOUND") & Message.read_at.is_null())


def marked_read(profile_id: str, chat_id: str, message_ids: list[str], now: dt.datetime) -> list[str]:
    """Mark these received messages of the chat read (their read receipts went out); the ids that changed."""
    with write_transaction():
        waiting = [row.id for row in unread(profile_id, chat_id).where(Message.id.in_(message_ids))]
        if waiting:
            Message.update(read_at=now, updated_at=now).where(Message.id.in_(waiting)).execute()
    return waiting


def option_hash(option: str) -> str:
    """How WhatsApp names a poll option in a vote: the hex SHA-256 of its text."""
    return hashlib.sha256(option.encode()).hexdigest()


def poll_results(poll: dict[str, Any], votes: dict[str, list[str]] | None) -> list[dict[str, Any]]:
    """The tally of a poll: per option, in the poll's order, how many voted for it and who."""
    voters: dict[str, list[str]] = {option: [] for option in poll.get("options", ())}
    for voter, chosen in sorted((votes or {}).items()):
        for option in chosen:
            if option in voters:
                voters[option].append(voter)
    return [{"option": option, "votes": len(names), "voters": names} for option, names in voters.items()]


def poll_voted(profile_id: str, *, poll_wa_id: str, chat_id: str, voter: str, option_hashes: list[str],
               now: dt.datetime) -> Message | None:
    """A vote on a poll: the voter's options (by their hashes, as WhatsApp carries them) replace their earlier
    vote (none: a withdrawn vote). Recorded as `poll.vote` with the tally."""
    with write_transaction():
        poll = by_wa_id(profile_id, poll_wa_id)
        options: list[str] = []
        results: list[dict[str, Any]] = []
        if poll is not None and poll.type == "POLL":
            named = {option_hash(option): option for option in poll.content.get("poll", {}).get("options", ())}
            options = [named[digest] for digest in option_hashes if digest in named]
            votes = {**(poll.poll_votes or {}), voter: options}
            if not options:
                votes.pop(voter)
            Message.update(poll_votes=votes, updated_at=now).where(Message.id == poll.id).execute()
            results = poll_results(poll.content.get("poll", {}), votes)
        events.record("poll.vote", profile_id, {
            "messageId": poll.id if poll else "", "waMessageId": poll_wa_id,
            "chatId": poll.chat_id if poll else chat_id, "voter": voter, "options": options, "results": results})
    return poll


def _stamp(now: dt.datetime) -> str:
    return now.replace(microsecond=now.microsecond // 1000 * 1000).isoformat() + "Z"


# Batches


def gap_s(batch: Batch, rng: random.Random | None = None) -> float:
    """The pause before a batch's next item: the asked delay, plus a uniform 0-50% when randomized."""
    factor = 1 + (rng or _random).uniform(0, RANDOM_SHARE) if batch.randomize_delay else 1.0
    return batch.delay_ms / 1000 * factor


def cancel_batch(batch: Batch, now: dt.datetime) -> Batch:
    """Cancel every item not yet handed to the engine and end the batch CANCELLED; items in flight end as their
    sends do. CONFLICT when the batch has ended already."""
    with write_transaction():
        _lock_batch(batch.id)
        batch = Batch.get_by_id(batch.id)
        if batch.status in TERMINAL:
            raise conflict(f"batch '{batch.id}' is already {batch.status}", state=True)
        _cancel_waiting(batch, now)
        events.record_all(_finish(Batch.get_by_id(batch.id), "CANCELLED", now))
    return Batch.get_by_id(batch.id)


def progress(batch: Batch) -> dict[str, int]:
    return {"total": batch.total, "sent": batch.sent, "failed": batch.failed, "cancelled": batch.cancelled,
            "pending": batch.total - batch.sent - batch.failed - batch.cancelled,
            "delivered": batch.delivered, "read": batch.read}


def _lock_batch(batch_id: str | None) -> None:
    """On PostgreSQL, take a batch's row lock before any of its items' rows. Every transaction that changes both
    takes them in this order, so a cancel (every waiting item, then the counters) and an item's send (the item,
    the counters, then the next item's schedule) wait for each other instead of deadlocking. SQLite has one
    writer at a time already. (A hand-over takes it with the update that starts the batch, `_BATCH_HANDED`; a
    sent item with its own move, `_sent_item_in_one`.)

    A DELIVERED or READ receipt goes without (two statements of every delivered message): it locks an item that
    left the queue, then the counters. Whoever holds the batch's lock first (a cancel, a send, a hand-over, a
    refused send) only ever waits for an item still PENDING, and a row that does not match an UPDATE's condition
    is passed without waiting for its lock; so nothing that holds the batch waits for the receipt."""
    if batch_id and not is_sqlite():
        _LOCK_BATCH.execute(batch_id)


def _cancel_waiting(batch: Batch, now: dt.datetime, only: list[str] | None = None) -> int:
    """Cancel the batch's items that wait and were not handed over (only those of `only`, if given)."""
    waiting = (Message.batch_id == batch.id) & (Message.status == "PENDING") & Message.handed_at.is_null()
    if only is not None:
        waiting &= Message.id.in_(only)
    count = Message.update(status="CANCELLED", updated_at=now).where(waiting).execute()
    if count:
        Batch.update(cancelled=Batch.cancelled + count, updated_at=now).where(Batch.id == batch.id).execute()
    return count


def _item_changed(message: Message, old: str, new: str, now: dt.datetime, rng: random.Random | None
                  ) -> tuple[list[events.Record], dt.datetime | None]:
    """Keep the batch's counters in step with one item's status change (inside the same transaction), and finish
    the batch when no item is left to send. Returns the events to record after the item's own (`bulk.progress`,
    `bulk.finished`), in one statement with it, and when the next item goes once this one has left the queue
    (None: no item waits for it), for the caller to `_schedule_and_record`."""
    if not message.batch_id or old == new:
        return [], None
    deltas = _deltas(old, new)
    if old != "PENDING" and new in _SENT:
        # A receipt (delivered, read): the counters are all that changes. Sent, failed and cancelled add up to
        # what they were, so the batch neither ends nor reports progress, and no item waits for this one.
        _BATCH_COUNTS.execute(*deltas.values(), now, message.batch_id)
        return [], None
    batch = _BATCH_COUNTS_READ.first(*deltas.values(), now, message.batch_id)
    if batch is None:  # deleted with its profile meanwhile
        return [], None
    if new == "FAILED" and batch.stop_on_error and batch.status not in TERMINAL:
        _cancel_waiting(batch, now)
        batch = Batch.get_by_id(message.batch_id)
    recorded: list[events.Record] = []
    if new in ("SENT", "FAILED", "CANCELLED") or old == "PENDING":
        recorded.append(("bulk.progress", batch.profile_id, {"batchId": batch.id, **progress(batch)}))
    if batch.status in TERMINAL:
        return recorded, None
    if batch.sent + batch.failed + batch.cancelled >= batch.total:
        return recorded + _finish(batch, "FAILED" if batch.stop_on_error and batch.failed else "COMPLETED", now), None
    return recorded, now + dt.timedelta(seconds=gap_s(batch, rng)) if old == "PENDING" else None


def _deltas(old: str, new: str) -> dict[str, int]:
    """How an item's move from `old` to `new` changes its batch's counters, by column."""
    deltas = dict.fromkeys(("sent", "delivered", "read", "failed", "cancelled"), 0)
    for status, delta in ((old, -1), (new, 1)):
        for column in _columns(status):
            deltas[column.name] += delta
    return deltas


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


def _schedule_and_record(item: Message, at: dt.datetime | None, now: dt.datetime, records: list[events.Record], *,
                         counting_sent: bool = False) -> None:
    """The rest of an item's record once it moved (in its transaction): the next waiting item of its batch gets its
    time `at` (None: none, as `_item_changed` answered) and the profile's queue is marked due then (its worker, or
    the sweep after that worker died, picks it up); with `counting_sent` (a sent item, on SQLite: on PostgreSQL its
    whole record is `_sent_item_in_one`), `item` counts among today's sends, in the same change of the gate's row
    when it marked it (send_gate.add_work); then `records`, its events. Idempotent: an item already scheduled keeps
    its time.

    On PostgreSQL all of it is one statement, each part a CTE (the gate's mark made only when `scheduled` gave the
    item its time), where the schedule, the gate's mark and the events were three round trips."""
    if is_sqlite():
        if at is not None and _SCHEDULE_NEXT.execute(at, item.batch_id).rowcount:
            send_gate.add_work(item.profile_id, at, now, counting_sent=counting_sent)
        elif counting_sent:
            send_gate.count_sent(item.profile_id, now)
        events.record_all(records)
        return
    parts = []
    if at is not None:
        parts = [("scheduled", _SCHEDULED_NEXT.statement(at, item.batch_id)),
                 *send_gate.after_scheduling(item.profile_id, at, now)]
    ctes_sql, params = with_ctes(*parts, ("recorded", events.record_all_statement(records)))
    [(last,)] = database.execute_sql(f'{ctes_sql}SELECT max("id") FROM recorded', params).fetchall()
    events.announce(last)


def _finish(batch: Batch, status: str, now: dt.datetime) -> list[events.Record]:
    """End the batch; returns its `bulk.finished` event to record (none when it had ended already: whoever ended it
    recorded its own)."""
    ended = _BATCH_FINISHED.first(status, now, batch.id)
    if ended is None:
        return []
    return [("bulk.finished", ended.profile_id, {"batchId": ended.id, "status": ended.status, **progress(ended)})]

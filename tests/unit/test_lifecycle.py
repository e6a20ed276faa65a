"""The message lifecycle (server/core/lifecycle.py) on an injected clock, on SQLite and PostgreSQL: every
transition with its counters and events, repeats that change nothing, the daily cap at accept time, the order
of what goes out, batch pacing (randomizeDelay's bounds, the start time) and the cancel windows."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import peewee
import pytest

from server.core import db, event_bus, event_horizon, jobs, lifecycle, send_gate
from server.core.errors import ApiError
from server.core.models import Batch, Event, Message, Profile, SendGate
from tests.support.sql import sql_run

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _setup(database, stub_broker):
    """Every test runs on a fresh database of each backend, with the in-process broker."""


def profile(**limits: Any) -> Profile:
    return Profile.create(id=f"p{next(_ids)}", name="P", engine="simulator", status="CONNECTED", **limits)


def send(owner: Profile, chat: str = "628111000001@s.whatsapp.net", text: str = "hi", now: dt.datetime = NOW,
         key: str = "") -> Message:
    return lifecycle.accept_message(owner, chat_id=chat, type_name="TEXT", content={"text": text},
                                    idempotency_key=key, now=now)


def batch_of(owner: Profile, count: int, *, delay_ms: int = 1000, randomize: bool = False, stop_on_error: bool = False,
             start_at: dt.datetime | None = None, now: dt.datetime = NOW) -> Batch:
    items = [{"chat_id": f"62811{i:07d}@s.whatsapp.net", "type": "TEXT", "content": {"text": f"#{i}"}}
             for i in range(count)]
    return lifecycle.accept_batch(owner, items, delay_ms=delay_ms, randomize=randomize, stop_on_error=stop_on_error,
                                  start_at=start_at, idempotency_key="", now=now)


def items(batch: Batch) -> list[Message]:
    return list(Message.select().where(Message.batch_id == batch.id).order_by(Message.batch_index))


def events(name: str) -> list[dict[str, Any]]:
    return [row.data for row in Event.select().where(Event.name == name).order_by(Event.id)]


def gate(owner: Profile) -> SendGate:
    return SendGate.get(SendGate.profile == owner.id)


def reload(row: Any) -> Any:
    return type(row).get_by_id(row.id)


def send_out(message: Message, at: dt.datetime, rng: random.Random | None = None) -> None:
    """What a worker and the engine host do with a message: hand it over, then WhatsApp accepts it."""
    assert lifecycle.hand_over(message, at)
    assert lifecycle.sent(message, f"wa-{message.id}", at, rng)


# Accepting


def test_an_accepted_message_waits_and_wakes_its_profiles_queue(queued):
    owner = profile()
    message = send(owner)
    assert (message.status, message.direction, message.created_at) == ("PENDING", "OUTBOUND", NOW)
    row = gate(owner)
    assert (row.due_at, row.queued_at, row.version) == (NOW, NOW, 1)
    wakes = queued(send_gate.KIND.queue)
    assert [(m.actor_name, m.args) for m in wakes] == [("deliver", (owner.id,))]  # the profile's queue, not the message
    send(owner, now=NOW + dt.timedelta(milliseconds=1))  # a second one: the queue is already due, a wake-up on its way
    assert len(queued(send_gate.KIND.queue)) == 1
    assert gate(owner).version == 2
    assert gate(owner).due_at == NOW  # still due since the first


def test_plain_sends_accepted_together_mark_the_gate_once_and_only_the_first_wakes_it():
    owner = profile()
    later = [NOW + dt.timedelta(milliseconds=ms) for ms in (0, 2, 1)]
    rows = [Message(id=f"m{index}", profile=owner.id, chat_id="628111000001@s.whatsapp.net", direction="OUTBOUND",
                    type="TEXT", content={"text": f"#{index}"}, status="PENDING", reply_to="", mentions=[],
                    idempotency_key=None, created_at=at, updated_at=at).__data__
            for index, at in enumerate(later)]
    with db.connection(), db.write_transaction():
        assert lifecycle._store_sends(owner.id, rows) == [True, False, False]
    assert [m.id for m in Message.select().order_by(Message.created_at)] == ["m0", "m2", "m1"]
    assert (gate(owner).due_at, gate(owner).version) == (NOW, 1)  # one mark for the three, due at the earliest


def test_a_plain_send_is_stored_by_one_statement_outside_a_transaction_on_postgresql(database, monkeypatch):
    owner = profile()
    began: list[int] = []
    real_begin = db.database.obj.begin

    def begin(*args: Any, **kwargs: Any) -> Any:
        began.append(1)
        return real_begin(*args, **kwargs)

    monkeypatch.setattr(db.database.obj, "begin", begin)
    with sql_run() as run:
        message = send(owner)
    assert reload(message).status == "PENDING"
    assert (gate(owner).due_at, gate(owner).version) == (NOW, 1)
    if db.is_sqlite():  # no data-modifying CTEs: the mark and the insert in one write transaction
        assert began == [1]
        assert [sql.split()[0] for sql in run] == ["INSERT"]  # the mark (the insert goes by the cursor)
    else:
        assert began == []
        assert len(run) == 1 and run[0].startswith('WITH GATE AS (INSERT INTO "SEND_GATE"')


@pytest.mark.parametrize("limit", [lifecycle._MAX_CARRIED_VALUES, 1], ids=["one-statement", "too-many-values"])
def test_plain_sends_stored_together_stand_or_fall_together(database, monkeypatch, limit):
    """One statement on PostgreSQL; a group with more values than one statement may carry (never, with one send per
    RPC thread) takes two in a transaction, as on SQLite."""
    monkeypatch.setattr(lifecycle, "_MAX_CARRIED_VALUES", limit)
    owner = profile()
    first = send(owner)
    rows = [{**reload(first).__data__, "id": message_id, "created_at": NOW + dt.timedelta(seconds=1)}
            for message_id in ("new", first.id)]  # the second one's id is taken
    with db.connection(), pytest.raises(peewee.IntegrityError):
        lifecycle._store_sends(owner.id, rows)
    assert Message.get_or_none(Message.id == "new") is None
    assert gate(owner).version == 1  # the mark did not stand either
    with db.connection(), sql_run() as run:
        assert lifecycle._store_sends(owner.id, [{**row, "id": f"{row['id']}-2"} for row in rows]) == [False, False]
    assert any(sql.startswith("WITH") for sql in run) == (not db.is_sqlite() and limit > 1)
    assert Message.select().where(Message.id.endswith("-2")).count() == 2
    assert (gate(owner).version, gate(owner).due_at) == (2, NOW)  # due since the first send: no wake-up needed


def test_a_repeated_idempotency_key_returns_the_first_message():
    owner = profile()
    first = send(owner, key="order-42")
    assert send(owner, text="again", key="order-42").id == first.id
    assert Message.select().where(Message.profile == owner.id).count() == 1


def test_the_daily_cap_counts_what_was_sent_today_and_what_waits():
    owner = profile(daily_cap=3)
    first, second = send(owner), send(owner)
    send_out(first, NOW)
    send(owner)  # 1 sent + 2 waiting = 3
    with pytest.raises(ApiError) as refused:
        send(owner)
    assert refused.value.code == "RATE_LIMITED"
    assert refused.value.metadata["resetAt"] == "2026-12-01T00:00:00Z"
    assert "1 sent today and 2 waiting" in refused.value.message
    assert lifecycle.failed(second, "ENGINE_ERROR: no", NOW)  # a failed one does not count
    send(owner)
    tomorrow = NOW + dt.timedelta(days=1)
    for message in Message.select().where((Message.profile == owner.id) & (Message.status == "PENDING")):
        lifecycle.failed(message, "ENGINE_ERROR: no", tomorrow)
    assert send(owner, now=tomorrow)  # yesterday's sends do not count today
    send(owner, now=tomorrow)
    send(owner, now=tomorrow)
    with pytest.raises(ApiError):
        send(owner, now=tomorrow)


def test_a_batch_larger_than_what_is_left_of_the_cap_is_refused_whole():
    owner = profile(daily_cap=5)
    send(owner)
    with pytest.raises(ApiError) as refused:
        batch_of(owner, 5)
    assert refused.value.code == "RATE_LIMITED" and refused.value.metadata["resetAt"] == "2026-12-01T00:00:00Z"
    assert "the batch of 5 messages does not fit" in refused.value.message
    assert "4 more can be accepted today" in refused.value.message
    assert Batch.select().count() == 0
    assert Message.select().where(Message.batch_id.is_null(False)).count() == 0
    batch_of(owner, 4)
    with pytest.raises(ApiError):
        send(owner)


# Order


def test_single_sends_go_out_oldest_first_and_batch_items_when_their_time_comes():
    owner = profile()
    later = NOW + dt.timedelta(seconds=5)
    batch = batch_of(owner, 2, start_at=later)
    a = send(owner, chat="628111000001@s.whatsapp.net", now=NOW + dt.timedelta(milliseconds=1))
    b = send(owner, chat="628111000002@s.whatsapp.net", now=NOW + dt.timedelta(milliseconds=2))
    c = send(owner, chat="628111000001@s.whatsapp.net", now=NOW + dt.timedelta(milliseconds=3))
    clock = NOW + dt.timedelta(seconds=1)
    order = []
    while True:
        message, next_at = lifecycle.next_to_send(owner.id, clock)
        if message is None:
            break
        order.append(message.id)
        send_out(message, clock)
    assert order == [a.id, b.id, c.id]
    assert next_at == later  # the batch's first item waits for its start
    first = items(batch)[0]
    message, _ = lifecycle.next_to_send(owner.id, later)
    assert message.id == first.id
    d = send(owner, now=later + dt.timedelta(milliseconds=1))
    message, _ = lifecycle.next_to_send(owner.id, later + dt.timedelta(seconds=1))
    assert message.id == first.id  # due before the new single send was accepted
    send_out(first, later + dt.timedelta(seconds=1))
    message, next_at = lifecycle.next_to_send(owner.id, later + dt.timedelta(seconds=1))
    assert message.id == d.id


def test_a_message_that_failed_stops_holding_back_the_rest_of_its_chat():
    owner = profile()
    first, second = send(owner), send(owner, now=NOW + dt.timedelta(milliseconds=1))
    assert lifecycle.next_to_send(owner.id, NOW)[0].id == first.id
    assert lifecycle.hand_over(first, NOW)
    lifecycle.unhand(first, NOW)  # refused before it left: still first
    assert lifecycle.next_to_send(owner.id, NOW)[0].id == first.id
    lifecycle.failed(first, "ENGINE_ERROR: refused", NOW)
    assert lifecycle.next_to_send(owner.id, NOW)[0].id == second.id


# Transitions and their events


def test_sent_records_once_with_its_ack_and_counts_for_the_day():
    owner = profile()
    message = send(owner)
    assert lifecycle.hand_over(message, NOW)
    handed = reload(message)
    assert (handed.status, handed.handed_at, handed.attempts) == ("PENDING", NOW, 1)
    sent_at = NOW + dt.timedelta(milliseconds=20)
    assert lifecycle.sent(message, "wa-1", sent_at)
    assert not lifecycle.sent(message, "wa-1", sent_at)  # a repeat changes nothing
    row = reload(message)
    assert (row.status, row.wa_message_id, row.sent_at) == ("SENT", "wa-1", sent_at)
    assert events("message.ack") == [{"messageId": message.id, "waMessageId": "wa-1",
                                      "chatId": message.chat_id, "status": "SENT"}]
    assert send_gate.sent_today(gate(owner), NOW) == 1
    assert not lifecycle.hand_over(message, NOW)  # not PENDING any more


def held_open(work: Callable[[], Any]) -> tuple[Any, list[int], list[str]]:
    """Run `work` in a write transaction on a thread of its own, and read the event ids the horizon holds back while
    that transaction is still open (on PostgreSQL: SQLite's writers take turns, nothing commits past an open
    transaction there). Returns what `work` answered, those ids, and the statements it ran."""
    opened, release, answer, in_flight, run = threading.Event(), threading.Event(), [], [], []

    def hold() -> None:
        with db.database.connection_context(), db.write_transaction():
            with sql_run() as statements:
                answer.append(work())
            run.extend(statements)
            opened.set()
            release.wait(10)

    writer = threading.Thread(target=hold)
    writer.start()
    assert opened.wait(10)
    if not db.is_sqlite():
        in_flight = sorted(event_horizon._in_flight())
    release.set()
    writer.join(10)
    return answer[0], in_flight, run


def test_a_single_sends_sent_is_one_statement_and_its_ack_holds_the_horizon_until_it_commits(monkeypatch):
    """On PostgreSQL a single send's `sent` is one statement: the move, the day's count on its profile's gate and
    its ack as CTEs fed by the move's RETURNING (on SQLite three, in a write transaction). The ack is the text
    JSONField writes, announced to the streams, and on PostgreSQL its id locked until the transaction that records
    it ends, as every event's is (server/core/event_horizon.py)."""
    announced: list[int] = []
    monkeypatch.setattr(event_bus, "announce", announced.append)
    owner = profile()
    message = send(owner, chat="628111000042@s.whatsapp.net")
    assert lifecycle.hand_over(message, NOW)
    recorded, in_flight, run = held_open(lambda: lifecycle.sent(message, "wa-1", NOW))
    assert recorded
    if db.is_sqlite():
        assert statement_kinds(run) == ["UPDATE MESSAGE", "INSERT SEND_GATE", "INSERT EVENT"]
    else:
        [statement] = run
        assert re.search(r'^WITH MOVED AS \(UPDATE "MESSAGE" .* RETURNING .*\), COUNTED AS \(INSERT INTO "SEND_GATE" '
                         r'.* FROM "MOVED" .* ON CONFLICT .*\), ACKED AS \(INSERT INTO "EVENT" .* FROM MOVED\b.*\) '
                         r'SELECT \* FROM ACKED$', statement)
    [(event_id, text)] = db.database.execute_sql(
        "SELECT id, data FROM event WHERE name = 'message.ack' ORDER BY id DESC LIMIT 1").fetchall()
    data = {"messageId": message.id, "waMessageId": "wa-1", "chatId": "628111000042@s.whatsapp.net", "status": "SENT"}
    assert text == Event.data.db_value(data)
    assert announced[-1] == event_id
    assert in_flight == ([] if db.is_sqlite() else [event_id])
    assert (gate(owner).sent_today, gate(owner).day) == (1, "2026-11-30")


def test_a_send_counts_for_the_day_on_a_gate_row_it_has_to_make():
    """The day's count makes the profile's gate row when there is none (a message accepted before the gate kept
    it), with a new row's defaults; the next day's first send starts the count again."""
    owner = profile()
    first, second = send(owner), send(owner)
    assert lifecycle.hand_over(first, NOW)
    SendGate.delete().where(SendGate.profile == owner.id).execute()
    assert lifecycle.sent(first, "wa-1", NOW)
    made = gate(owner)
    assert (made.sent_today, made.day, made.version, made.pause_reason, made.due_at) == (1, "2026-11-30", 0, "", None)
    tomorrow = NOW + dt.timedelta(days=1)
    assert lifecycle.hand_over(second, tomorrow)
    assert lifecycle.sent(second, "wa-2", tomorrow)
    assert (gate(owner).sent_today, gate(owner).day) == (1, "2026-12-01")


def taken_over(owner: Profile) -> None:
    """The profile's delivery lease lapsed here and another process took it."""
    SendGate.update(lease_owner="another-process").where(SendGate.profile == owner.id).execute()


def test_a_worker_hands_a_single_send_over_under_its_lease_in_one_statement():
    owner = profile()
    message, other = send(owner), send(owner, now=NOW + dt.timedelta(milliseconds=1))
    lease = jobs.claim(send_gate.KIND, owner.id, NOW, 10)
    with db.connection(), sql_run() as run:
        assert lifecycle.hand_over(message, NOW, lease)
    assert [sql.split()[0] for sql in run] == ["UPDATE"]  # the lease's check is a condition of it
    assert (reload(message).handed_at, reload(message).attempts) == (NOW, 1)
    lifecycle.failed(message, "ENGINE_ERROR: refused", NOW)
    assert not lifecycle.hand_over(message, NOW, lease)  # not PENDING any more, the lease still held
    taken_over(owner)
    with pytest.raises(jobs.LeaseLost):
        lifecycle.hand_over(other, NOW, lease)
    assert (reload(other).handed_at, reload(other).attempts) == (None, 0)


def test_a_worker_hands_a_batch_item_over_only_under_its_lease():
    owner = profile()
    batch = batch_of(owner, 2)
    lease = jobs.claim(send_gate.KIND, owner.id, NOW, 10)
    first, second = items(batch)
    with db.connection(), sql_run() as run:
        assert lifecycle.hand_over(first, NOW, lease)
    statements = [["UPDATE", '"BATCH"'], ["UPDATE", '"MESSAGE"']] if db.is_sqlite() else [["WITH", "STARTED"]]
    assert [sql.split()[:2] for sql in run] == statements  # no lookup of the lease
    assert reload(batch).status == "PROCESSING"
    taken_over(owner)
    with pytest.raises(jobs.LeaseLost):
        lifecycle.hand_over(second, NOW + dt.timedelta(seconds=1), lease)
    assert (reload(second).handed_at, reload(second).attempts) == (None, 0)


def test_the_dispatch_mark_that_reads_the_message_takes_only_one_of_its_profile_with_no_media_to_fetch():
    """`dispatch_reading` marks and answers a waiting message of the named profile; a message with media (to fetch
    before it goes, outside the profile's send lock), another profile's, or one marked before is left as it is."""
    owner, other = profile(), profile()
    text = send(owner)
    image = lifecycle.accept_message(owner, chat_id="628111000001@s.whatsapp.net", type_name="IMAGE",
                                     content={"media": {"url": "https://example.com/a.png"}}, now=NOW)
    assert lifecycle.dispatch_reading(image.id, owner.id, NOW) is None
    assert lifecycle.dispatch_reading(text.id, other.id, NOW) is None
    assert reload(image).dispatched_at is None and reload(text).dispatched_at is None
    marked = lifecycle.dispatch_reading(text.id, owner.id, NOW)
    assert (marked.id, marked.content, marked.chat_id, marked.dispatched_at) == (text.id, {"text": "hi"},
                                                                                 text.chat_id, NOW)
    assert lifecycle.dispatch_reading(text.id, owner.id, NOW) is None  # marked already


def test_the_dispatch_mark_is_committed_by_its_one_statement(monkeypatch):
    """The mark before the engine call is one conditional UPDATE (db.write_statement): on PostgreSQL it commits by
    itself, with no BEGIN and COMMIT round trips around it, so another connection sees it as soon as it ran; on
    SQLite it takes its turn of the write lock."""
    message = send(profile())
    seen: list[Any] = []
    run = lifecycle._DISPATCH.execute

    def and_look(*values: Any) -> Any:
        cursor = run(*values)
        if not db.is_sqlite():
            def look() -> None:
                with db.database.connection_context():
                    seen.append(reload(message).dispatched_at)
            looker = threading.Thread(target=look)
            looker.start()
            looker.join(10)
        return cursor

    monkeypatch.setattr(lifecycle._DISPATCH, "execute", and_look)
    assert lifecycle.dispatch(message.id, NOW)
    assert not lifecycle.dispatch(message.id, NOW)  # marked already: an earlier send's outcome is unknown
    assert reload(message).dispatched_at == NOW
    assert seen == ([] if db.is_sqlite() else [NOW, NOW])


def test_receipts_move_a_message_forward_only_and_acknowledge_each_status_once():
    owner = profile()
    message = send(owner)
    send_out(message, NOW)
    wa = f"wa-{message.id}"
    assert not lifecycle.receipt(owner.id, "wa-unknown", "DELIVERED", NOW)
    assert lifecycle.receipt(owner.id, wa, "DELIVERED", NOW + dt.timedelta(seconds=1))
    assert lifecycle.receipt(owner.id, wa, "READ", NOW + dt.timedelta(seconds=2))
    assert lifecycle.receipt(owner.id, wa, "DELIVERED", NOW + dt.timedelta(seconds=3))  # late: ignored
    assert lifecycle.receipt(owner.id, wa, "READ", NOW + dt.timedelta(seconds=3))  # again: ignored
    row = reload(message)
    assert (row.status, row.delivered_at, row.read_at) == (
        "READ", NOW + dt.timedelta(seconds=1), NOW + dt.timedelta(seconds=2))
    assert [e["status"] for e in events("message.ack")] == ["SENT", "DELIVERED", "READ"]
    assert lifecycle.receipt(owner.id, wa, "FAILED", NOW + dt.timedelta(seconds=4), "blocked")
    assert (reload(message).status, reload(message).error) == ("FAILED", "blocked")
    assert events("message.ack")[-1] == {"messageId": message.id, "waMessageId": wa, "chatId": message.chat_id,
                                         "status": "FAILED", "error": "blocked"}


def test_a_read_receipt_before_its_delivered_one_marks_the_message_delivered_then_too():
    owner = profile()
    message = send(owner)
    send_out(message, NOW)
    wa = f"wa-{message.id}"
    assert lifecycle.receipt(owner.id, wa, "READ", NOW + dt.timedelta(seconds=2))
    assert lifecycle.receipt(owner.id, wa, "DELIVERED", NOW + dt.timedelta(seconds=3))  # late: ignored
    row = reload(message)
    assert (row.status, row.delivered_at, row.read_at) == (
        "READ", NOW + dt.timedelta(seconds=2), NOW + dt.timedelta(seconds=2))
    assert [e["status"] for e in events("message.ack")] == ["SENT", "READ"]
    assert not lifecycle.receipt("another-profile", wa, "READ", NOW)  # by the profile's own WhatsApp ids only


def test_a_failed_send_is_acknowledged_with_its_reason():
    owner = profile()
    message = send(owner)
    assert lifecycle.failed(message, "ENGINE_ERROR: not on WhatsApp", NOW)
    assert not lifecycle.failed(message, "again", NOW)
    assert (reload(message).status, reload(message).error) == ("FAILED", "ENGINE_ERROR: not on WhatsApp")
    assert [e["status"] for e in events("message.ack")] == ["FAILED"]


def test_an_incoming_message_is_stored_and_announced_once():
    owner = profile()
    kwargs = {"wa_message_id": "in-1", "chat_id": "628555@s.whatsapp.net", "type_name": "TEXT",
              "content": {"text": "hello"}, "sender": "628555@s.whatsapp.net", "created_at": NOW,
              "details": {"chatId": "628555@s.whatsapp.net"}}
    stored = lifecycle.received(owner.id, **kwargs)
    assert stored is not None and (stored.status, stored.direction) == ("RECEIVED", "INBOUND")
    assert lifecycle.received(owner.id, **kwargs) is None
    assert events("message.received") == [{"messageId": stored.id, "chatId": "628555@s.whatsapp.net"}]


# Batches


def test_a_batch_is_accepted_whole_with_its_first_item_at_the_start_time(queued):
    owner = profile()
    start = NOW + dt.timedelta(minutes=10)
    batch = batch_of(owner, 3, delay_ms=2000, start_at=start)
    rows = items(batch)
    assert [(m.batch_index, m.status, m.not_before) for m in rows] == [(0, "PENDING", start), (1, "PENDING", None),
                                                                      (2, "PENDING", None)]
    assert (batch.status, batch.total, batch.estimated_end_at) == ("QUEUED", 3, start + dt.timedelta(seconds=4.5))
    assert gate(owner).due_at == start
    assert queued(send_gate.KIND.queue) == []
    (wake,) = queued(f"{send_gate.KIND.queue}.DQ")  # delayed: it comes a little before the start
    assert wake.args == (owner.id,) and wake.options["eta"]
    assert gate(owner).queued_at == start - dt.timedelta(seconds=jobs.EARLY_S)
    past = batch_of(owner, 1, start_at=NOW - dt.timedelta(hours=1))
    assert items(past)[0].not_before == NOW


def test_each_item_waits_the_delay_after_the_one_before_was_sent():
    owner = profile()
    batch = batch_of(owner, 3, delay_ms=1500)
    first, second, third = items(batch)
    send_out(first, NOW)
    assert reload(batch).status == "PROCESSING"
    assert reload(second).not_before == NOW + dt.timedelta(seconds=1.5)
    assert reload(third).not_before is None  # only the next item has a time
    assert gate(owner).due_at == NOW  # still due from the accept: the worker holding it finds the item
    failed_at = NOW + dt.timedelta(seconds=2)
    lifecycle.failed(second, "ENGINE_ERROR: no", failed_at)  # a failed item does not stop the batch
    assert reload(third).not_before == failed_at + dt.timedelta(seconds=1.5)
    assert [e["sent"] for e in events("bulk.progress")] == [1, 1]


def test_randomize_delay_keeps_every_gap_between_the_delay_and_one_and_a_half_times_it():
    """Seeded: 60 items, each sent at an injected time; every gap to the next item's time is within
    [delay, 1.5 x delay], and they spread over that range (not all equal, not beyond 50%)."""
    owner = profile()
    delay_ms = 1000
    batch = batch_of(owner, 60, delay_ms=delay_ms, randomize=True)
    rng = random.Random(7)
    clock = NOW
    gaps = []
    for index, message in enumerate(items(batch)):
        message = reload(message)
        if index:
            assert message.not_before is not None
            gaps.append((message.not_before - clock).total_seconds())
            clock = message.not_before
        send_out(message, clock, rng)
    assert len(gaps) == 59
    assert all(delay_ms / 1000 <= gap <= delay_ms / 1000 * 1.5 for gap in gaps), gaps
    assert min(gaps) < 1.05 and max(gaps) > 1.45, gaps  # the whole 0-50% range is used
    assert reload(batch).status == "COMPLETED"


def test_without_randomize_every_gap_is_the_delay():
    owner = profile()
    batch = batch_of(owner, 4, delay_ms=250)
    clock = NOW
    for index, message in enumerate(items(batch)):
        message = reload(message)
        if index:
            assert message.not_before == clock + dt.timedelta(milliseconds=250)
            clock = message.not_before
        send_out(message, clock)


def test_the_last_item_completes_the_batch_and_receipts_keep_counting():
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=0)
    for message in items(batch):
        send_out(reload(message), NOW)
    done = reload(batch)
    assert (done.status, done.finished_at) == ("COMPLETED", NOW)
    assert events("bulk.finished") == [{"batchId": batch.id, "status": "COMPLETED", "total": 2, "sent": 2,
                                        "failed": 0, "cancelled": 0, "pending": 0, "delivered": 0, "read": 0}]
    first = items(batch)[0]
    lifecycle.receipt(owner.id, first.wa_message_id, "READ", NOW)
    assert lifecycle.progress(reload(batch)) == {"total": 2, "sent": 2, "failed": 0, "cancelled": 0, "pending": 0,
                                                 "delivered": 1, "read": 1}


def on_batches(run: list[str]) -> list[str]:
    return [sql for sql in run if '"BATCH"' in sql]


def test_a_receipt_of_a_batch_item_only_counts():
    """Delivered and read change a batch's counters and nothing else: the receipt neither reads the batch nor
    takes its lock first (two of every sent item's three events), nor reports progress. Its message is moved and
    read back by one statement, found by its WhatsApp id."""
    owner = profile()
    batch = batch_of(owner, 3, delay_ms=0)
    first = items(batch)[0]
    send_out(first, NOW)
    progress_events = len(events("bulk.progress"))
    wa_message_id = reload(first).wa_message_id
    with sql_run() as run:
        assert lifecycle.receipt(owner.id, wa_message_id, "DELIVERED", NOW)
        assert lifecycle.receipt(owner.id, wa_message_id, "READ", NOW)
    if db.is_sqlite():
        assert statement_kinds(run) == ["UPDATE MESSAGE", "UPDATE BATCH", "INSERT EVENT"] * 2
        counters = on_batches(run)
    else:  # one statement each: the counters and the event are CTEs fed by the move's RETURNING
        assert [sql.split(" AS (")[0] for sql in run] == ["WITH MOVED"] * 2
        assert all(re.search(r'^WITH MOVED AS \(UPDATE "MESSAGE" .*\), COUNTS AS \(UPDATE "BATCH" .*\), '
                             r'ACKED AS \(INSERT INTO "EVENT" .*\) SELECT', sql) for sql in run)
        counters = [sql.split("COUNTS AS (")[1].split("), ACKED AS")[0] for sql in run]
    assert not any("RETURNING" in sql for sql in counters) and not any("FOR UPDATE" in sql for sql in run)
    assert len(events("bulk.progress")) == progress_events
    counted = reload(batch)
    assert (counted.status, lifecycle.progress(counted)) == ("PROCESSING", {
        "total": 3, "sent": 1, "failed": 0, "cancelled": 0, "pending": 2, "delivered": 1, "read": 1})


def test_a_receipts_ack_is_stored_as_any_event_and_holds_the_horizon_until_it_commits(monkeypatch):
    """The ack a DELIVERED or READ receipt records (on PostgreSQL, SQL writes it within the receipt's one
    statement): the same text as JSONField writes, announced to the streams, and on PostgreSQL its id locked until
    the receipt's transaction ends, as every event's is (server/core/event_horizon.py)."""
    announced: list[int] = []
    monkeypatch.setattr(event_bus, "announce", announced.append)
    owner = profile()
    message = send(owner, chat="628111000042@s.whatsapp.net")
    send_out(message, NOW)
    wa = f"wa-{message.id}"
    recorded, in_flight, _ = held_open(lambda: lifecycle.receipt(owner.id, wa, "DELIVERED", NOW))
    assert recorded
    [(event_id, text)] = db.database.execute_sql(
        "SELECT id, data FROM event WHERE name = 'message.ack' ORDER BY id DESC LIMIT 1").fetchall()
    data = {"messageId": message.id, "waMessageId": wa, "chatId": "628111000042@s.whatsapp.net", "status": "DELIVERED"}
    assert text == Event.data.db_value(data)
    assert announced[-1] == event_id
    assert in_flight == ([] if db.is_sqlite() else [event_id])


def statement_kinds(run: list[str]) -> list[str]:
    """Each statement as its verb and table ("UPDATE BATCH"), a lock taken with a select marked so."""
    kinds = []
    for sql in run:
        verb, table = sql.split()[0], re.search(r'(?:FROM|UPDATE|INTO) "(\w+)"', sql).group(1)
        kinds.append(f"{verb} {table}" + (" FOR UPDATE" if "FOR UPDATE" in sql else ""))
    return kinds


def test_a_sent_item_is_one_statement_on_postgresql_and_reads_its_batch_from_the_counters_update():
    """A sent batch item: its row, the batch's counters (the batch read back from that statement: its progress, its
    end, the next item's gap), the next item's time (found and set in one statement), the profile's queue marked due
    then with the day's count in the same statement (one row's two changes), and its two events in one statement.
    The last item ends the batch with one more statement, which reads the batch back for its event, and counts the
    day's send alone.

    On PostgreSQL all of it is one statement (the batch's pacing read once by a process), each part a CTE, in the
    order the rows are locked: the batch first, as in every transaction that changes a batch and its items (a
    hand-over of the same item may be under way), then the item (its update waits for the batch's lock: EXISTS …
    locked), the counters (which end the batch when no item is left), the next item, the gate; then the events, in
    their order, as JSONField writes them."""
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=500)
    first = items(batch)[0]
    assert lifecycle.hand_over(first, NOW)
    with sql_run() as run:
        assert lifecycle.sent(first, "wa-1", NOW)
    if db.is_sqlite():
        assert statement_kinds(run) == ["UPDATE MESSAGE", "UPDATE BATCH", "UPDATE MESSAGE", "INSERT SEND_GATE",
                                        "INSERT EVENT"]
        assert "RETURNING" in on_batches(run)[-1]
    else:  # and the batch's pacing, read once by a process (its delay never changes)
        [pacing, statement] = run
        assert pacing.startswith("SELECT") and '"BATCH"' in pacing
        assert re.search(r'^WITH LOCKED AS \(SELECT "T1"."ID", "T1"."STATUS" FROM "BATCH" AS "T1" WHERE .* FOR '
                         r'UPDATE\), '
                         r'MOVED AS \(UPDATE "MESSAGE" SET .*EXISTS \(SELECT 1 FROM LOCKED\)\) RETURNING [^)]*\), '
                         r'TOTALS AS \(UPDATE "BATCH" SET .* FROM "MOVED" .* RETURNING [^)]*\), ENDED AS \(.*\), '
                         r'SCHEDULED AS \(UPDATE "MESSAGE" .*\), MARKED AS \(INSERT INTO "SEND_GATE" .* WHERE '
                         r'EXISTS \(SELECT 1 FROM SCHEDULED\) ON CONFLICT .*\), COUNTED AS \(INSERT INTO "SEND_GATE" '
                         r'.* WHERE EXISTS \(SELECT 1 FROM MOVED\) AND NOT EXISTS \(SELECT 1 FROM SCHEDULED\) ON '
                         r'CONFLICT .*\), RECORDED AS \(INSERT INTO "EVENT" .*\) SELECT MAX\("ID"\) FROM RECORDED$',
                         statement)
    assert (gate(owner).sent_today, gate(owner).day) == (1, "2026-11-30")
    assert [(row.name, row.data.get("status")) for row in Event.select().order_by(Event.id)][-2:] == [
        ("message.ack", "SENT"), ("bulk.progress", None)]
    progress = {"batchId": batch.id, "total": 2, "sent": 1, "failed": 0, "cancelled": 0, "pending": 1, "delivered": 0,
                "read": 0}
    assert stored_text("bulk.progress") == Event.data.db_value(progress)
    following = items(batch)[1]
    assert following.not_before == NOW + dt.timedelta(milliseconds=500)
    assert gate(owner).due_at <= following.not_before  # the profile's queue looks by then
    later = NOW + dt.timedelta(seconds=1)
    assert lifecycle.hand_over(following, later)
    with sql_run() as run:
        assert lifecycle.sent(following, "wa-2", later)
    ended = reload(batch)
    assert (ended.status, ended.finished_at) == ("COMPLETED", later)
    assert [row.name for row in Event.select().order_by(Event.id)][-3:] == ["message.ack", "bulk.progress",
                                                                           "bulk.finished"]
    assert stored_text("bulk.finished") == Event.data.db_value(
        {**progress, "status": "COMPLETED", "sent": 2, "pending": 0})
    if db.is_sqlite():
        assert statement_kinds(run) == ["UPDATE MESSAGE", "UPDATE BATCH", "UPDATE BATCH", "INSERT SEND_GATE",
                                        "INSERT EVENT"]
    else:
        assert [sql.split()[0] for sql in run] == ["WITH"]
    assert gate(owner).sent_today == 2
    assert not lifecycle.sent(following, "wa-2", later)  # a repeat records nothing
    assert (reload(batch).sent, gate(owner).sent_today, len(events("bulk.finished"))) == (2, 2, 1)


def stored_text(name: str) -> str:
    """The data of the latest `name` event as stored."""
    [(text,)] = db.database.execute_sql("SELECT data FROM event WHERE name = %s ORDER BY id DESC LIMIT 1"
                                        .replace("%s", "?" if db.is_sqlite() else "%s"), [name]).fetchall()
    return text


def test_a_sent_item_whose_next_item_has_its_time_already_only_counts_on_the_gate():
    """The next item's time is set once: when it has one already, a sent item's record leaves it, and leaves the
    profile's queue as it was (no mark, no new version for the worker to look again for), but still counts the
    day's send."""
    owner = profile()
    batch = batch_of(owner, 3, delay_ms=500)
    first, following, _ = items(batch)
    scheduled = NOW + dt.timedelta(seconds=9)
    Message.update(not_before=scheduled).where(Message.id == following.id).execute()
    assert lifecycle.hand_over(first, NOW)
    before = gate(owner)
    assert lifecycle.sent(first, "wa-1", NOW)
    assert reload(following).not_before == scheduled
    after = gate(owner)
    assert (after.version, after.due_at, after.queued_at) == (before.version, before.due_at, before.queued_at)
    assert (after.sent_today, after.day) == (1, "2026-11-30")
    assert events("bulk.progress")[-1]["sent"] == 1


def test_handing_over_a_batch_item_starts_its_batch_in_the_statement_that_takes_its_lock():
    """The hand-over's first statement takes the batch's lock (on PostgreSQL, before the item's, as every
    transaction that changes both) and starts a QUEUED batch; a started or ended batch it leaves as it is."""
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=0)
    first = items(batch)[0]
    with sql_run() as run:
        assert lifecycle.hand_over(first, NOW)
    if db.is_sqlite():
        assert statement_kinds(run) == ["UPDATE BATCH", "UPDATE MESSAGE"]
    else:  # one statement, the batch's update first: the item's waits for it (EXISTS … started)
        [statement] = run
        assert re.search(r'^WITH STARTED AS \(UPDATE "BATCH" .*\), HANDED AS \(UPDATE "MESSAGE" .*EXISTS '
                         r'\(SELECT 1 FROM STARTED\).*\) SELECT', statement)
    started = reload(batch)
    assert (started.status, started.started_at, started.updated_at) == ("PROCESSING", NOW, NOW)
    assert lifecycle.sent(first, "wa-1", NOW)
    counted = reload(batch)
    assert lifecycle.hand_over(items(batch)[1], NOW + dt.timedelta(seconds=5))
    assert (reload(batch).status, reload(batch).started_at, reload(batch).updated_at) == (
        "PROCESSING", NOW, counted.updated_at)
    cancelled = batch_of(owner, 2, delay_ms=0)
    lifecycle.cancel_batch(cancelled, NOW)
    assert not lifecycle.hand_over(items(cancelled)[0], NOW + dt.timedelta(seconds=5))
    assert (reload(cancelled).status, reload(cancelled).started_at) == ("CANCELLED", None)


def test_stop_on_error_cancels_the_rest_after_a_failure():
    owner = profile()
    batch = batch_of(owner, 4, delay_ms=0, stop_on_error=True)
    first, second, *_ = items(batch)
    send_out(first, NOW)
    lifecycle.failed(reload(second), "ENGINE_ERROR: no", NOW)
    done = reload(batch)
    assert done.status == "FAILED"
    assert lifecycle.progress(done) == {"total": 4, "sent": 1, "failed": 1, "cancelled": 2, "pending": 0,
                                        "delivered": 0, "read": 0}
    assert [m.status for m in items(batch)] == ["SENT", "FAILED", "CANCELLED", "CANCELLED"]
    assert events("bulk.finished")[-1]["status"] == "FAILED"


def test_cancel_leaves_the_item_in_flight_to_end_as_its_send_does():
    owner = profile()
    batch = batch_of(owner, 3, delay_ms=0)
    in_flight, *_ = items(batch)
    assert lifecycle.hand_over(in_flight, NOW)  # the engine has it when the cancel arrives
    cancelled = lifecycle.cancel_batch(batch, NOW)
    assert cancelled.status == "CANCELLED"
    assert [m.status for m in items(batch)] == ["PENDING", "CANCELLED", "CANCELLED"]
    assert lifecycle.progress(cancelled)["pending"] == 1
    assert lifecycle.sent(in_flight, "wa-late", NOW + dt.timedelta(seconds=3))
    assert lifecycle.receipt(owner.id, "wa-late", "READ", NOW + dt.timedelta(seconds=4))
    done = reload(batch)
    assert done.status == "CANCELLED"
    assert lifecycle.progress(done) == {"total": 3, "sent": 1, "failed": 0, "cancelled": 2, "pending": 0,
                                        "delivered": 1, "read": 1}
    assert [m.status for m in items(batch)] == ["READ", "CANCELLED", "CANCELLED"]
    assert [e["status"] for e in events("bulk.finished")] == ["CANCELLED"]
    with pytest.raises(ApiError) as again:
        lifecycle.cancel_batch(batch, NOW)
    assert again.value.code == "CONFLICT"


def on_a_thread(errors: list[Exception]) -> Callable[[Callable[[], Any]], None]:
    """A thread's target that runs `work` with a connection of its own, its error kept in `errors`."""
    def run(work: Callable[[], Any]) -> None:
        try:
            with db.database.connection_context():
                work()
        except Exception as error:
            errors.append(error)
    return run


def test_a_cancel_arriving_while_an_item_is_recorded_sent_waits_for_it(monkeypatch):
    """PostgreSQL deadlocked here (a 10,000-item batch, found by test_bulk): the send held its item and the batch's
    counters and went on to schedule the next item, which the cancel had just cancelled while it waited for the
    counters. Both now take the batch first. The send is held between its counters and the schedule while the
    cancel arrives; both must complete."""
    owner = profile()
    batch = batch_of(owner, 40, delay_ms=0)
    first, following, *_ = items(batch)
    assert lifecycle.hand_over(first, NOW)  # its row's newest version now comes after the others' in the table
    counted, go_on = threading.Event(), threading.Event()
    errors: list[Exception] = []
    run = on_a_thread(errors)
    if db.is_sqlite():
        schedule = lifecycle._schedule_and_record

        def held_schedule(*args: Any, **kwargs: Any) -> None:
            counted.set()
            go_on.wait(10)
            schedule(*args, **kwargs)

        monkeypatch.setattr(lifecycle, "_schedule_and_record", held_schedule)
    else:  # one statement: held at the next item's row, which another transaction holds
        def hold_the_next_item() -> None:
            with db.write_transaction():
                Message.select().where(Message.id == following.id).for_update().execute()
                counted.set()
                go_on.wait(10)

        holder = threading.Thread(target=run, args=(hold_the_next_item,))
        holder.start()
    sender = threading.Thread(target=run, args=(lambda: lifecycle.sent(first, "wa-1", NOW),))
    sender.start()
    assert counted.wait(10)
    time.sleep(0.5)  # on PostgreSQL the send reaches the next item's row (a lower bound, as below)
    canceller = threading.Thread(target=run, args=(lambda: lifecycle.cancel_batch(batch, NOW),))
    canceller.start()
    time.sleep(1)  # the cancel reaches the lock it waits on (a lower bound: it can only make the test pass vacuously)
    go_on.set()
    sender.join(30)
    canceller.join(30)
    assert errors == [] and not sender.is_alive() and not canceller.is_alive()
    assert lifecycle.progress(reload(batch)) == {"total": 40, "sent": 1, "failed": 0, "cancelled": 39, "pending": 0,
                                                 "delivered": 0, "read": 0}


def test_a_sent_item_waits_for_its_batch_before_it_takes_its_own_row():
    """The batch's lock comes before the item's in a sent item's move too (on PostgreSQL one statement takes both):
    while another transaction holds the batch, the send waits without holding its item, so that transaction may
    still change the item. Had the send taken the item first, each would wait for the other (PostgreSQL would end
    one of them as a deadlock)."""
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=0)
    first = items(batch)[0]
    assert lifecycle.hand_over(first, NOW)
    holding, go_on = threading.Event(), threading.Event()
    errors: list[Exception] = []
    run = on_a_thread(errors)

    def hold_the_batch() -> None:
        with db.write_transaction():
            lifecycle._lock_batch(batch.id)
            holding.set()
            go_on.wait(10)
            Message.update(updated_at=NOW).where(Message.id == first.id).execute()

    holder = threading.Thread(target=run, args=(hold_the_batch,))
    holder.start()
    assert holding.wait(10)
    sender = threading.Thread(target=run, args=(lambda: lifecycle.sent(first, "wa-1", NOW),))
    sender.start()
    time.sleep(1)  # the send reaches the lock it waits on (a lower bound: it can only make the test pass vacuously)
    assert sender.is_alive()
    go_on.set()
    holder.join(30)
    sender.join(30)
    assert errors == []
    assert (reload(first).status, reload(batch).sent) == ("SENT", 1)


def test_a_receipt_holding_its_item_does_not_stop_a_cancel_or_a_hand_over(monkeypatch):
    """A delivered or read receipt takes its item's row, then the batch's counters, without the batch's lock first.
    Held between the two while a cancel and a hand-over of the next item take the batch's lock: neither waits for
    the receipt's item (it left the queue: their updates pass it by), so all three complete, in any order, on
    PostgreSQL as on SQLite. (On PostgreSQL both rows are taken by one statement, in that order: the receipt is held
    after it, both locks taken, its transaction open.)"""
    owner = profile()
    batch = batch_of(owner, 3, delay_ms=0)
    first = items(batch)[0]
    send_out(first, NOW)
    second = items(batch)[1]
    moved, go_on = threading.Event(), threading.Event()
    held_at = "_item_changed" if db.is_sqlite() else "_receipt_in_one"
    changed = getattr(lifecycle, held_at)

    def held_change(*args: Any) -> Any:
        if db.is_sqlite():
            moved.set()
            go_on.wait(10)
        done = changed(*args)
        if not db.is_sqlite():
            moved.set()
            go_on.wait(10)
        return done

    monkeypatch.setattr(lifecycle, held_at, held_change)
    errors: list[Exception] = []
    handed: list[bool] = []
    run = on_a_thread(errors)

    receipt = threading.Thread(target=run, args=(
        lambda: lifecycle.receipt(owner.id, f"wa-{first.id}", "DELIVERED", NOW),))
    receipt.start()
    assert moved.wait(10)
    others = [threading.Thread(target=run, args=(lambda: handed.append(lifecycle.hand_over(second, NOW)),)),
              threading.Thread(target=run, args=(lambda: lifecycle.cancel_batch(batch, NOW),))]
    for thread in others:
        thread.start()
    time.sleep(1)  # they reach the locks they wait on, if any (a lower bound: it can only make the test pass)
    go_on.set()
    for thread in (receipt, *others):
        thread.join(30)
    assert errors == []
    assert reload(first).status == "DELIVERED"
    done = reload(batch)
    assert done.status == "CANCELLED"
    assert lifecycle.progress(done)["delivered"] == 1
    assert lifecycle.progress(done)["sent"] + lifecycle.progress(done)["cancelled"] == 3 - (1 if handed[0] else 0)


def test_an_item_picked_but_not_yet_handed_when_the_cancel_arrives_is_never_handed():
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=0)
    picked, _ = lifecycle.next_to_send(owner.id, NOW)
    lifecycle.cancel_batch(batch, NOW)
    assert not lifecycle.hand_over(picked, NOW)
    assert lifecycle.progress(reload(batch))["cancelled"] == 2


def test_an_item_refused_before_it_left_after_a_cancel_is_cancelled_too():
    owner = profile()
    batch = batch_of(owner, 2, delay_ms=0)
    first, _ = items(batch)
    assert lifecycle.hand_over(first, NOW)
    lifecycle.cancel_batch(batch, NOW)
    lifecycle.unhand(first, NOW)  # the profile was not connected after all: it never left
    assert [m.status for m in items(batch)] == ["CANCELLED", "CANCELLED"]
    assert lifecycle.progress(reload(batch)) == {"total": 2, "sent": 0, "failed": 0, "cancelled": 2, "pending": 0,
                                                 "delivered": 0, "read": 0}

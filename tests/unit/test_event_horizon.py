"""The settled event-log reader (server/core/event_horizon.py) and its users in one process: the horizon never passes
an id whose transaction is open, however long, and gives up a rolled-back id; the event bus's tail wakes its
streams; the webhook dispatcher makes each delivery once. On SQLite and PostgreSQL; the transactions that take a
lower id and commit after a higher one are real PostgreSQL transactions held open on threads of their own. Time
is an injected clock."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from server.core import db, event_bus, event_horizon, events, migrations
from server.core.config import Settings
from server.core.models import Event, Profile, Webhook, WebhookCursor, WebhookDelivery
from tests.support.held import HeldEvent
from tests.support.sql import sql_run
from tests.support.stack import postgres_database
from worker import webhook_dispatch


@pytest.fixture(autouse=True)
def quiet_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording an event announces it on the bus (Redis, when there is one): not from unit tests."""
    monkeypatch.setattr(event_bus, "announce", lambda event_id: None)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """One throwaway PostgreSQL database for the module, emptied before each test (making one takes a while)."""
    with postgres_database() as url:
        db.open_database(url)
        migrations.migrate()
        db.database.close()
        yield url


def _open(url: str, empty: bool = False) -> Iterator[str]:
    db.open_database(url)
    migrations.migrate()
    if empty:  # ids from 1 again, as in a new database
        tables = ", ".join(f'"{model._meta.table_name}"' for model in (Event, WebhookDelivery, WebhookCursor,
                                                                       Webhook, Profile))
        with db.database.connection_context():
            db.database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield url
    db.database.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield from _open(f"sqlite:///{tmp_path / 'log.db'}")
    else:
        yield from _open(request.getfixturevalue("postgres_url"), empty=True)


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[str]:
    """PostgreSQL alone: only there do transactions take ids in one order and commit in another."""
    yield from _open(postgres_url, empty=True)


class Clock:
    def __init__(self) -> None:
        self.now = db.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def record(profile_id: str = "p") -> int:
    with db.database.connection_context(), db.write_transaction():
        return events.record("message.ack", profile_id, {}).id


def insert(event_id: int, age_s: float = 0.0) -> None:
    """A row with a chosen id, as a writer that took it earlier and committed now would leave it."""
    with db.database.connection_context():
        Event.create(id=event_id, name="session.status", profile_id="p", data={},
                     created_at=db.utcnow() - dt.timedelta(seconds=age_s))


def test_ids_committed_in_order_settle_at_once(database):
    horizon = event_horizon.Horizon(Clock())
    assert horizon.settle() == 0
    first, second = record(), record()
    assert horizon.settle() == second > first


def test_an_open_transaction_holds_the_horizon_until_it_commits(postgres, caplog):
    clock = Clock()
    horizon = event_horizon.Horizon(clock)
    before = record()
    slow = HeldEvent("p")
    after = record()
    assert before < slow.id < after
    assert horizon.settle() == before
    clock.advance(3600)  # however long it stays open: its lock says it may still commit
    with caplog.at_level("WARNING", logger="wagw.event_horizon"):
        assert horizon.settle() == before
    assert [entry.fields["event_id"] for entry in caplog.records] == [slow.id]  # said, for the operator
    slow.commit()
    assert horizon.settle() == after


def test_a_rolled_back_id_is_given_up_as_soon_as_its_lock_is_gone(postgres):
    clock = Clock()
    horizon = event_horizon.Horizon(clock)
    abandoned = HeldEvent("p")
    after = record()
    assert horizon.settle() == abandoned.id - 1
    clock.advance(event_horizon.SETTLE_S + 1)
    assert horizon.settle() == abandoned.id - 1  # still open
    abandoned.rollback()
    assert horizon.settle() == after
    with db.database.connection_context():
        assert Event.get_or_none(Event.id == abandoned.id) is None


def test_events_recorded_together_keep_their_order_and_hold_the_horizon_until_they_commit(database, monkeypatch):
    """`events.record_all` (a sent batch item's ack, progress and end; on PostgreSQL one INSERT): the rows in the
    order given, each id locked as one recorded alone, so a later event committed first does not let the horizon
    pass them; the bus hears of the last one."""
    announced: list[int] = []
    monkeypatch.setattr(event_bus, "announce", announced.append)
    horizon = event_horizon.Horizon(Clock())
    before = record()
    recorded, release = threading.Event(), threading.Event()
    together = [("message.ack", "p", {"n": 1}), ("bulk.progress", "p", {"n": 2}), ("bulk.finished", "p", {"n": 3})]

    def held() -> None:
        with db.database.connection_context(), db.write_transaction():
            events.record_all(together)
            recorded.set()
            release.wait(10)

    writer = threading.Thread(target=held)
    writer.start()
    assert recorded.wait(10)
    later = None
    if not db.is_sqlite():  # SQLite's writers take turns: nothing commits past an open transaction there
        later = record()
        assert horizon.settle() == before
    release.set()
    writer.join(10)
    with db.database.connection_context():
        rows = list(Event.select().where(Event.id > before).order_by(Event.id))
    ids = [row.id for row in rows[:3]]
    assert [(row.name, row.profile_id, row.data) for row in rows[:3]] == together
    assert ids == list(range(before + 1, before + 4))
    assert ids[-1] in announced
    assert horizon.settle() == (later or ids[-1])


def test_a_missing_id_no_lock_holds_is_given_up_after_the_grace(database):
    """Between taking its id and its lock an id is neither visible nor locked: it is waited for SETTLE_S."""
    clock = Clock()
    horizon = event_horizon.Horizon(clock)
    insert(1)
    insert(2)
    assert horizon.settle() == 2
    insert(4)
    assert horizon.settle() == 2
    clock.advance(event_horizon.SETTLE_S - 1)
    assert horizon.settle() == 2
    insert(3)  # it came
    assert horizon.settle() == 4
    insert(6)  # 5 never comes
    assert horizon.settle() == 4
    clock.advance(event_horizon.SETTLE_S)
    assert horizon.settle() == 6
    insert(9, age_s=60)  # below a row older than the grace, a missing id is given up at once
    assert horizon.settle() == 9


def test_a_new_horizon_starts_below_the_oldest_open_transaction(postgres):
    slow = HeldEvent("p")
    for _ in range(3):
        record()
    with db.database.connection_context():
        Event.update(created_at=db.utcnow() - dt.timedelta(minutes=5)).execute()
    assert event_horizon.Horizon(Clock()).settle() == slow.id - 1
    slow.commit()
    assert event_horizon.Horizon(Clock()).settle() == slow.id + 3


def test_read_pages_up_to_the_horizon_and_answers_where_to_go_on(database):
    ids = [record("a"), record("b"), record("a"), record("b"), record("b")]
    mine = Event.select().where(Event.profile_id == "a")
    with db.database.connection_context():
        rows, cursor = event_horizon.read(mine, 0, ids[3], limit=1)
        assert [row.id for row in rows] == [ids[0]] and cursor == ids[0]  # a full page: on from its last row
        rows, cursor = event_horizon.read(mine, cursor, ids[3], limit=10)
        assert [row.id for row in rows] == [ids[2]] and cursor == ids[3]  # the rest up to the horizon
        rows, cursor = event_horizon.read(mine, ids[4] + 5, ids[3], limit=10)
        assert rows == [] and cursor == ids[4] + 5  # a cursor ahead of this reader's horizon stays


# --- the event bus's tail -----------------------------------------------------------------------------------


def test_the_tail_wakes_its_streams_when_the_horizon_moves(database, monkeypatch):
    monkeypatch.setattr(event_bus, "POLL_EMBEDDED_S", 3600.0)  # so only the poke can wake the stream
    tail = event_bus.Tail(Settings(), redis_channel=None)
    waiter = event_bus.Waiter()
    try:
        first = record()
        assert tail.add(waiter) == first
        waiter.clear()
        second = record()
        tail.poke(second)
        assert waiter.wait(30)
        assert tail.horizon == second
        waiter.clear()
        tail.close()
        assert waiter.wait(30)  # closing wakes every stream, which then ends
    finally:
        tail.close()


def test_the_tail_shares_one_horizon_between_streams_and_readers(postgres):
    clock = Clock()
    tail = event_bus.Tail(Settings(), redis_channel=None, settled=event_horizon.Horizon(clock))
    slow = HeldEvent("p")
    record()
    assert tail.settle() == slow.id - 1
    clock.advance(60)
    assert tail.settle() == slow.id - 1
    slow.commit()
    assert tail.settle() == slow.id + 1


# --- the webhook dispatcher ---------------------------------------------------------------------------------


def _webhooks() -> None:
    old = dt.datetime(2020, 1, 1)
    with db.database.connection_context():
        Profile.create(id="p1", name="p1", engine="simulator")
        Profile.create(id="p2", name="p2", engine="simulator")
        Webhook.create(id="wh_all", url="https://example.com/a", events=["*"], secret="s" * 16, created_at=old)
        Webhook.create(id="wh_p1", profile="p1", url="https://example.com/b", events=["message.*"],
                       secret="s" * 16, created_at=old)
        Webhook.create(id="wh_off", url="https://example.com/c", events=["*"], secret="s" * 16, active=False,
                       created_at=old)
        Webhook.create(id="wh_new", url="https://example.com/d", events=["*"], secret="s" * 16,
                       created_at=dt.datetime(2100, 1, 1))


def _made() -> set[tuple[str, int]]:
    with db.database.connection_context():
        return {(d.webhook_id, d.event_id) for d in WebhookDelivery.select()}


def _cursor() -> int:
    with db.database.connection_context():
        return WebhookCursor.get().last_event_id


def test_the_dispatcher_waits_for_a_late_commit_and_dispatches_each_event_once(postgres, monkeypatch):
    queued: list[str] = []
    monkeypatch.setattr(webhook_dispatch, "enqueue", lambda ids, delay_s=0.0: queued.extend(ids) or True)
    _webhooks()
    clock = Clock()
    first = webhook_dispatch.Dispatcher(event_horizon.Horizon(clock).settle)
    second = webhook_dispatch.Dispatcher(event_horizon.Horizon(clock).settle)  # another worker process
    one = record("p1")
    slow = HeldEvent("p2")
    three = record("p1")
    assert first.run_once() == 1
    assert _made() == {("wh_all", one), ("wh_p1", one)} and _cursor() == one  # held below the open transaction
    clock.advance(3600)
    assert second.run_once() == 0 and first.run_once() == 0
    slow.commit()
    assert second.run_once() == 2  # the late one, and the one after it
    assert first.run_once() == 0
    assert _made() == {("wh_all", one), ("wh_p1", one), ("wh_all", slow.id), ("wh_all", three), ("wh_p1", three)}
    assert _cursor() == three
    # One wake-up per webhook and pass (the webhook's lane attempts all its due deliveries): the first pass
    # made one event's deliveries to both webhooks, the pass after the late commit two events' to both.
    assert len(queued) == len(set(queued)) == 4
    gone = HeldEvent("p1")
    gone.rollback()
    last = record("p2")
    assert first.run_once() == 1  # the rolled-back id is passed, not waited for
    assert ("wh_all", last) in _made() and _cursor() == last


def test_the_dispatcher_makes_each_matching_delivery_once(database, monkeypatch):
    queued: list[str] = []
    monkeypatch.setattr(webhook_dispatch, "enqueue", lambda ids, delay_s=0.0: queued.extend(ids) or True)
    _webhooks()
    dispatcher = webhook_dispatch.Dispatcher(event_horizon.Horizon(Clock()).settle)
    ids = [record("p1"), record("p2"), record("p1")]
    with db.database.connection_context():
        test_event = events.record("webhook.test", "p1", {})  # delivered by TestWebhook itself, not fanned out
    assert dispatcher.run_once() == 4
    assert _made() == {("wh_all", ids[0]), ("wh_p1", ids[0]), ("wh_all", ids[1]), ("wh_all", ids[2]),
                       ("wh_p1", ids[2])}
    assert _cursor() == test_event.id
    # One wake-up per webhook, with its delivery of the oldest event: the lane it wakes takes the others.
    with db.database.connection_context():
        woken = {(d.webhook_id, d.event_id) for d in WebhookDelivery.select().where(WebhookDelivery.id.in_(queued))}
    assert woken == {("wh_all", ids[0]), ("wh_p1", ids[0])} and len(queued) == 2
    assert dispatcher.run_once() == 0 and len(queued) == 2


def test_without_active_webhooks_the_cursor_passes_the_events_unread(database, monkeypatch):
    """No active webhook: a pass moves the cursor to the horizon in one statement, without reading the events; a
    pass with nothing new reads neither webhooks nor events; a webhook made later gets the events that come after
    it, from where the cursor is."""
    monkeypatch.setattr(webhook_dispatch, "enqueue", lambda ids, delay_s=0.0: True)
    dispatcher = webhook_dispatch.Dispatcher(event_horizon.Horizon(Clock()).settle)
    with db.database.connection_context():
        Profile.create(id="p1", name="p1", engine="simulator")
    passed = [record("p1"), record("p1")]
    with sql_run() as run:
        assert dispatcher.run_once() == 0
    assert _cursor() == passed[-1] and _made() == set()
    read = [sql for sql in run if sql.startswith("SELECT")]
    assert not any('FROM "EVENT"' in sql and '"NAME"' in sql for sql in read)  # the events themselves: unread
    with sql_run() as run:
        assert dispatcher.run_once() == 0
    assert not any('"WEBHOOK"' in sql for sql in run)
    with db.database.connection_context():
        Webhook.create(id="wh_late", url="https://example.com/a", events=["*"], secret="s" * 16)
    later = record("p1")
    assert dispatcher.run_once() == 1
    assert _made() == {("wh_late", later)} and _cursor() == later

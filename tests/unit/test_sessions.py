"""What engine events mean (server/engine_host/sessions.py), without an engine: each event of a session becomes the
profile's status and a `session.status` event; receipts move outbound messages through the lifecycle, also when
they arrive before the send that caused them is recorded; incoming messages are stored once."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator

import peewee
import pytest

from server.core import db, events, lifecycle, rows
from server.core.errors import ApiError
from server.core.models import Event, Message, Profile
from server.engine_host import sessions as host_sessions
from server.engine_host.engines import base
from server.engine_host.sessions import SessionManager
from tests.support.sql import sql_run

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)
_ids = itertools.count()


@pytest.fixture
def manager(database, stub_broker, tmp_path) -> Iterator[SessionManager]:
    """A host's session manager with no engines; stopped first, so a dropped connection schedules no reconnect."""
    sessions = SessionManager("unit-host", "127.0.0.1:1", "sqlite:///unused")
    sessions.stop()
    yield sessions


def profile(status: str = "CONNECTING", desired: str = "connected") -> Profile:
    return Profile.create(id=f"s{next(_ids)}", name="S", engine="simulator", status=status, desired_state=desired)


def statuses(profile_id: str) -> list[tuple[str, str, str]]:
    rows = Event.select().where((Event.name == "session.status") & (Event.profile_id == profile_id))
    return [(e.data["previousStatus"], e.data["status"], e.data["reason"]) for e in rows.order_by(Event.id)]


def current(profile_id: str) -> Profile:
    return Profile.get_by_id(profile_id)


@pytest.mark.parametrize(("event", "status", "reason", "desired"), [
    (base.EngineEvent(base.CONNECTED, {"phone_number": "+628111"}), "CONNECTED", "", "connected"),
    (base.EngineEvent(base.DISCONNECTED, {"reason": "connection lost", "reconnect": True}), "RECONNECTING",
     "connection lost", "connected"),
    (base.EngineEvent(base.DISCONNECTED, {"reason": "closed", "reconnect": False}), "DISCONNECTED", "closed",
     "connected"),
    (base.EngineEvent(base.LOGGED_OUT, {"reason": "unlinked"}), "LOGGED_OUT", "unlinked", "disconnected"),
    (base.EngineEvent(base.BANNED, {"reason": "spam", "until": None}), "BANNED", "spam", "connected"),
    (base.EngineEvent(base.FAILED, {"reason": "bad token"}), "FAILED", "bad token", "connected"),
    (base.EngineEvent(base.QR_TIMEOUT, {}), "DISCONNECTED", "the QR code expired before it was scanned",
     "disconnected"),
])
def test_session_events_set_the_status_and_announce_it(manager, event, status, reason, desired):
    owner = profile()
    manager.on_event(owner.id, event)
    assert (current(owner.id).status, current(owner.id).last_error, current(owner.id).desired_state) == (
        status, reason, desired)
    assert statuses(owner.id) == [("CONNECTING", status, reason)]
    manager.on_event(owner.id, event)  # the same again: no second announcement
    assert len(statuses(owner.id)) == 1


def test_a_qr_code_is_shown_until_the_session_connects(manager):
    owner = profile()
    expires = dt.datetime(2026, 11, 30, 10, 1, tzinfo=dt.UTC)
    manager.on_event(owner.id, base.EngineEvent(base.QR, {"code": "2@abc", "expires_at": expires}))
    row = current(owner.id)
    assert (row.status, row.qr_code, row.qr_expires_at) == ("QR_READY", "2@abc", dt.datetime(2026, 11, 30, 10, 1))
    qr = Event.get((Event.name == "qr.updated") & (Event.profile_id == owner.id))
    assert qr.data == {"qr": "2@abc", "expiresAt": "2026-11-30T10:01:00Z"}
    manager.on_event(owner.id, base.EngineEvent(base.CONNECTED, {"phone_number": "+628111"}))
    row = current(owner.id)
    assert (row.status, row.qr_code, row.phone_number) == ("CONNECTED", "", "+628111")


def sent_message(owner: Profile) -> Message:
    message = lifecycle.accept_message(owner, chat_id="628111000001@s.whatsapp.net", type_name="TEXT",
                                       content={"text": "hi"}, now=NOW)
    lifecycle.hand_over(message, NOW)
    lifecycle.sent(message, "wa-1", NOW)
    return message


def test_events_that_arrive_together_share_a_transaction(manager, monkeypatch):
    """On SQLite, receipts of several profiles that arrive while an event is being recorded are recorded together,
    in the next transaction (one turn of SQLite's write lock, one commit), without savepoints: one that fails fails
    alone, the transaction rolled back and the others recorded again, each in its savepoint then. On PostgreSQL
    each is recorded at once by statements that commit by themselves: none waits for another, none needs a
    transaction, and one that fails fails alone."""
    owners = [profile(status="CONNECTED") for _ in range(6)]
    messages = [sent_message(owner) for owner in owners]
    transactions: list[int] = []
    real_transaction, real_receipt = db.write_transaction, manager._receipt
    first_in, release = threading.Event(), threading.Event()

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        transactions.append(1)
        with real_transaction():
            yield

    def receipt(profile_id: str, event: base.EngineEvent) -> bool:
        if not first_in.is_set():
            first_in.set()
            assert release.wait(10)
        if profile_id == owners[-1].id:
            raise RuntimeError("this one's database write failed")
        return real_receipt(profile_id, event)

    monkeypatch.setattr(db, "write_transaction", counted)
    monkeypatch.setattr(manager, "_receipt", receipt)
    failures: list[str] = []

    def deliver(owner: Profile) -> None:
        try:
            manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1",
                                                                       "status": "delivered"}))
        except RuntimeError:
            failures.append(owner.id)

    threads = [threading.Thread(target=deliver, args=(owner,)) for owner in owners]
    threads[0].start()
    assert first_in.wait(10)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    if db.is_sqlite():
        while len(manager._records._waiting.get("", [])) < len(owners) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    else:  # the others are recorded while the first is still held
        while (len(failures) < 1 or count_delivered(messages[1:-1]) < len(owners) - 2) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert count_delivered(messages[1:-1]) == len(owners) - 2
    release.set()
    for thread in threads:
        thread.join(10)
    # SQLite: the first alone; the others together, and again without the failed one
    assert len(transactions) == (3 if db.is_sqlite() else 0)
    assert failures == [owners[-1].id]
    assert [Message.get_by_id(message.id).status for message in messages] == ["DELIVERED"] * 5 + ["SENT"]


def test_receipts_become_message_statuses(manager):
    owner = profile(status="CONNECTED")
    message = sent_message(owner)
    for status in ("server", "delivered", "read", "delivered"):
        manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1", "status": status}))
    assert Message.get_by_id(message.id).status == "READ"
    acks = [e.data["status"] for e in Event.select().where(Event.name == "message.ack").order_by(Event.id)]
    assert acks == ["SENT", "DELIVERED", "READ"]


def test_a_receipt_reads_no_profile_and_a_deleted_profiles_waits_for_nothing(manager, monkeypatch):
    """Two of every sent message's events are receipts: they need the message, not the profile's row, which is
    read only when no message has the receipt's id (a receipt for a deleted profile's message is acknowledged,
    not kept waiting for a send that will never be recorded)."""
    owner = profile(status="CONNECTED")
    message = sent_message(owner)
    reads: list[str] = []
    read = rows.profile
    monkeypatch.setattr(rows, "profile", lambda profile_id: reads.append(profile_id) or read(profile_id))
    acknowledged: list[str] = []
    manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1", "status": "delivered"},
                                                ack=lambda: acknowledged.append("delivered")))
    assert reads == [] and acknowledged == ["delivered"]
    assert Message.get_by_id(message.id).status == "DELIVERED"
    Profile.delete().where(Profile.id == owner.id).execute()
    manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1", "status": "read"},
                                                ack=lambda: acknowledged.append("read")))
    assert reads == [owner.id] and acknowledged == ["delivered", "read"]
    assert not manager._early_receipts


def test_a_receipt_before_its_send_is_recorded_waits_for_it(manager, monkeypatch):
    """WhatsApp may report "delivered" before the engine's send returned: the receipt waits on the host, and is
    applied when send() records the message."""
    owner = profile(status="CONNECTED")
    message = lifecycle.accept_message(owner, chat_id="628111000001@s.whatsapp.net", type_name="TEXT",
                                       content={"text": "hi"}, now=NOW)

    class Engine:
        def send(self, outgoing: base.OutgoingMessage) -> str:
            manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-early",
                                                                       "status": "delivered"}))
            return "wa-early"

    monkeypatch.setattr(manager, "engine", lambda profile_id: Engine())
    assert manager.send(message.id) == "wa-early"
    assert Message.get_by_id(message.id).status == "DELIVERED"
    assert manager.send(message.id) == "wa-early"  # a repeat is answered, not sent again


def test_incoming_messages_are_stored_once(manager):
    owner = profile(status="CONNECTED")
    incoming = base.IncomingMessage("in-1", "628555000111@s.whatsapp.net", "628555000111@s.whatsapp.net", "text",
                                    {"text": "Hi gateway"}, dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))
    for _ in range(2):
        manager.on_event(owner.id, base.EngineEvent(base.MESSAGE, incoming.as_dict()))
    (stored,) = Message.select().where((Message.profile == owner.id) & (Message.direction == "INBOUND"))
    assert (stored.status, stored.type, stored.content, stored.created_at) == (
        "RECEIVED", "TEXT", {"text": "Hi gateway"}, dt.datetime(2026, 11, 30, 9, 0))
    (event,) = Event.select().where(Event.name == "message.received")
    assert event.data["messageId"] == stored.id and event.data["chatId"] == "628555000111@s.whatsapp.net"
    assert event.data["waMessageId"] == "in-1"


# Sends whose outcome is unknown (server/core/delivery_guarantee.py)


class Engine:
    """An engine that records what it sends; `error` makes it refuse."""

    name = "whatsmeow"

    def __init__(self, recognises_repeats: bool = False, error: ApiError | None = None):
        self.recognises_repeats = recognises_repeats
        self.error = error
        self.sent: list[str] = []
        self.dispatched_before_send: list[bool] = []

    def send(self, outgoing: base.OutgoingMessage) -> str:
        self.dispatched_before_send.append(Message.get_by_id(outgoing.id).dispatched_at is not None)
        if self.error is not None:
            raise self.error
        self.sent.append(outgoing.id)
        return f"wa-{outgoing.id}-{len(self.sent)}"


def waiting_message(guarantee: str = "AT_MOST_ONCE") -> Message:
    owner = Profile.create(id=f"s{next(_ids)}", name="S", engine="whatsmeow", status="CONNECTED",
                           desired_state="connected", delivery_guarantee=guarantee)
    message = lifecycle.accept_message(owner, chat_id="628111000001@s.whatsapp.net", type_name="TEXT",
                                       content={"text": "hi"}, now=NOW)
    lifecycle.hand_over(message, NOW)
    return message


def test_a_send_is_marked_dispatched_before_the_engine_is_called(manager, monkeypatch):
    message = waiting_message()
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    assert manager.send(message.id) == f"wa-{message.id}-1"
    assert engine.dispatched_before_send == [True]
    assert Message.get_by_id(message.id).status == "SENT"


def count_delivered(messages: list[Message]) -> int:
    return Message.select().where(Message.id.in_([message.id for message in messages])
                                  & (Message.status == "DELIVERED")).count()


def test_on_sqlite_a_sends_records_share_the_transaction_of_the_events_that_arrive_meanwhile(manager, monkeypatch):
    """SQLite has one writer at a time, whose turn was mostly spent waiting during deliveries: a send's records (its
    dispatch mark, then SENT) join the engine host's group commit, so a send and a receipt that arrive while another
    event's transaction runs share the next one. On PostgreSQL a send's records keep out of the group (a send locks
    its profile's gate row; a group of several profiles could take such rows in another order than a worker
    renewing its leases), and so does a receipt, whose statements commit by themselves: the send and the second
    profile's receipt go on while the first profile's event is being recorded."""
    first, second = profile(status="CONNECTED"), profile(status="CONNECTED")
    second_sent = [sent_message(first), sent_message(second)][1:]
    message = waiting_message()
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    transactions: list[int] = []
    real_transaction, real_receipt = db.write_transaction, manager._receipt
    first_in, release = threading.Event(), threading.Event()

    @contextlib.contextmanager
    def counted(*, savepoint: bool = False) -> Iterator[None]:
        if not db.database.in_transaction():
            transactions.append(1)
        with real_transaction(savepoint=savepoint):
            yield

    def receipt(profile_id: str, event: base.EngineEvent) -> bool:
        if profile_id == first.id:
            first_in.set()
            assert release.wait(10)
        return real_receipt(profile_id, event)

    monkeypatch.setattr(db, "write_transaction", counted)
    monkeypatch.setattr(lifecycle, "write_transaction", counted)
    monkeypatch.setattr(host_sessions, "write_transaction", counted)
    monkeypatch.setattr(manager, "_receipt", receipt)
    delivered = base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1", "status": "delivered"})
    threads = [threading.Thread(target=manager.on_event, args=(first.id, delivered))]
    threads[0].start()
    assert first_in.wait(10)
    threads += [threading.Thread(target=manager.on_event, args=(second.id, delivered)),
                threading.Thread(target=manager.send, args=(message.id,))]
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while (len(manager._records._waiting.get("", [])) < 2 if db.is_sqlite() else
           Message.get_by_id(message.id).status != "SENT" or count_delivered(second_sent) < 1) and (
            time.monotonic() < deadline):
        time.sleep(0.01)
    assert engine.sent == ([] if db.is_sqlite() else [message.id])
    release.set()
    for thread in threads:
        thread.join(10)
    assert engine.sent == [message.id]
    assert Message.get_by_id(message.id).status == "SENT"
    # SQLite: the first event's; the second's with the dispatch mark; SENT. On PostgreSQL none: the receipts, the
    # dispatch mark and a single send's SENT are one statement each, which commits by itself (db.write_statement)
    assert len(transactions) == (3 if db.is_sqlite() else 0)


def test_a_message_whose_outcome_is_unknown_fails_at_most_once(manager, monkeypatch):
    """An engine host died between giving the message to WhatsApp and recording the answer: the message is
    PENDING and marked dispatched. With AT_MOST_ONCE, on an engine that cannot make WhatsApp recognise a repeat,
    it ends FAILED (OUTCOME_UNKNOWN, in its status and a `message.ack` event) and is not sent again."""
    message = waiting_message("AT_MOST_ONCE")
    assert lifecycle.dispatch(message.id, NOW)  # by the host that died
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    with pytest.raises(ApiError) as refused:
        manager.send(message.id)
    assert refused.value.code == "CONFLICT"
    row = Message.get_by_id(message.id)
    assert row.status == "FAILED" and row.error.startswith("OUTCOME_UNKNOWN: ")
    assert engine.sent == []
    [ack] = Event.select().where((Event.name == "message.ack") & (Event.profile_id == row.profile_id))
    assert (ack.data["messageId"], ack.data["status"], ack.data["error"]) == (message.id, "FAILED", row.error)
    with pytest.raises(ApiError):  # asked again: still not sent
        manager.send(message.id)
    assert engine.sent == []


def test_a_send_reads_its_message_once(manager, monkeypatch):
    """The dispatch mark is the check that the message still waits: a send reads the row once, to build what
    goes to WhatsApp (it read it three times: once more under the profile's lock and once to record it SENT)."""
    message = waiting_message()
    reads: list[str] = []
    read = rows.message
    monkeypatch.setattr(rows, "message", lambda message_id: reads.append(message_id) or read(message_id))
    monkeypatch.setattr(manager, "engine", lambda profile_id: Engine())
    assert manager.send(message.id) == f"wa-{message.id}-1"
    assert reads == [message.id]
    row = Message.get_by_id(message.id)
    assert (row.status, row.wa_message_id) == ("SENT", f"wa-{message.id}-1")


def test_a_send_that_names_its_profile_reads_its_message_with_its_dispatch_mark(manager, monkeypatch):
    """A worker's send names the message's profile: the host takes the profile's send lock first, then one
    statement marks the message dispatched and reads it (the read and the mark were two round trips). While the lock
    is held (a receipt of the profile being recorded), nothing is marked."""
    message = waiting_message()
    reads: list[str] = []
    read = rows.message
    monkeypatch.setattr(rows, "message", lambda message_id: reads.append(message_id) or read(message_id))
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    answers: list[str] = []
    with sql_run() as run:
        with manager._send_locks[message.profile_id]:
            sender = threading.Thread(target=lambda: answers.append(manager.send(message.id, message.profile_id)))
            sender.start()
            time.sleep(0.3)  # a lower bound: it can only make the test pass vacuously
            assert Message.get_by_id(message.id).dispatched_at is None
        sender.join(10)
    assert answers == [f"wa-{message.id}-1"]
    assert reads == [] and engine.dispatched_before_send == [True]
    [mark] = [sql for sql in run if sql.startswith('UPDATE "MESSAGE" SET "DISPATCHED_AT"')]
    assert "RETURNING" in mark
    assert Message.get_by_id(message.id).status == "SENT"


def test_a_send_that_names_its_profile_takes_the_general_path_for_a_message_marked_before(manager, monkeypatch):
    """A message whose earlier send has an unknown outcome (marked dispatched) is not marked again: read first, it
    follows its profile's guarantee (here: sent again, AT_LEAST_ONCE)."""
    message = waiting_message("AT_LEAST_ONCE")
    assert lifecycle.dispatch(message.id, NOW)
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    assert manager.send(message.id, message.profile_id) == f"wa-{message.id}-1"
    assert engine.sent == [message.id]
    assert manager.send(message.id, message.profile_id) == f"wa-{message.id}-1"  # a repeat: answered, not sent
    assert engine.sent == [message.id]


def test_a_reply_whose_quote_is_gone_is_not_sent_and_its_mark_is_cleared(manager, monkeypatch):
    """Read with its mark, a reply whose quoted message failed since cannot go: refused (VALIDATION_ERROR naming
    `replyTo`), its dispatch mark cleared, since it never left."""
    message = waiting_message()
    Message.update(reply_to="msg_gone").where(Message.id == message.id).execute()
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    with pytest.raises(ApiError) as refused:
        manager.send(message.id, message.profile_id)
    assert (refused.value.code, refused.value.metadata.get("field")) == ("VALIDATION_ERROR", "replyTo")
    assert engine.sent == [] and Message.get_by_id(message.id).dispatched_at is None


@pytest.mark.parametrize("meanwhile", ["SENT", "CANCELLED", "DELETED"])
def test_a_send_that_finds_its_message_changed_under_the_lock_does_not_send(manager, monkeypatch, meanwhile):
    """Read while still waiting, then sent by a concurrent retry, cancelled or deleted before this send took the
    profile's lock: it is answered with the other send's id, or refused, and not sent again."""
    message = waiting_message()
    engine = Engine()
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    dispatch = lifecycle.dispatch

    def change_first(message_id: str, now: dt.datetime) -> bool:
        if meanwhile == "SENT":
            lifecycle.sent(message, "wa-other", NOW)
        elif meanwhile == "CANCELLED":
            Message.update(status="CANCELLED").where(Message.id == message_id).execute()
        else:
            Message.delete().where(Message.id == message_id).execute()
        return dispatch(message_id, now)

    monkeypatch.setattr(lifecycle, "dispatch", change_first)
    if meanwhile == "SENT":
        assert manager.send(message.id) == "wa-other"
    else:
        with pytest.raises(ApiError) as refused:
            manager.send(message.id)
        assert refused.value.code == ("CONFLICT" if meanwhile == "CANCELLED" else "NOT_FOUND")
    assert engine.sent == []


@pytest.mark.parametrize(("recognises_repeats", "guarantee"), [(False, "AT_LEAST_ONCE"), (True, "AT_MOST_ONCE")])
def test_a_message_whose_outcome_is_unknown_is_sent_again_when_allowed(manager, monkeypatch, recognises_repeats,
                                                                      guarantee):
    """AT_LEAST_ONCE sends it again; so does an engine through which WhatsApp recognises the repeat (the
    simulator), whatever the guarantee."""
    message = waiting_message(guarantee)
    assert lifecycle.dispatch(message.id, NOW)
    engine = Engine(recognises_repeats=recognises_repeats)
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    assert manager.send(message.id) == f"wa-{message.id}-1"
    assert engine.sent == [message.id]
    assert Message.get_by_id(message.id).status == "SENT"


@pytest.mark.parametrize(("code", "marked"), [("ENGINE_ERROR", False), ("RATE_LIMITED", False),
                                              ("UNAVAILABLE", True)])
def test_a_refusal_clears_the_dispatch_mark_and_no_answer_keeps_it(manager, monkeypatch, code, marked):
    """The engine's refusal is an answer (the message did not leave); no answer leaves the outcome unknown."""
    message = waiting_message()
    engine = Engine(error=base.EngineError("whatsmeow", "no", code=code))
    monkeypatch.setattr(manager, "engine", lambda profile_id: engine)
    with pytest.raises(ApiError):
        manager.send(message.id)
    assert (Message.get_by_id(message.id).dispatched_at is not None) is marked


# Acknowledging events


def test_an_event_is_acknowledged_only_once_recorded(manager, monkeypatch):
    owner = profile(status="CONNECTED")
    acknowledged: list[str] = []
    event = base.EngineEvent(base.DISCONNECTED, {"reason": "lost", "reconnect": False},
                             ack=lambda: acknowledged.append("disconnected"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise peewee.OperationalError("database is locked")

    monkeypatch.setattr(events, "record", refuse)
    with pytest.raises(peewee.OperationalError):  # the engine keeps it and offers it again
        manager.on_event(owner.id, event)
    assert acknowledged == [] and current(owner.id).status == "CONNECTED"
    monkeypatch.undo()
    manager.on_event(owner.id, event)
    assert acknowledged == ["disconnected"] and current(owner.id).status == "DISCONNECTED"


def test_a_server_receipt_is_acknowledged_without_a_transaction(manager, monkeypatch):
    """"server" (WhatsApp has the message) brings nothing send() did not record: it is acknowledged at once, and
    takes no turn of the host's writes (one of every sent message's three receipts)."""
    owner = profile(status="CONNECTED")
    message = sent_message(owner)
    acknowledged: list[str] = []
    monkeypatch.setattr(manager._records, "run", lambda *args, **kwargs: pytest.fail("recorded"))
    manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-1", "status": "server"},
                                                ack=lambda: acknowledged.append("server")))
    assert acknowledged == ["server"]
    assert Message.get_by_id(message.id).status == "SENT"


def test_an_early_receipt_is_acknowledged_when_its_send_is_recorded(manager, monkeypatch):
    """A receipt for a WhatsApp id no message has yet waits on the host unacknowledged (so a host that dies
    meanwhile leaves it to the next), and is acknowledged once the send it belongs to is recorded."""
    owner = profile(status="CONNECTED")
    message = lifecycle.accept_message(owner, chat_id="628111000001@s.whatsapp.net", type_name="TEXT",
                                       content={"text": "hi"}, now=NOW)
    acknowledged: list[str] = []
    manager.on_event(owner.id, base.EngineEvent(base.RECEIPT, {"wa_message_id": "wa-early", "status": "read"},
                                                ack=lambda: acknowledged.append("read")))
    assert acknowledged == []

    class Sends:
        recognises_repeats = True
        name = "simulator"

        def send(self, outgoing: base.OutgoingMessage) -> str:
            return "wa-early"

    monkeypatch.setattr(manager, "engine", lambda profile_id: Sends())
    manager.send(message.id)
    assert acknowledged == ["read"]
    assert Message.get_by_id(message.id).status == "READ"

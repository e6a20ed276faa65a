"""The whatsmeow engine under a real host (server/engine_host/sessions.py), offline: neonize's real clients and
dispatch path with WhatsApp's side stood in for as in tests/unit/test_whatsmeow.py, and the host's reconnect timers
replaced by ones the test fires, so that backoff is checked without waiting for it.

What the host makes of a session: an outage while starting or later is RECONNECTING with a capped backoff, never
FAILED; a dropped connection is left to whatsmeow's own reconnect before the host takes over; a server-error
receipt fails the message it concerns; a logout stops the Go client.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from neonize.client import NewClient
from neonize.exc import NeonizeError
from neonize.proto import Neonize_pb2 as nz
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from server.core import lids, lifecycle
from server.core.models import Event, Message, Profile
from server.core.phones import normalize_chat_id
from server.engine_host import sessions
from server.engine_host.engines.base import GROUP, EngineEvent
from server.engine_host.engines.cloudapi.engine import CloudApiEngine
from server.engine_host.engines.store import DatabaseSessionStore
from server.engine_host.engines.whatsmeow import SERVER_ERROR_REASON, WhatsmeowEngine, _DeviceTable
from server.engine_host.sessions import ENGINE_RETRIES_FOR_S, RECONNECT_BACKOFF_S, SessionManager
from tests.unit.test_cloudapi import PHONE_ID, SETTINGS, Graph, meta_error
from tests.unit.test_sessions import NOW, current, statuses
from tests.unit.test_whatsmeow import (  # noqa: F401  (the fixture: a fake WhatsApp)
    ANN,
    EMPTY,
    GROUP_ID,
    GROUP_USER,
    ME,
    NOW_MS,
    FakeWhatsApp,
    device_event,
    feed,
    jid,
    message_event,
    source,
    whatsapp,
)

DIAL_ERROR = "failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com: no such host"
_ids = itertools.count()


class Timer(threading.Thread):
    """threading.Timer as the host uses it, started only when the test fires it (on a thread of its own, as a
    real timer runs its function)."""

    def __init__(self, delay: float, function: Callable[..., None], args: tuple[Any, ...] = ()) -> None:
        super().__init__(target=function, args=args, daemon=True)
        self.delay = delay
        self.cancelled = False

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        threading.Thread.start(self)
        self.join(30)


@pytest.fixture
def host(database, stub_broker, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionManager]:
    """A host whose reconnects wait for the test; whatsmeow's store is taken to hold every device remembered."""
    monkeypatch.setattr(sessions.threading, "Timer", Timer)
    monkeypatch.setattr(_DeviceTable, "holds", lambda table, jid: True)
    manager = SessionManager("unit-host", "127.0.0.1:1", f"sqlite:///{tmp_path / 'wagw.db'}")
    manager._beat()  # alive, as its heartbeat thread would keep it: a host whose lease lapsed restores nothing
    yield manager
    manager.stop()


def linked_profile(host: SessionManager, status: str = "CONNECTED", engine: str = "whatsmeow",
                   settings: dict[str, Any] | None = None) -> Profile:
    """A profile this host held before it restarted, with its credentials."""
    profile = Profile.create(id=f"w{next(_ids)}", name="W", engine=engine, status=status,
                             desired_state="connected", host_id=host.host_id, engine_settings=settings or {})
    if engine == "whatsmeow":
        DatabaseSessionStore(profile.id, engine, host.database_url).save(
            {"jid": f"{ME}:7@s.whatsapp.net", "phone_number": f"+{ME}"})
    return profile


def unreachable(client: NewClient) -> None:
    raise NeonizeError(DIAL_ERROR)


ANSWERS = [lambda client: feed(client, device_event()), lambda client: feed(client, nz.Connected(status=True))]


def pending(host: SessionManager, profile_id: str) -> Timer:
    timer = host._reconnects[profile_id]
    assert isinstance(timer, Timer)
    return timer


def test_a_start_while_whatsapp_is_unreachable_reconnects_with_a_capped_backoff(host, whatsapp: FakeWhatsApp):  # noqa: F811
    owner = linked_profile(host)
    whatsapp.script = [unreachable]
    host.restore()
    delays = []
    for _ in range(len(RECONNECT_BACKOFF_S) + 2):
        timer = pending(host, owner.id)
        delays.append(timer.delay)
        timer.fire()
        assert current(owner.id).status == "RECONNECTING"
    assert delays == [1, 2, 4, 8, 15, 30, 60, 120, 180, 180, 180]

    whatsapp.script = ANSWERS  # WhatsApp is back
    pending(host, owner.id).fire()
    reason = f"cannot reach WhatsApp: {DIAL_ERROR}"
    assert statuses(owner.id) == [("CONNECTED", "CONNECTING", ""), ("CONNECTING", "RECONNECTING", reason),
                                  ("RECONNECTING", "CONNECTED", "")]
    assert owner.id not in host._reconnects
    assert DatabaseSessionStore(owner.id, "whatsmeow", host.database_url).load() is not None


def test_a_dropped_connection_is_left_to_whatsmeow_until_the_host_takes_over(host, whatsapp: FakeWhatsApp,  # noqa: F811
                                                                             monkeypatch: pytest.MonkeyPatch):
    owner = linked_profile(host)
    whatsapp.script = ANSWERS
    host.connect(owner.id)
    engine = host.engine(owner.id)
    assert isinstance(engine, WhatsmeowEngine)
    client = engine.client
    stopped: list[bytes] = []
    stop = whatsapp.stop
    monkeypatch.setattr(whatsapp, "stop", lambda c: (stopped.append(c.uuid), stop(c)))

    feed(client, nz.Disconnected(status=True))  # whatsmeow reconnects by itself: its client is left alone
    assert current(owner.id).status == "RECONNECTING"
    assert pending(host, owner.id).delay == ENGINE_RETRIES_FOR_S
    feed(client, nz.Connected(status=True))
    assert current(owner.id).status == "CONNECTED" and owner.id not in host._reconnects
    assert stopped == [] and engine.client is client

    feed(client, nz.Disconnected(status=True))  # a long outage: whatsmeow's growing delays are not waited out
    whatsapp.script = [unreachable]
    pending(host, owner.id).fire()
    assert stopped == [client.uuid] and engine.client is not client
    assert current(owner.id).status == "RECONNECTING"
    assert pending(host, owner.id).delay == RECONNECT_BACKOFF_S[1]
    assert "FAILED" not in {status for _, status, _ in statuses(owner.id)}


def test_restore_retries_a_registered_session_left_without_an_attempt(host, whatsapp: FakeWhatsApp):  # noqa: F811
    owner = linked_profile(host)
    whatsapp.script = [unreachable]
    host.connect(owner.id)
    host._cancel_reconnect(owner.id)  # as when an attempt died of an error nobody caught
    assert current(owner.id).status == "RECONNECTING"

    whatsapp.script = ANSWERS
    host.restore()
    timer = pending(host, owner.id)
    assert timer.delay == 0
    timer.fire()
    assert current(owner.id).status == "CONNECTED"


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Graph:
    """The Graph API every Cloud API engine of the host talks to."""
    graph = Graph()
    original = sessions.engine_class

    def engine_class(name: str) -> Any:
        if name == "cloudapi":
            return functools.partial(CloudApiEngine, transport=httpx.MockTransport(graph))
        return original(name)

    monkeypatch.setattr(sessions, "engine_class", engine_class)
    return graph


def test_cloud_api_a_network_error_reconnects_and_a_refused_token_fails(host, graph: Graph):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    graph.on("GET", f"/v26.0/{PHONE_ID}", refuse)
    offline = linked_profile(host, engine="cloudapi", settings=SETTINGS)
    host.restore()
    delays = []
    for _ in range(4):
        timer = pending(host, offline.id)
        delays.append(timer.delay)
        timer.fire()
        assert current(offline.id).status == "RECONNECTING"
    assert delays == [1, 2, 4, 8]  # one attempt counted once, however the failure is reported

    graph.routes.clear()
    graph.on("GET", f"/v26.0/{PHONE_ID}", meta_error(401, 190, "Error validating access token", subcode=463))
    pending(host, offline.id).fire()
    assert current(offline.id).status == "FAILED"
    assert current(offline.id).last_error.startswith("authorization failed (190)")
    assert offline.id not in host._reconnects


def test_a_server_error_receipt_fails_the_message(host, whatsapp: FakeWhatsApp):  # noqa: F811
    owner = linked_profile(host)
    whatsapp.script = ANSWERS
    host.connect(owner.id)
    message = lifecycle.accept_message(owner, chat_id=f"{ANN}@s.whatsapp.net", type_name="TEXT",
                                       content={"text": "hi"}, now=NOW)
    lifecycle.hand_over(message, NOW)
    lifecycle.sent(message, "3EB0S1", NOW)
    client = host.engine(owner.id).client
    ann = jid(ANN)
    # neonize writes whatsmeow's "played-self" as SERVER_ERROR (our own other device played it): nothing changes.
    feed(client, nz.Receipt(MessageSource=source(ann, ann), MessageIDs=["3EB0S1"], Timestamp=NOW_MS // 1000,
                            Type=nz.Receipt.SERVER_ERROR))
    assert Message.get_by_id(message.id).status == "SENT"
    # whatsmeow's "server-error" receipt: neonize leaves the type unset.
    receipt = nz.Receipt(MessageSource=source(ann, ann), MessageIDs=["3EB0S1"], Timestamp=NOW_MS // 1000)
    feed(client, receipt, partial=True)
    stored = Message.get_by_id(message.id)
    assert (stored.status, stored.error) == ("FAILED", SERVER_ERROR_REASON)
    acks = [e.data for e in Event.select().where(Event.name == "message.ack").order_by(Event.id)]
    assert [ack["status"] for ack in acks] == ["SENT", "FAILED"]


def test_a_logout_from_the_phone_stops_the_go_client(host, whatsapp: FakeWhatsApp, monkeypatch):  # noqa: F811
    owner = linked_profile(host)
    whatsapp.script = ANSWERS
    host.connect(owner.id)
    engine = host.engine(owner.id)
    client = engine.client
    stopped = threading.Event()
    stop = whatsapp.stop
    monkeypatch.setattr(whatsapp, "stop", lambda c: (c is client and stopped.set(), stop(c)))

    feed(client, nz.LoggedOut(OnConnect=False, Reason=nz.ConnectFailureReason.LOGGED_OUT))
    assert stopped.wait(10), "the logged-out client was not stopped"
    assert current(owner.id).status == "LOGGED_OUT"
    assert engine.client is None
    assert DatabaseSessionStore(owner.id, "whatsmeow", host.database_url).load() is None


# People WhatsApp addresses by LID

LID = "77@lid"
ANN_CHAT = f"{ANN}@s.whatsapp.net"


def lid_message(client: NewClient, message_id: str, text: str, *, alt: nz.JID = EMPTY) -> None:
    sender = jid("77", "lid")
    feed(client, message_event(message_id, source(sender, sender, alt=alt), WAMessage(conversation=text)))


def test_a_lid_only_contact_keeps_one_conversation_once_its_number_is_known(host, whatsapp: FakeWhatsApp,  # noqa: F811
                                                                            monkeypatch):
    owner = linked_profile(host)
    whatsapp.script = ANSWERS
    host.connect(owner.id)
    client = host.engine(owner.id).client
    known: dict[str, nz.JID] = {}  # whatsmeow's LID map
    monkeypatch.setattr(client, "get_pn_from_lid", lambda lid: known.get(lid.User, EMPTY))
    sent: list[nz.JID] = []
    monkeypatch.setattr(client, "send_message", lambda to, message: (
        sent.append(to), nz.SendResponse(ID="3EB0R1", Timestamp=0, ServerID=0))[1])

    lid_message(client, "3EB0L1", "hi, from a LID only")
    first = Message.get(Message.wa_message_id == "3EB0L1")
    assert (first.chat_id, first.sender) == (LID, LID)
    event = Event.get(Event.name == "message.received")
    assert (event.data["chatId"], event.data["lid"]) == (LID, LID)

    # A reply to them goes to their LID, which the API accepts as a chat id.
    assert normalize_chat_id(" 77@lid ", "chatId") == LID
    reply = lifecycle.accept_message(owner, chat_id=LID, type_name="TEXT", content={"text": "hello!"}, now=NOW)
    lifecycle.hand_over(reply, NOW)
    assert host.send(reply.id) == "3EB0R1"
    assert sent == [jid("77", "lid")]

    # WhatsApp names their number beside the LID: the number is their chat id from now on, for what came before too.
    lid_message(client, "3EB0L2", "my number is known now", alt=jid(ANN))
    event = Event.select().where(Event.name == "message.received").order_by(Event.id.desc()).first()
    assert (event.data["chatId"], event.data["sender"], event.data["lid"]) == (ANN_CHAT, ANN_CHAT, LID)
    assert lids.phone_chat_id(owner.id, LID) == ANN_CHAT
    lid_message(client, "3EB0L3", "and again by LID only")
    rows = Message.select().where(Message.profile == owner.id)
    assert {(row.wa_message_id, row.chat_id) for row in rows} == {
        ("3EB0L1", ANN_CHAT), ("3EB0R1", ANN_CHAT), ("3EB0L2", ANN_CHAT), ("3EB0L3", ANN_CHAT)}
    assert {row.sender for row in rows if row.direction == "INBOUND"} == {ANN_CHAT}


def test_whatsmeows_lid_map_names_senders_and_group_members_by_number(host, whatsapp: FakeWhatsApp,  # noqa: F811
                                                                      monkeypatch):
    owner = linked_profile(host)
    whatsapp.script = ANSWERS
    host.connect(owner.id)
    engine = host.engine(owner.id)
    client = engine.client
    known = {"77": jid(ANN), "88": jid("628444555666")}
    monkeypatch.setattr(client, "get_pn_from_lid", lambda lid: known.get(lid.User, EMPTY))
    events: list[EngineEvent] = []
    emit = engine.emit
    monkeypatch.setattr(engine, "emit", lambda event: (events.append(event), emit(event)))

    lid_message(client, "3EB0M1", "no number beside it, but whatsmeow knows it")
    assert (events[-1].data["chat_id"], events[-1].data["sender"], events[-1].data["lid"]) == (ANN_CHAT, ANN_CHAT,
                                                                                                LID)
    group = jid(GROUP_USER, "g.us")
    feed(client, nz.GroupInfoEvent(
        JID=group, Notify="", Sender=jid("77", "lid"), Timestamp=NOW_MS // 1000, PrevParticipantsVersionID="",
        ParticipantVersionID="", JoinReason="", Join=[jid("88", "lid"), jid("99", "lid")]))
    assert events[-1] == EngineEvent(GROUP, {"group_id": GROUP_ID, "action": "join", "by": ANN_CHAT,
                                             "participants": ["628444555666@s.whatsapp.net", "99@lid"]})
    updated = Event.get(Event.name == "group.updated")
    assert updated.data["participants"] == ["628444555666@s.whatsapp.net", "99@lid"]

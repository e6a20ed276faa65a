"""The `simulator` engine against the simulator service, both in this process: the service on a free port over
a network on a manual clock, engines on links of their own (each link is what one engine host holds). No
processes: tests/integration/test_simulator_network.py runs the real ones."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from server.core.config import Settings
from server.core.errors import ApiError, error_info
from server.core.rpc import INTERNAL_TOKEN_HEADER
from server.engine_host.engines import base
from server.engine_host.engines.base import EngineError, EngineEvent, Media, OutgoingMessage
from server.engine_host.engines.simulator import (
    SimulatorEngine,
    SimulatorLink,
    _Acknowledgements,
    default_auto_pair_phone,
)
from server.simulator.clock import ManualClock, RealClock
from server.simulator.network import SimulatedNetwork
from server.simulator.service import build_server, open_network
from server.simulator.store import NetworkState, SqliteNetworkState
from tests.support.net import LOCALHOST
from wagw.simulator.v1 import simulator_pb2 as pb
from wagw.simulator.v1 import simulator_pb2_grpc

TOKEN = "unit-test-token"
METADATA = ((INTERNAL_TOKEN_HEADER, TOKEN),)
ALICE, BOB, CAROL = "+628111000001", "+628111000002", "+628111000003"
UNREGISTERED = "+628111110000"
WAIT_S = 10


def jid(phone: str) -> str:
    return phone.removeprefix("+") + "@s.whatsapp.net"


@dataclass
class Service:
    network: SimulatedNetwork
    clock: ManualClock
    server: grpc.Server
    port: int

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def stop(self) -> None:
        self.server.stop(0).wait()
        self.network.close()


def start_service(state: NetworkState | None = None, port: int = 0) -> Service:
    clock = ManualClock()
    network = SimulatedNetwork("test-seed", clock, state=state)
    server, bound = build_server(Settings(internal_token=TOKEN, grpc_workers=16), network, f"{LOCALHOST}:{port}")
    server.start()
    return Service(network, clock, server, bound)


@pytest.fixture
def service() -> Iterator[Service]:
    running = start_service()
    yield running
    running.stop()


@pytest.fixture
def new_link(service: Service) -> Iterator[Callable[[], SimulatorLink]]:
    """`new_link()`: one engine host's connection to the service."""
    links: list[SimulatorLink] = []

    def make() -> SimulatorLink:
        links.append(SimulatorLink(service.address, METADATA))
        return links[-1]

    yield make
    for link in links:
        link.close()


class Host:
    """What an engine host does with an engine: it keeps its credentials and records its events."""

    def __init__(self, profile_id: str):
        self.profile_id = profile_id
        self.database_url = ""
        self.data: dict[str, Any] | None = None
        self.events: list[EngineEvent] = []
        self.changed = threading.Condition()

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    def clear(self) -> None:
        self.data = None

    def emit(self, event: EngineEvent) -> None:
        """Record the event, then acknowledge it (as SessionManager.on_event does)."""
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()
        if event.ack is not None:
            event.ack()

    def of(self, type: str) -> list[dict[str, Any]]:
        with self.changed:
            return [event.data for event in self.events if event.type == type]

    def types(self) -> list[str]:
        with self.changed:
            return [event.type for event in self.events]

    def receipts(self, wa_message_id: str) -> list[str]:
        return [data["status"] for data in self.of(base.RECEIPT) if data["wa_message_id"] == wa_message_id]

    def wait(self, check: Callable[[], Any], what: str) -> Any:
        with self.changed:
            result = self.changed.wait_for(check, WAIT_S)
        assert result, f"{self.profile_id}: no {what} (events: {self.types()})"
        return result


def engine(link: SimulatorLink, profile_id: str, host: Host | None = None, **settings: Any
           ) -> tuple[SimulatorEngine, Host]:
    host = host or Host(profile_id)
    return SimulatorEngine(profile_id, settings, host, host.emit, link=link), host


def linked(service: Service, link: SimulatorLink, profile_id: str, phone: str) -> tuple[SimulatorEngine, Host]:
    """A connected engine: a QR login its phone scans."""
    device, host = engine(link, profile_id)
    device.connect()
    qr = host.wait(lambda: host.of(base.QR), "QR code")[-1]
    service.network.scan(qr["code"], phone)
    host.wait(lambda: host.of(base.CONNECTED), "connection")
    return device, host


def text(to: str, body: str, message_id: str = "") -> OutgoingMessage:
    return OutgoingMessage(to, "text", {"text": body}, id=message_id)


# The engine's calls and events, both ways


def test_a_device_logs_in_sends_receives_and_hears_its_receipts(service, new_link):
    link = new_link()
    start = service.clock.now()
    alice, alice_host = linked(service, link, "a", ALICE)
    assert alice_host.of(base.QR)[0]["expires_at"] == start + dt.timedelta(seconds=60)
    assert alice_host.of(base.CONNECTED) == [{"phone_number": ALICE, "push_name": "Simulated 0001"}]
    assert alice_host.data is not None and alice_host.data["phone_number"] == ALICE  # the credentials, kept
    _, bob_host = linked(service, link, "b", BOB)
    wa_id = alice.send(text(jid(BOB), "Hello Bob!", "msg_1"))
    service.clock.advance(2)
    alice_host.wait(lambda: alice_host.receipts(wa_id) == ["server", "delivered", "read"], "receipts")
    [receipt] = [data for data in alice_host.of(base.RECEIPT) if data["status"] == "read"]
    assert receipt == {"wa_message_id": wa_id, "chat_id": jid(BOB), "status": "read",
                       "timestamp": start + dt.timedelta(seconds=1.2)}
    [received] = bob_host.wait(lambda: bob_host.of(base.MESSAGE), "message")
    assert received == {"wa_message_id": wa_id, "chat_id": jid(ALICE), "sender": jid(ALICE), "type": "text",
                        "content": {"text": "Hello Bob!"}, "timestamp": start, "sender_name": "Simulated 0001"}
    assert alice.send(text(jid(BOB), "Hello Bob!", "msg_1")) == wa_id  # a repeat is recognised
    assert [m["content"]["text"] for m in service.network.inbox(BOB)] == ["Hello Bob!"]
    assert alice.lookup([BOB, UNREGISTERED]) == {BOB: jid(BOB), UNREGISTERED: ""}


def test_media_travels_as_its_description(service, new_link):
    link = new_link()
    alice, _ = linked(service, link, "a", ALICE)
    _, bob_host = linked(service, link, "b", BOB)
    picture = b"\x89PNG fake image"
    alice.send(OutgoingMessage(BOB, "image", {"caption": "a cat"}, Media(picture, "image/png", "cat.png")))
    service.clock.advance(0.2)
    [received] = bob_host.wait(lambda: bob_host.of(base.MESSAGE), "message")
    assert received["content"] == {"caption": "a cat", "media": {
        "mimetype": "image/png", "filename": "cat.png", "size": len(picture),
        "sha256": hashlib.sha256(picture).hexdigest()}}


def test_pairing_code_and_auto_pair(service, new_link):
    device, host = engine(new_link(), "demo", autoPair=True, autoPairPhone=ALICE, autoPairDelayMs=500)
    code = device.connect(ALICE)
    assert host.wait(lambda: host.of(base.PAIRING), "pairing code") == [{"code": code}]
    service.clock.advance(0.5)
    assert host.wait(lambda: host.of(base.CONNECTED), "connection")[0]["phone_number"] == ALICE


def test_refusals_keep_their_code_and_reason(service, new_link):
    link = new_link()
    idle, _ = engine(link, "idle")
    with pytest.raises(EngineError) as error:
        idle.send(text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    alice, alice_host = linked(service, link, "a", ALICE)
    with pytest.raises(EngineError) as error:
        alice.send(text(UNREGISTERED, "hi"))
    assert (error.value.code, error.value.message) == ("ENGINE_ERROR", "simulator: recipient is not on WhatsApp")
    assert error.value.metadata["engine"] == "simulator"
    service.network.inject("a", "temporary_ban", seconds=100)
    banned = alice_host.wait(lambda: alice_host.of(base.BANNED), "ban")[0]
    assert banned["until"] == service.clock.now() + dt.timedelta(seconds=100)
    with pytest.raises(EngineError) as error:
        alice.connect()
    assert "temporarily banned" in error.value.message and error.value.metadata["until"]


def test_group_operations(service, new_link):
    link = new_link()
    alice, _ = linked(service, link, "a", ALICE)
    bob, bob_host = linked(service, link, "b", BOB)
    info, results = alice.create_group("Team", [BOB, UNREGISTERED])
    assert [(r.chat_id, r.status) for r in results] == [(jid(BOB), "ADDED"), (jid(UNREGISTERED), "NOT_ON_WHATSAPP")]
    assert results[1].error == "not on WhatsApp"
    assert [(p.chat_id, p.role) for p in info.participants] == [(jid(ALICE), "SUPERADMIN"), (jid(BOB), "MEMBER")]
    assert info.created_at == service.clock.now() and info.owner == jid(ALICE)
    assert bob.get_group(info.group_id) == info == alice.list_groups()[0]
    with pytest.raises(EngineError) as error:
        bob.update_group(info.group_id, announce=True)
    assert error.value.code == "NOT_GROUP_ADMIN"
    assert alice.update_group(info.group_id, description="daily", announce=True).announce
    changes = bob_host.wait(lambda: len(bob_host.of(base.GROUP)) == 3 and bob_host.of(base.GROUP), "group changes")
    assert changes == [
        {"group_id": info.group_id, "action": "create", "participants": [jid(ALICE), jid(BOB)], "by": jid(ALICE),
         "name": "Team"},
        {"group_id": info.group_id, "action": "description", "participants": [], "by": jid(ALICE),
         "description": "daily"},
        {"group_id": info.group_id, "action": "settings", "participants": [], "by": jid(ALICE), "announce": True}]
    assert [r.status for r in alice.update_participants(info.group_id, "promote", [BOB])] == ["PROMOTED"]
    code = bob.invite_link(info.group_id)
    assert bob.invite_link(info.group_id, revoke=True) != code
    alice.leave_group(info.group_id)
    assert alice.list_groups() == []


def test_a_new_engine_of_a_profile_hears_nothing_meant_for_the_one_before(service, new_link):
    """The engine host drops an engine on disconnect and makes a new one to connect again: the old engine's late
    `disconnected` must not reach the new one (it would show a connected profile DISCONNECTED)."""
    link = new_link()
    first, first_host = linked(service, link, "a", ALICE)
    second, second_host = engine(link, "a", Host("a"))  # the profile's engine on this host from now on
    first.disconnect()
    second_host.data = first_host.data
    second.connect()
    service.clock.advance(0.05)
    second_host.wait(lambda: second_host.of(base.CONNECTED), "connection")
    service.network.send_from(BOB, ALICE, "text", {"text": "for the new engine"})
    second_host.wait(lambda: second_host.of(base.MESSAGE), "message")
    assert second_host.types() == [base.CONNECTED, base.MESSAGE]


def test_logout_forgets_the_credentials(service, new_link):
    alice, host = linked(service, new_link(), "a", ALICE)
    alice.logout()
    assert host.wait(lambda: host.of(base.LOGGED_OUT), "logout") == [{"reason": "logged out"}]
    assert host.data is None


# One network for every engine host, and no profile waiting on another


def test_profiles_on_two_engine_hosts_message_each_other(service, new_link):
    alice, alice_host = linked(service, new_link(), "a", ALICE)
    _, bob_host = linked(service, new_link(), "b", BOB)
    wa_id = alice.send(text(BOB, "across hosts"))
    service.clock.advance(2)
    assert bob_host.wait(lambda: bob_host.of(base.MESSAGE), "message")[0]["content"] == {"text": "across hosts"}
    alice_host.wait(lambda: alice_host.receipts(wa_id) == ["server", "delivered", "read"], "receipts")


def test_a_profile_slow_to_record_its_events_delays_no_other(service, new_link):
    """One link carries every profile of an engine host. Alice's host is stuck recording her first message;
    Bob's events on the same link still arrive, and Alice's arrive in order once she is unstuck."""
    link = new_link()
    stuck = threading.Event()
    release = threading.Event()
    alice, alice_host = linked(service, link, "a", ALICE)
    bob, bob_host = linked(service, link, "b", BOB)
    _, carol_host = linked(service, link, "c", CAROL)

    def slow_emit(event: EngineEvent) -> None:
        if event.type == base.MESSAGE:
            stuck.set()
            assert release.wait(WAIT_S)
        alice_host.emit(event)

    alice.emit = slow_emit
    try:
        service.network.send_from(CAROL, ALICE, "text", {"text": "first"})
        assert stuck.wait(WAIT_S)
        service.network.send_from(CAROL, ALICE, "text", {"text": "second"})
        wa_id = bob.send(text(CAROL, "while Alice is stuck"))
        service.clock.advance(2)
        bob_host.wait(lambda: bob_host.receipts(wa_id) == ["server", "delivered", "read"], "Bob's receipts")
        carol_host.wait(lambda: carol_host.of(base.MESSAGE), "Carol's message")
        assert alice_host.of(base.MESSAGE) == []
    finally:
        release.set()
    alice_host.wait(lambda: len(alice_host.of(base.MESSAGE)) == 2, "Alice's messages")
    assert [m["content"]["text"] for m in alice_host.of(base.MESSAGE)] == ["first", "second"]


def test_a_host_that_died_before_recording_leaves_its_events_to_the_next(service, new_link):
    """Host 1 hands Alice's receipts to a handler that dies before recording them, then dies itself; receipts
    keep coming while no host holds her. Host 2 takes Alice over (her credentials are in the shared database):
    it gets every receipt that was not recorded."""
    first_link = new_link()
    alice, first_host = linked(service, first_link, "a", ALICE)
    linked(service, first_link, "b", BOB)

    def dies(event: EngineEvent) -> None:
        raise RuntimeError("killed while recording")

    alice.emit = dies
    wa_id = alice.send(text(BOB, "hello", "msg_1"))
    service.clock.advance(0.5)  # server and delivered: handed to host 1, never recorded
    first_link.close()  # host 1 is gone: its stream ends
    service.clock.advance(1)  # read, while nobody holds Alice
    taker, second_host = engine(new_link(), "a", Host("a"))
    second_host.data = first_host.data
    taker.connect()
    service.clock.advance(0.05)
    second_host.wait(lambda: second_host.receipts(wa_id) == ["server", "delivered", "read"], "receipts")
    assert second_host.types()[0] == base.CONNECTED


def test_an_event_the_host_could_not_record_is_offered_again_and_acknowledged_once_recorded(service, new_link):
    """Alice's host fails to record her receipts twice (its database refused): the engine offers each again until
    it is recorded, and only then acknowledges it, so a host taking her over later gets none of them again."""
    link = new_link()
    alice, alice_host = linked(service, link, "a", ALICE)
    linked(service, link, "b", BOB)
    refusals: list[str] = []

    def refuses_twice(event: EngineEvent) -> None:
        if event.type == base.RECEIPT and len(refusals) < 2:
            refusals.append(event.data["status"])
            raise RuntimeError("the database refused")
        alice_host.emit(event)  # records it, then acknowledges it
        if event.type == base.RECEIPT:
            with alice_host.changed:
                acknowledged.append(event.data["status"])
                alice_host.changed.notify_all()

    acknowledged: list[str] = []
    alice.emit = refuses_twice
    wa_id = alice.send(text(BOB, "hello", "msg_1"))
    service.clock.advance(2)
    alice_host.wait(lambda: acknowledged == ["server", "delivered", "read"], "receipts recorded and acknowledged")
    assert alice_host.receipts(wa_id) == ["server", "delivered", "read"]
    assert refusals == ["server", "server"]
    link.close()  # Alice's host is gone; the next one gets what was not acknowledged
    taker, taker_host = engine(new_link(), "a", Host("a"))
    taker_host.data = alice_host.data
    taker.connect()
    service.clock.advance(0.05)
    taker_host.wait(lambda: taker_host.of(base.CONNECTED), "connection")
    service.network.send_from(BOB, ALICE, "text", {"text": "after the takeover"})
    taker_host.wait(lambda: taker_host.of(base.MESSAGE), "a message after the takeover")
    assert taker_host.of(base.RECEIPT) == []


def test_acknowledgements_go_once_a_pause_and_closing_sends_what_waits():
    """A lone recorded event is acknowledged at once; those recorded within the pause after a call go together in
    the next one; a link that closes sends what is waiting at once (what a crash leaves unsent the network hands
    out again)."""
    calls: list[tuple[float, list[int]]] = []
    changed = threading.Condition()

    def send(seqs: list[int]) -> None:
        with changed:
            calls.append((time.monotonic(), seqs))
            changed.notify_all()

    acknowledgements = _Acknowledgements(send, every_s=1.0)
    acknowledgements.add(1)
    with changed:
        assert changed.wait_for(lambda: calls, WAIT_S)
    for seq in range(2, 5):
        acknowledgements.add(seq)
    with changed:
        assert changed.wait_for(lambda: len(calls) == 2, WAIT_S)
    assert [seqs for _, seqs in calls] == [[1], [2, 3, 4]]
    assert calls[1][0] - calls[0][0] >= 1.0
    acknowledgements.add(5)  # in the pause after the second call
    closing = time.monotonic()
    acknowledgements.close()
    assert [seqs for _, seqs in calls] == [[1], [2, 3, 4], [5]]
    assert time.monotonic() - closing < 0.9  # not after the pause
    acknowledgements.add(6)  # closed: kept by the network for the next attachment
    assert [seq for _, seqs in calls for seq in seqs] == [1, 2, 3, 4, 5]


def test_the_newest_attachment_wins(service, new_link):
    first, first_host = linked(service, new_link(), "a", ALICE)
    linked(service, new_link(), "b", BOB)
    second, second_host = engine(new_link(), "a", Host("a"))
    second_host.data = first_host.data
    second.connect()
    service.clock.advance(0.05)
    second_host.wait(lambda: second_host.of(base.CONNECTED), "connection")
    with pytest.raises(EngineError) as error:
        first.send(text(BOB, "from the replaced host"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    wa_id = second.send(text(BOB, "from the new host"))
    service.clock.advance(2)
    second_host.wait(lambda: second_host.receipts(wa_id) == ["server", "delivered", "read"], "receipts")
    assert first_host.receipts(wa_id) == []
    assert base.DISCONNECTED not in first_host.types()  # replaced, not dropped: nothing to reconnect


def test_the_engine_reconnects_after_the_simulator_service_restarts(tmp_path, new_link):
    state = tmp_path / "simulator.db"
    running = start_service(SqliteNetworkState(str(state)))
    link = SimulatorLink(running.address, METADATA)
    try:
        alice, alice_host = linked(running, link, "a", ALICE)
        running.network.set_reads(BOB, delay=10)
        wa_id = alice.send(text(BOB, "sent before the restart", "msg_1"))
        running.clock.advance(0.5)
        alice_host.wait(lambda: alice_host.receipts(wa_id) == ["server", "delivered"], "delivery")
        running.stop()
        dropped = alice_host.wait(lambda: alice_host.of(base.DISCONNECTED), "dropped connection")
        assert dropped == [{"reason": "the connection to the simulated WhatsApp was lost", "reconnect": True}]
        running = start_service(SqliteNetworkState(str(state)), running.port)
        alice.connect()  # as the engine host's reconnect does
        running.clock.advance(0.05)
        alice_host.wait(lambda: len(alice_host.of(base.CONNECTED)) == 2, "connection again")
        running.clock.advance(10)
        # A receipt recorded just before the service stopped may come again (its acknowledgement was lost):
        # recording one twice changes nothing. None is lost.
        alice_host.wait(lambda: "read" in alice_host.receipts(wa_id), "read receipt")
        assert set(alice_host.receipts(wa_id)) == {"server", "delivered", "read"}
        assert alice.send(text(BOB, "sent before the restart", "msg_1")) == wa_id
        assert len(running.network.inbox(BOB)) == 1
    finally:
        link.close()
        running.stop()


def test_connect_while_the_service_is_down_fails_and_asks_for_a_reconnect(tmp_path):
    link = SimulatorLink(f"{LOCALHOST}:1", METADATA, stream_wait_s=0.2)  # nothing listens on port 1
    try:
        device, host = engine(link, "a")
        with pytest.raises(EngineError) as error:
            device.connect()
        assert error.value.code == "UNAVAILABLE"
        assert host.wait(lambda: host.of(base.DISCONNECTED), "dropped connection")[0]["reconnect"] is True
        device.disconnect()  # the session is closed already: nothing to do, no error
        device.close()
    finally:
        link.close()


# The phone side and the internal token


def phone_call(service: Service, method: str, request: Any, metadata: tuple[tuple[str, str], ...] = METADATA) -> Any:
    with grpc.insecure_channel(service.address) as channel:
        return getattr(simulator_pb2_grpc.PhoneServiceStub(channel), method)(request, timeout=5, metadata=metadata)


def test_the_phone_side_over_grpc(service, new_link):
    link = new_link()
    alice, alice_host = engine(link, "a")
    alice.connect()
    qr = alice_host.wait(lambda: alice_host.of(base.QR), "QR code")[0]
    with pytest.raises(grpc.RpcError) as caught:
        phone_call(service, "Scan", pb.ScanRequest(qr_code="2@wrong", phone=ALICE))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(caught.value)[0] == "CONFLICT"
    phone_call(service, "Scan", pb.ScanRequest(qr_code=qr["code"], phone=ALICE))
    alice_host.wait(lambda: alice_host.of(base.CONNECTED), "connection")
    sent = phone_call(service, "SendFrom", pb.SendFromRequest(phone=CAROL, to=ALICE, type="text",
                                                              content='{"text": "Hi"}'))
    assert alice_host.wait(lambda: alice_host.of(base.MESSAGE), "message")[0]["wa_message_id"] == sent.wa_message_id
    [entry] = phone_call(service, "Inbox", pb.InboxRequest(phone_or_chat_id=ALICE)).messages
    assert (entry.wa_message_id, entry.content) == (sent.wa_message_id, '{"text": "Hi"}')
    assert not phone_call(service, "IsRegistered", pb.IsRegisteredRequest(phone=UNREGISTERED)).registered
    phone_call(service, "Inject", pb.InjectRequest(profile_id="a", fault="rate_overlimit", n=1))
    with pytest.raises(EngineError) as error:
        alice.send(text(BOB, "hi"))
    assert error.value.code == "RATE_LIMITED"
    with pytest.raises(grpc.RpcError) as caught:
        phone_call(service, "Inject", pb.InjectRequest(profile_id="a", fault="meteor"))
    assert error_info(caught.value) == ("VALIDATION_ERROR", {"field": "fault"})
    with pytest.raises(grpc.RpcError) as caught:
        phone_call(service, "SendFrom", pb.SendFromRequest(phone=CAROL, to=ALICE, type="text", content="[1]"))
    assert error_info(caught.value) == ("VALIDATION_ERROR", {"field": "content"})


def test_only_the_gateways_processes_may_call(service):
    for metadata in ((), ((INTERNAL_TOKEN_HEADER, "wrong"),)):
        with pytest.raises(grpc.RpcError) as caught:
            phone_call(service, "IsRegistered", pb.IsRegisteredRequest(phone=ALICE), metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    link = SimulatorLink(service.address, (), stream_wait_s=0.2)
    try:
        with pytest.raises(EngineError) as error:
            engine(link, "a")[0].connect()
        assert error.value.code == "UNAVAILABLE"  # the event stream itself is refused
    finally:
        link.close()


# Settings


def test_the_network_comes_from_the_settings(tmp_path):
    network = open_network(Settings(simulator_seed="from-env", simulator_time_scale=0.5,
                                    simulator_state=str(tmp_path / "state" / "simulator.db")))
    try:
        assert network.seed == "from-env"
        assert isinstance(network.clock, RealClock) and network.clock.time_scale == 0.5
        assert isinstance(network._state, SqliteNetworkState)
    finally:
        network.close()
    memory = open_network(Settings(simulator_state=""))
    try:
        assert type(memory._state) is NetworkState and not memory._state.durable
    finally:
        memory.close()
    assert Settings(simulator_host="10.0.0.5", simulator_port=7000).simulator_target == "10.0.0.5:7000"
    assert Settings(simulator_address="sim:1234").simulator_target == "sim:1234"


def test_default_auto_pair_phones_are_valid_and_registered():
    network = SimulatedNetwork("test-seed", ManualClock())
    phones = {default_auto_pair_phone(f"prf_{i}") for i in range(200)}
    assert len(phones) == 200
    assert all(SimulatorEngine.spec.validate_settings({"autoPairPhone": phone}) for phone in phones)
    assert all(network.is_registered(phone) for phone in phones)


def test_validate_settings():
    assert SimulatorEngine.spec.validate_settings(
        {"autoPair": True, "autoPairPhone": "62 811-1000-001", "autoPairDelayMs": 1500.0}
    ) == {"autoPair": True, "autoPairPhone": ALICE, "autoPairDelayMs": 1500}
    bad = [
        ({"autoPair": "yes"}, "engineSettings.autoPair"),
        ({"autoPairPhone": 628111000001}, "engineSettings.autoPairPhone"),
        ({"autoPairPhone": "not a phone"}, "engineSettings.autoPairPhone"),
        ({"autoPairPhone": UNREGISTERED}, "engineSettings.autoPairPhone"),
        ({"autoPairDelayMs": 1.5}, "engineSettings.autoPairDelayMs"),
        ({"autoPairDelayMs": True}, "engineSettings.autoPairDelayMs"),
        ({"autoPairDelayMs": 60_001}, "engineSettings.autoPairDelayMs"),
        ({"autopair": True}, "engineSettings.autopair"),
    ]
    for settings, field in bad:
        with pytest.raises(ApiError) as error:
            SimulatorEngine.spec.validate_settings(settings)
        assert error.value.code == "VALIDATION_ERROR"
        assert error.value.metadata["field"] == field

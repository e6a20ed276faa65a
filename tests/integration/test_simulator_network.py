"""The simulated WhatsApp is one network (DESIGN.md §4, issue 14 points 3 and 5): two engine hosts on one database
and one simulator service, as processes. A profile held by one host messages a profile held by the other; a
host killed with SIGKILL leaves its profile to the other, whose receipts then reach the new host; and the
simulator service itself can die and come back without a message lost or delivered twice.

Profiles are placed on a host by calling that host's own Connect (the internal EngineHostService), as the API
server does for the host it picks, so each test knows which host holds what.
"""

from __future__ import annotations

import collections
import secrets
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest

from server.core import db
from server.core.models import Profile
from tests.support.api import ok, status_of, wait_for, wait_message, wait_status
from tests.support.net import wait_for_port
from tests.support.stack import INTERNAL_TOKEN, EngineHost, Stack, postgres_database, running_stack
from wagw.engine.v1 import engine_host_pb2, engine_host_pb2_grpc

SEND_LIMITS = {"sendLimits": {"minGapMs": 0, "jitterMs": 0}}
# A host is taken for dead 10 s after its last heartbeat (server/core/hosts.py); then another takes over.
TAKEOVER_S = 40


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hosts_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two engine hosts, one simulator service, on either backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("hosts") / "wagw.db"
        with running_stack(f"sqlite:///{path}", engine_hosts=2) as stack:
            yield stack
    else:
        with postgres_database() as url, running_stack(url, engine_hosts=2) as stack:
            yield stack


@pytest.fixture
def rest(hosts_stack: Stack) -> Iterator[httpx.Client]:
    """A client; each test's profiles are deleted after it, so the next starts with the hosts evenly loaded and
    placement (server/engine_host/placement.py) moves none of the sessions it opens on a host of its choice."""
    with hosts_stack.rest() as client:
        yield client
        for profile in ok(client.get("/profiles", params={"pageSize": 100}))["profiles"]:
            ok(client.delete(f"/profiles/{profile['id']}"))


def holder(stack: Stack, profile_id: str) -> str:
    """The id of the engine host that holds the profile, from the database."""
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            return Profile.get_by_id(profile_id).host_id
    finally:
        db.database.close()


def connected_on(stack: Stack, rest: httpx.Client, host: EngineHost, profile_id: str) -> str:
    """A simulator profile that pairs by itself, connected by `host`; returns its phone number."""
    ok(rest.post("/profiles", json={"id": profile_id, "name": profile_id, "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}, **SEND_LIMITS}))
    with grpc.insecure_channel(f"127.0.0.1:{host.port}") as channel:
        engine_host_pb2_grpc.EngineHostServiceStub(channel).Connect(
            engine_host_pb2.ConnectRequest(profile_id=profile_id), timeout=10,
            metadata=[("x-wagw-internal-token", INTERNAL_TOKEN)])
    wait_status(rest, profile_id, "CONNECTED")
    assert holder(stack, profile_id) == host.host_id
    return ok(rest.get(f"/profiles/{profile_id}"))["phoneNumber"]


def send(rest: httpx.Client, profile_id: str, to: str, text: str) -> str:
    return ok(rest.post("/messages/text", json={"profileId": profile_id, "chatId": to, "text": text}))["id"]


def events(rest: httpx.Client, profile_id: str, names: str) -> list[dict]:
    page = ok(rest.get("/events", params={"profileId": profile_id, "events": names, "pageSize": 1000}))
    return page["events"]


def acks(rest: httpx.Client, profile_id: str) -> dict[str, list[str]]:
    """Each message's `message.ack` statuses, in order."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for event in events(rest, profile_id, "message.ack"):
        found[event["data"]["messageId"]].append(event["data"]["status"])
    return found


def new_number(kind: int) -> str:
    """A number on WhatsApp that no other test writes to."""
    return f"+628119{kind}{secrets.randbelow(10**4):04d}1"


def texts(stack: Stack, number: str) -> list[str]:
    return [entry["content"]["text"] for entry in stack.simulator("inbox", phone_or_chat_id=number)]


def test_profiles_held_by_two_engine_hosts_message_each_other(hosts_stack, rest, unique):
    first, second = hosts_stack.engine_hosts
    alice, bob = unique("alice"), unique("bob")
    alice_phone = connected_on(hosts_stack, rest, first, alice)
    bob_phone = connected_on(hosts_stack, rest, second, bob)

    to_bob = send(rest, alice, bob_phone, "from host 1 to host 2")
    received = wait_for(lambda: events(rest, bob, "message.received"), "the message on Bob's profile")
    assert [event["data"]["content"]["text"] for event in received] == ["from host 1 to host 2"]
    assert received[0]["data"]["sender"] == alice_phone.removeprefix("+") + "@s.whatsapp.net"
    assert wait_message(rest, to_bob, "READ")["status"] == "READ"  # receipts came back to host 1

    to_alice = send(rest, bob, alice_phone, "and back")
    wait_for(lambda: events(rest, alice, "message.received"), "the reply on Alice's profile")
    assert wait_message(rest, to_alice, "READ")["status"] == "READ"
    assert acks(rest, alice)[to_bob] == acks(rest, bob)[to_alice] == ["SENT", "DELIVERED", "READ"]


def test_receipts_reach_the_host_that_took_a_profile_over(hosts_stack, rest, unique):
    """Host 1 is killed while its profile has messages SENT (the recipient's phone is off) and DELIVERED (the
    other reads slowly): host 2 takes the profile over, and every message reaches READ there, once."""
    first, second = hosts_stack.engine_hosts
    sender = unique("taken-over")
    connected_on(hosts_stack, rest, first, sender)
    offline, slow_reader = new_number(5), new_number(6)
    hosts_stack.simulator("set_online", phone=offline, online=False)
    hosts_stack.simulator("set_reads", phone=slow_reader, reads=True, delay=100)  # 5 s at the tests' scale
    sent = {send(rest, sender, to, f"takeover {to} #{i}"): to for i in range(3) for to in (offline, slow_reader)}
    for message_id, to in sent.items():
        wait_message(rest, message_id, "SENT" if to == offline else "DELIVERED")

    first.child.process.kill()
    first.child.process.wait()
    try:
        wait_for(lambda: holder(hosts_stack, sender) == second.host_id and status_of(rest, sender) == "CONNECTED",
                 "host 2 to take the profile over", TAKEOVER_S)
        hosts_stack.simulator("set_online", phone=offline, online=True)  # its receipts come after the takeover
        for message_id in sent:
            assert wait_message(rest, message_id, "READ", timeout=30)["status"] == "READ"
    finally:
        first.child.start()
        wait_for_port(first.port, timeout=20)
    for to in (offline, slow_reader):
        assert sorted(texts(hosts_stack, to)) == sorted(f"takeover {to} #{i}" for i in range(3))
    assert {message_id: statuses for message_id, statuses in acks(rest, sender).items() if message_id in sent} == {
        message_id: ["SENT", "DELIVERED", "READ"] for message_id in sent}


def test_a_send_in_flight_on_a_dead_host_is_delivered_once_and_its_receipts_survive_two_takeovers(
        hosts_stack, rest, unique):
    """Host 1 dies while WhatsApp has taken a send and not yet answered (the workers are down, so nothing sends
    it again for now). Host 2 takes the profile over and hears the message's receipts before any send has told
    it the message's WhatsApp id: they wait there, unacknowledged. Host 2 dies too; host 1, back, takes the
    profile over, and the workers, back, send the message again: the simulated WhatsApp recognises it (exactly
    once), and the receipts, handed to host 1 in turn, bring it to READ."""
    first, second = hosts_stack.engine_hosts
    sender = unique("in-flight")
    connected_on(hosts_stack, rest, first, sender)
    reader = new_number(8)
    hosts_stack.simulator("inject", profile_id=sender, fault="slow_ack", seconds=600)  # 30 s at the tests' scale
    message_id = send(rest, sender, reader, "in flight at the takeover")
    wait_for(lambda: texts(hosts_stack, reader), "the message to reach the phone")
    workers = hosts_stack.workers
    try:
        workers.process.kill()
        workers.process.wait()
        first.child.process.kill()
        first.child.process.wait()
        wait_for(lambda: holder(hosts_stack, sender) == second.host_id and status_of(rest, sender) == "CONNECTED",
                 "host 2 to take the profile over", TAKEOVER_S)
        time.sleep(2)  # delivered and read (0.06 s at the tests' scale): handed to host 2, which cannot place them
        assert ok(rest.get(f"/messages/{message_id}"))["status"] == "PENDING"
        second.child.process.kill()
        second.child.process.wait()
        first.child.start()
        wait_for_port(first.port, timeout=20)
        wait_for(lambda: holder(hosts_stack, sender) == first.host_id and status_of(rest, sender) == "CONNECTED",
                 "host 1 to take the profile back", TAKEOVER_S)
    finally:
        if workers.process.poll() is not None:
            workers.start()
        if second.child.process.poll() is not None:
            second.child.start()
            wait_for_port(second.port, timeout=20)
    assert wait_message(rest, message_id, "READ", "FAILED", timeout=30)["status"] == "READ"
    assert texts(hosts_stack, reader) == ["in flight at the takeover"]
    assert acks(rest, sender)[message_id] == ["SENT", "DELIVERED", "READ"]


def test_the_simulator_service_can_die_and_come_back(hosts_stack, rest, unique):
    """SIGKILL of the simulator service: the sessions show RECONNECTING, come back by themselves when it is
    started again, and nothing it had accepted is lost or delivered twice."""
    first, _ = hosts_stack.engine_hosts
    sender = unique("sim-restart")
    phone = connected_on(hosts_stack, rest, first, sender)
    reader = new_number(7)
    hosts_stack.simulator("set_reads", phone=reader, reads=True, delay=60)  # 3 s at the tests' scale
    before = send(rest, sender, reader, "accepted before the crash")
    wait_message(rest, before, "DELIVERED")

    hosts_stack.restart_simulator(kill=True)
    wait_status(rest, sender, "CONNECTED", timeout=30)
    assert "RECONNECTING" in [event["data"]["status"] for event in events(rest, sender, "session.status")]
    # Phone settings are not kept across the restart (a real network keeps none of ours): it reads at the default.
    assert wait_message(rest, before, "READ", timeout=30)["status"] == "READ"
    after = send(rest, sender, reader, "sent after the restart")
    assert wait_message(rest, after, "READ", timeout=30)["status"] == "READ"
    hosts_stack.simulator("send_from", phone=reader, to=phone, type="text", content={"text": "still here"})
    wait_for(lambda: events(rest, sender, "message.received"), "a message from a phone after the restart")
    assert texts(hosts_stack, reader) == ["accepted before the crash", "sent after the restart"]
    assert acks(rest, sender)[before] == ["SENT", "DELIVERED", "READ"]


"""The simulated network in-process, on a manual clock (no sleeps, no service), plus one smoke test on the real
clock. Devices here are what the simulator service makes of an engine host's engines: they keep the credentials
they are given, forget them when logged out, and acknowledge the events they recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from typing import Any

import pytest

from server.simulator import events
from server.simulator.clock import ManualClock, RealClock
from server.simulator.content import Media
from server.simulator.errors import Refusal, SimulationError
from server.simulator.events import Event
from server.simulator.groups import GroupInfo
from server.simulator.network import AutoPair, OutgoingMessage, SimulatedNetwork
from server.simulator.store import SqliteNetworkState

ALICE, BOB, CAROL, DAVE = "+628111000001", "+628111000002", "+628111000003", "+628111000004"
UNREGISTERED = "+628111110000"  # ends in 0000: not on WhatsApp by the network's rule


def jid(phone: str) -> str:
    return phone.removeprefix("+") + "@s.whatsapp.net"


class Device:
    """One profile's device: what the network handed it (credentials kept apart), and what it acknowledged."""

    def __init__(self, net: SimulatedNetwork, profile_id: str, *, auto_pair: AutoPair | None = None,
                 credentials: dict[str, Any] | None = None):
        self.net = net
        self.profile_id = profile_id
        self.auto_pair = auto_pair
        self.credentials = credentials
        self.events: list[Event] = []

    def deliver(self, event: Event) -> None:
        if event.type == events.CREDENTIALS:
            self.credentials = dict(event.data)
            return
        if event.type == events.LOGGED_OUT:
            self.credentials = None
        self.events.append(event)

    def connect(self, phone_number: str = "") -> str:
        return self.net.connect(self, self.credentials, phone_number, self.auto_pair)

    def acknowledge(self) -> None:
        """The engine host recorded everything it got."""
        self.net.acknowledge([event.seq for event in self.events if event.seq])

    def of(self, type: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type == type]

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def receipts(self, wa_message_id: str) -> list[str]:
        return [data["status"] for data in self.of(events.RECEIPT) if data["wa_message_id"] == wa_message_id]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def net(clock: ManualClock) -> SimulatedNetwork:
    return SimulatedNetwork("test-seed", clock)


def linked(net: SimulatedNetwork, profile_id: str, phone: str) -> Device:
    device = Device(net, profile_id)
    device.connect()
    net.scan(device.of(events.QR)[-1]["code"], phone)
    return device


def text(to: str, body: str, message_id: str = "") -> OutgoingMessage:
    return OutgoingMessage(to, "text", {"text": body}, id=message_id)


# Login


def test_qr_codes_rotate_after_60_then_20_seconds_six_in_all_then_time_out(net, clock):
    device = Device(net, "p1")
    assert device.connect() == ""
    first = device.of(events.QR)
    assert len(first) == 1 and first[0]["code"].startswith("2@")
    assert first[0]["expires_at"] == clock.now() + dt.timedelta(seconds=60)
    clock.advance(59.9)
    assert len(device.of(events.QR)) == 1
    clock.advance(0.1)
    assert len(device.of(events.QR)) == 2
    for shown in range(3, 7):
        clock.advance(19.9)
        assert len(device.of(events.QR)) == shown - 1
        clock.advance(0.1)
        assert len(device.of(events.QR)) == shown
    codes = [qr["code"] for qr in device.of(events.QR)]
    assert len(set(codes)) == 6
    assert events.QR_TIMEOUT not in device.types()
    clock.advance(20)
    assert device.types()[-1] == events.QR_TIMEOUT
    clock.advance(600)
    assert len(device.of(events.QR)) == 6
    with pytest.raises(SimulationError):
        net.scan(codes[-1], ALICE)


def test_scanning_the_qr_code_connects_and_saves_credentials(net, clock):
    device = Device(net, "p1")
    device.connect()
    net.set_push_name(ALICE, "Alice")
    net.scan(device.of(events.QR)[0]["code"], ALICE)
    assert device.of(events.CONNECTED) == [{"phone_number": ALICE, "push_name": "Alice"}]
    assert device.credentials is not None
    assert device.credentials["phone_number"] == ALICE and device.credentials["token"]
    clock.advance(300)  # the login is over: no more QR codes, no timeout
    assert device.types() == [events.QR, events.CONNECTED]


def test_a_wrong_or_expired_qr_code_is_refused(net, clock):
    device = Device(net, "p1")
    device.connect()
    first = device.of(events.QR)[0]["code"]
    with pytest.raises(SimulationError):
        net.scan("2@not-the-code", ALICE)
    with pytest.raises(SimulationError, match="not on WhatsApp"):
        net.scan(first, UNREGISTERED)
    clock.advance(60)
    with pytest.raises(SimulationError):
        net.scan(first, ALICE)  # replaced by the second code
    net.scan(device.of(events.QR)[-1]["code"], ALICE)
    assert device.of(events.CONNECTED)


def test_pairing_code_login(net, clock):
    device = Device(net, "p1")
    code = device.connect(ALICE)
    assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}", code)
    assert device.of(events.PAIRING) == [{"code": code}]
    assert device.connect(ALICE) == code  # asking again while it is pending gives the same code
    with pytest.raises(SimulationError, match="another phone number"):
        net.enter_pairing_code(BOB, code)
    with pytest.raises(SimulationError):
        net.enter_pairing_code(ALICE, "AAAA-AAAA")
    net.enter_pairing_code(ALICE, code.lower().replace("-", ""))
    assert device.of(events.CONNECTED)[0]["phone_number"] == ALICE
    assert device.credentials and device.credentials["phone_number"] == ALICE


def test_pairing_code_expires_after_180_seconds(net, clock):
    device = Device(net, "p1")
    code = device.connect(ALICE)
    clock.advance(179.9)
    assert events.QR_TIMEOUT not in device.types()
    clock.advance(0.1)
    assert device.types()[-1] == events.QR_TIMEOUT
    with pytest.raises(SimulationError):
        net.enter_pairing_code(ALICE, code)


def test_pairing_code_for_an_unregistered_number_is_refused(net):
    with pytest.raises(Refusal, match="not on WhatsApp"):
        Device(net, "p1").connect(UNREGISTERED)


def test_reconnect_after_a_restart_needs_no_scan(net, clock):
    first = linked(net, "p1", ALICE)
    # A new network (same seed, nothing kept), and the device's stored credentials.
    clock2 = ManualClock()
    restarted = Device(SimulatedNetwork("test-seed", clock2), "p1", credentials=first.credentials)
    assert restarted.connect() == ""
    assert restarted.events == []
    clock2.advance(0.05)
    assert restarted.types() == [events.CONNECTED]
    assert restarted.of(events.CONNECTED)[0]["phone_number"] == ALICE


def test_credentials_of_another_seed_are_refused(net):
    first = linked(net, "p1", ALICE)
    clock2 = ManualClock()
    other = Device(SimulatedNetwork("other-seed", clock2), "p1", credentials=first.credentials)
    other.connect()
    clock2.advance(1)
    assert other.types() == [events.LOGGED_OUT]
    assert other.credentials is None


def test_logout_revokes_the_credentials(net, clock):
    device = linked(net, "p1", ALICE)
    kept = dict(device.credentials or {})
    net.logout(device)
    assert device.types()[-1] == events.LOGGED_OUT
    assert device.credentials is None
    with pytest.raises(Refusal) as error:
        net.send(device, text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    device.credentials = kept  # someone kept a copy: WhatsApp no longer knows the device
    device.connect()
    clock.advance(1)
    assert device.types()[-1] == events.LOGGED_OUT


def test_disconnect_keeps_credentials(net, clock):
    device = linked(net, "p1", ALICE)
    net.disconnect(device)
    assert device.of(events.DISCONNECTED) == [{"reason": "closed", "reconnect": False}]
    device.connect()
    clock.advance(0.05)
    assert device.types().count(events.CONNECTED) == 2
    assert events.QR not in device.types()[2:]


def test_auto_pair_scans_the_first_qr_code_by_itself(net, clock):
    device = Device(net, "demo", auto_pair=AutoPair(ALICE, 3.0))
    device.connect()
    clock.advance(2.9)
    assert events.CONNECTED not in device.types()
    clock.advance(0.1)
    assert device.of(events.CONNECTED) == [{"phone_number": ALICE, "push_name": "Simulated 0001"}]


def test_auto_pair_with_a_chosen_phone_types_the_pairing_code(net, clock):
    device = Device(net, "demo", auto_pair=AutoPair(ALICE, 0.5))
    device.connect(ALICE)
    clock.advance(0.5)
    assert device.of(events.CONNECTED)[0]["phone_number"] == ALICE


def test_auto_pair_with_an_unregistered_phone_never_links(net, clock):
    device = Device(net, "demo", auto_pair=AutoPair(UNREGISTERED, 0.5))
    device.connect()
    clock.advance(5)
    assert device.types() == [events.QR]


# Messages


def test_two_profiles_message_each_other_with_receipts_in_order(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = net.send(alice, text(jid(BOB), "Hello Bob!"))
    assert re.fullmatch(r"3EB0[0-9A-F]{20}", wa_id)
    assert alice.receipts(wa_id) == ["server"]
    assert not bob.of(events.MESSAGE)
    clock.advance(0.2)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    received = bob.of(events.MESSAGE)
    assert len(received) == 1
    assert received[0]["wa_message_id"] == wa_id
    assert received[0]["chat_id"] == jid(ALICE) and received[0]["sender"] == jid(ALICE)
    assert received[0]["content"] == {"text": "Hello Bob!"}
    clock.advance(1)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert alice.of(events.RECEIPT)[-1]["chat_id"] == jid(BOB)

    reply = net.send(bob, text(ALICE, "Hi Alice"))  # E.164 works as a chat id too
    clock.advance(1.2)
    assert [m["content"]["text"] for m in alice.of(events.MESSAGE)] == ["Hi Alice"]
    assert bob.receipts(reply) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in net.inbox(BOB)] == ["Hello Bob!"]
    clock.advance(60)
    assert len(net.inbox(BOB)) == 1


def test_an_offline_recipient_gets_the_message_when_it_comes_back(net, clock):
    alice = linked(net, "a", ALICE)
    net.set_online(CAROL, False)
    wa_id = net.send(alice, text(CAROL, "Hello Carol!"))
    clock.advance(30)
    assert alice.receipts(wa_id) == ["server"]
    assert net.inbox(CAROL) == []
    net.set_online(CAROL, True)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    clock.advance(1)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in net.inbox(CAROL)] == ["Hello Carol!"]


def test_a_recipient_that_never_reads(net, clock):
    alice = linked(net, "a", ALICE)
    net.set_reads(CAROL, False)
    net.set_reads(DAVE, delay=10)
    to_carol = net.send(alice, text(CAROL, "one"))
    to_dave = net.send(alice, text(DAVE, "two"))
    clock.advance(5)
    assert alice.receipts(to_carol) == alice.receipts(to_dave) == ["server", "delivered"]
    clock.advance(10)
    assert alice.receipts(to_carol) == ["server", "delivered"]
    assert alice.receipts(to_dave) == ["server", "delivered", "read"]


def test_a_disconnected_profile_catches_up_when_it_reconnects(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    net.disconnect(bob)
    net.send(alice, text(BOB, "while you were away"))
    clock.advance(2)
    assert not bob.of(events.MESSAGE)
    assert [m["content"]["text"] for m in net.inbox(BOB)] == ["while you were away"]  # the phone got it
    bob.connect()
    clock.advance(0.05)
    assert bob.types()[-2:] == [events.CONNECTED, events.MESSAGE]


def test_one_number_can_link_several_profiles(net, clock):
    alice = linked(net, "a", ALICE)
    first, second = linked(net, "b1", BOB), linked(net, "b2", BOB)
    net.send(alice, text(BOB, "to both devices"))
    clock.advance(0.2)
    assert len(first.of(events.MESSAGE)) == len(second.of(events.MESSAGE)) == 1
    assert len(net.inbox(BOB)) == 1


def test_a_profile_receives_for_the_number_it_is_linked_to_now_and_after_a_restart(tmp_path):
    net, clock = durable_network(tmp_path / "sim.db")
    device = linked(net, "p", ALICE)
    net.send_from(CAROL, ALICE, "text", {"text": "to alice"})
    net.logout(device)
    device.connect()
    net.scan(device.of(events.QR)[-1]["code"], BOB)  # the same profile, now linked to another phone
    net.send_from(CAROL, ALICE, "text", {"text": "to alice, not linked any more"})
    net.send_from(CAROL, BOB, "text", {"text": "to bob"})
    assert [m["content"]["text"] for m in device.of(events.MESSAGE)] == ["to alice", "to bob"]
    device.acknowledge()
    restarted, clock = durable_network(tmp_path / "sim.db")
    again = Device(restarted, "p", credentials=device.credentials)
    again.connect()
    clock.advance(0.05)
    restarted.send_from(CAROL, ALICE, "text", {"text": "to alice after the restart"})
    restarted.send_from(CAROL, BOB, "text", {"text": "to bob after the restart"})
    assert [m["content"]["text"] for m in again.of(events.MESSAGE)] == ["to bob after the restart"]


def test_a_connected_device_receives_while_its_phone_is_offline(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    net.set_online(BOB, False)
    net.send(alice, text(BOB, "to the laptop"))
    clock.advance(0.2)
    assert len(bob.of(events.MESSAGE)) == 1
    net.disconnect(bob)
    wa_id = net.send(alice, text(BOB, "nobody home"))
    clock.advance(5)
    assert alice.receipts(wa_id) == ["server"]
    net.set_online(BOB, True)
    assert alice.receipts(wa_id) == ["server", "delivered"]


def test_unregistered_recipients_and_lookup(net):
    alice = linked(net, "a", ALICE)
    net.unregister(DAVE)
    for number in (UNREGISTERED, DAVE):
        with pytest.raises(Refusal, match="recipient is not on WhatsApp") as error:
            net.send(alice, text(number, "hi"))
        assert error.value.code == "ENGINE_ERROR"
    assert net.lookup(alice, [BOB, UNREGISTERED, DAVE, "garbage"]) == {
        BOB: True, UNREGISTERED: False, DAVE: False, "garbage": False}


def test_sending_needs_a_connection(net):
    device = Device(net, "a")
    with pytest.raises(Refusal) as error:
        net.send(device, text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    with pytest.raises(Refusal) as error:
        net.list_groups(device)
    assert error.value.code == "PROFILE_NOT_CONNECTED"


def media(data: bytes, mimetype: str, filename: str = "") -> Media:
    return Media(mimetype, filename, len(data), hashlib.sha256(data).hexdigest())


PNG = media(b"\x89PNG fake image", "image/png", "cat.png")
EVERY_TYPE = [
    ("text", {"text": "Hello John!"}, None, {"text": "Hello John!"}),
    ("image", {"caption": "a cat"}, PNG, {"caption": "a cat", "media": {
        "mimetype": "image/png", "filename": "cat.png", "size": 15,
        "sha256": hashlib.sha256(b"\x89PNG fake image").hexdigest()}}),
    ("video", {}, media(b"mp4", "video/mp4", "clip.mp4"), None),
    ("document", {"caption": "invoice"}, media(b"%PDF", "application/pdf", "invoice.pdf"), None),
    ("location", {"location": {"latitude": -6.2, "longitude": 106.8, "name": "Jakarta"}}, None,
     {"location": {"latitude": -6.2, "longitude": 106.8, "name": "Jakarta", "address": ""}}),
    ("contact", {"contact": {"full_name": "John", "phone_number": BOB}}, None,
     {"contact": {"full_name": "John", "phone_number": BOB, "organization": "", "vcard": ""}}),
    ("poll", {"poll": {"question": "Lunch?", "options": ["Yes", "No"]}}, None,
     {"poll": {"question": "Lunch?", "options": ["Yes", "No"], "allow_multiple_answers": False}}),
]


@pytest.mark.parametrize(("type", "content", "media", "expected"), EVERY_TYPE, ids=[t[0] for t in EVERY_TYPE])
def test_every_message_type_arrives_with_its_content(net, clock, type, content, media, expected):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = net.send(alice, OutgoingMessage(jid(BOB), type, content, media))
    clock.advance(0.2)
    [received] = bob.of(events.MESSAGE)
    assert received["type"] == type and received["wa_message_id"] == wa_id
    if expected is not None:
        assert received["content"] == expected
    # And the other way round, injected from Bob's phone.
    net.send_from(BOB, ALICE, type, content, media)
    assert alice.of(events.MESSAGE)[-1]["type"] == type
    assert alice.of(events.MESSAGE)[-1]["content"] == received["content"]


@pytest.mark.parametrize(("type", "content", "media", "reason"), [
    ("text", {"text": "  "}, None, "empty"),
    ("image", {}, None, "need media"),
    ("image", {}, media(b"x", "application/pdf"), "not a image mimetype"),
    ("video", {}, Media("video/mp4", "huge.mp4", (16 << 20) + 1, "0" * 64), "larger than 16 MB"),
    ("location", {"location": {"latitude": 91, "longitude": 0}}, None, "latitude"),
    ("contact", {"contact": {"full_name": "John"}}, None, "vcard"),
    ("poll", {"poll": {"question": "Q?", "options": ["only one"]}}, None, "2 to 12"),
    ("poll", {"poll": {"question": "Q?", "options": [str(i) for i in range(13)]}}, None, "2 to 12"),
    ("poll", {"poll": {"question": "Q?", "options": ["a", "a"]}}, None, "unique"),
])
def test_what_whatsapp_refuses_to_send(net, type, content, media, reason):
    alice = linked(net, "a", ALICE)
    with pytest.raises(Refusal, match=reason):
        net.send(alice, OutgoingMessage(jid(BOB), type, content, media))


def test_incoming_message_from_a_test_phone(net):
    alice = linked(net, "a", ALICE)
    wa_id = net.send_from(CAROL, ALICE, "text", {"text": "Hello from Carol"})
    [received] = alice.of(events.MESSAGE)
    assert received == {"wa_message_id": wa_id, "chat_id": jid(CAROL), "sender": jid(CAROL), "type": "text",
                        "content": {"text": "Hello from Carol"}, "timestamp": received["timestamp"],
                        "sender_name": "Simulated 0003"}
    with pytest.raises(SimulationError):
        net.send_from(UNREGISTERED, ALICE, "text", {"text": "x"})


# Groups


@pytest.fixture
def trio(net: SimulatedNetwork) -> tuple[Device, Device, Device]:
    return linked(net, "a", ALICE), linked(net, "b", BOB), linked(net, "c", CAROL)


def roles(info: GroupInfo) -> dict[str, str]:
    return {p.chat_id: p.role for p in info.participants}


def test_create_a_group_with_mixed_participant_results(net, trio):
    alice, bob, carol = trio
    net.set_privacy(DAVE, refuse_group_add=True)
    info, results = net.create_group(alice, "Team", [BOB, jid(CAROL), BOB, UNREGISTERED, DAVE, "nonsense"])
    assert [(r.chat_id, r.status) for r in results] == [
        (jid(BOB), "ADDED"), (jid(CAROL), "ADDED"), (jid(BOB), "ALREADY_MEMBER"),
        (jid(UNREGISTERED), "NOT_ON_WHATSAPP"), (jid(DAVE), "PRIVACY_REFUSED"), ("nonsense", "NOT_ON_WHATSAPP")]
    assert re.fullmatch(r"120363\d{12}@g\.us", info.group_id)
    assert roles(info) == {jid(ALICE): "SUPERADMIN", jid(BOB): "MEMBER", jid(CAROL): "MEMBER"}
    assert info.owner == jid(ALICE) and info.name == "Team"
    created = bob.of(events.GROUP)
    assert created == [{"group_id": info.group_id, "action": "create", "by": jid(ALICE), "name": "Team",
                        "participants": [jid(ALICE), jid(BOB), jid(CAROL)]}]
    assert [g.group_id for g in net.list_groups(carol)] == [info.group_id]
    assert net.get_group(bob, info.group_id) == info


def test_groups_are_visible_to_members_only(net, trio):
    alice, _, _ = trio
    dave = linked(net, "d", DAVE)
    info, _ = net.create_group(alice, "Team", [BOB])
    assert net.list_groups(dave) == []
    with pytest.raises(Refusal) as error:
        net.get_group(dave, info.group_id)
    assert error.value.code == "FORBIDDEN"
    with pytest.raises(Refusal) as error:
        net.get_group(dave, "120363000000000000@g.us")
    assert error.value.code == "NOT_FOUND"


def test_only_admins_manage_participants(net, trio):
    alice, bob, carol = trio
    info, _ = net.create_group(alice, "Team", [BOB])
    gid = info.group_id
    with pytest.raises(Refusal) as error:
        net.update_participants(bob, gid, "add", [CAROL])
    assert error.value.code == "NOT_GROUP_ADMIN" and "only group admins" in error.value.reason

    assert [r.status for r in net.update_participants(alice, gid, "add", [CAROL, BOB])] == [
        "ADDED", "ALREADY_MEMBER"]
    assert [r.status for r in net.update_participants(alice, gid, "promote", [BOB, DAVE])] == [
        "PROMOTED", "NOT_MEMBER"]
    # An admin now, but the creator stays out of reach.
    results = net.update_participants(bob, gid, "demote", [ALICE])
    assert results[0].status == "NOT_AUTHORIZED" and results[0].error
    results = net.update_participants(bob, gid, "remove", [ALICE])
    assert results[0].status == "NOT_AUTHORIZED"
    assert [r.status for r in net.update_participants(bob, gid, "remove", [CAROL])] == ["REMOVED"]
    assert [r.status for r in net.update_participants(alice, gid, "demote", [BOB])] == ["DEMOTED"]
    assert [r.status for r in net.update_participants(alice, gid, "add", [CAROL])] == ["ADDED"]
    assert roles(net.get_group(alice, gid)) == {
        jid(ALICE): "SUPERADMIN", jid(BOB): "MEMBER", jid(CAROL): "MEMBER"}

    actions = [(e["action"], e["participants"], e["by"]) for e in carol.of(events.GROUP)]
    assert actions == [
        ("join", [jid(CAROL)], jid(ALICE)),
        ("promote", [jid(BOB)], jid(ALICE)),
        ("leave", [jid(CAROL)], jid(BOB)),  # Carol hears of her own removal
        ("join", [jid(CAROL)], jid(ALICE)),
    ]


def test_announce_only_groups_let_admins_speak(net, clock, trio):
    alice, bob, carol = trio
    gid = net.create_group(alice, "News", [BOB, CAROL])[0].group_id
    with pytest.raises(Refusal) as error:
        net.update_group(bob, gid, announce=True)
    assert error.value.code == "NOT_GROUP_ADMIN"
    assert net.update_group(alice, gid, announce=True).announce
    assert bob.of(events.GROUP)[-1] == {"group_id": gid, "action": "settings", "participants": [],
                                        "by": jid(ALICE), "announce": True}
    with pytest.raises(Refusal) as error:
        net.send(bob, text(gid, "may I?"))
    assert error.value.code == "NOT_GROUP_ADMIN"
    with pytest.raises(Refusal):
        net.send_from(BOB, gid, "text", {"text": "from the phone"})
    wa_id = net.send(alice, text(gid, "Announcement"))
    clock.advance(0.2)
    for member in (bob, carol):
        [received] = member.of(events.MESSAGE)
        assert received["chat_id"] == gid and received["sender"] == jid(ALICE)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    clock.advance(1)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in net.inbox(gid)] == ["Announcement"]
    assert [m["chat_id"] for m in net.inbox(CAROL)] == [gid]


def test_group_message_is_read_when_every_member_read_it(net, clock, trio):
    alice, _, _ = trio
    gid = net.create_group(alice, "Team", [BOB, CAROL])[0].group_id
    net.set_reads(CAROL, False)
    wa_id = net.send(alice, text(gid, "hello all"))
    clock.advance(5)
    assert alice.receipts(wa_id) == ["server", "delivered"]


def test_locked_groups_keep_their_info_for_admins(net, trio):
    alice, bob, _ = trio
    gid = net.create_group(alice, "Team", [BOB])[0].group_id
    info = net.update_group(bob, gid, name="Team 2", description="our team")
    assert (info.name, info.description) == ("Team 2", "our team")
    net.update_group(alice, gid, locked=True)
    with pytest.raises(Refusal) as error:
        net.update_group(bob, gid, name="Hijacked")
    assert error.value.code == "NOT_GROUP_ADMIN"
    assert net.update_group(alice, gid, name="Team 3").name == "Team 3"
    assert [e["action"] for e in bob.of(events.GROUP)] == ["create", "subject", "description", "settings", "subject"]
    with pytest.raises(Refusal, match="empty"):
        net.update_group(alice, gid, name="  ")


def test_invite_links_revoke_and_join(net, trio):
    alice, bob, _ = trio
    gid = net.create_group(alice, "Team", [BOB])[0].group_id
    code = net.invite_link(alice, gid)
    assert re.fullmatch(r"[A-Za-z0-9]{22}", code) and net.invite_link(alice, gid) == code
    with pytest.raises(Refusal) as error:
        net.invite_link(bob, gid)
    assert error.value.code == "NOT_GROUP_ADMIN"
    new_code = net.invite_link(alice, gid, revoke=True)
    assert new_code != code
    assert bob.of(events.GROUP)[-1]["invite_link_revoked"] is True
    with pytest.raises(SimulationError):
        net.join_by_invite(CAROL, code)
    assert net.join_by_invite(CAROL, new_code) == gid
    assert bob.of(events.GROUP)[-1] == {"group_id": gid, "action": "join", "participants": [jid(CAROL)],
                                        "by": jid(CAROL)}
    assert jid(CAROL) in roles(net.get_group(alice, gid))


def test_the_last_admin_leaving_hands_the_group_on(net, trio):
    alice, bob, carol = trio
    gid = net.create_group(alice, "Team", [BOB, CAROL])[0].group_id
    net.leave_group(alice, gid)
    assert net.list_groups(alice) == []
    assert alice.of(events.GROUP)[-1]["action"] == "leave"
    assert [(e["action"], e["participants"]) for e in carol.of(events.GROUP)[-2:]] == [
        ("leave", [jid(ALICE)]), ("promote", [jid(BOB)])]
    assert roles(net.get_group(bob, gid)) == {jid(BOB): "ADMIN", jid(CAROL): "MEMBER"}
    with pytest.raises(Refusal):
        net.send(alice, text(gid, "still here?"))


# Faults


def test_rate_overlimit_for_n_sends(net):
    alice = linked(net, "a", ALICE)
    net.inject("a", "rate_overlimit", n=2)
    for _ in range(2):
        with pytest.raises(Refusal) as error:
            net.send(alice, text(BOB, "hi"))
        assert error.value.code == "RATE_LIMITED" and error.value.reason == "rate-overlimit"
    net.create_group(alice, "not a send", [])
    assert net.send(alice, text(BOB, "hi"))


def test_rate_overlimit_for_a_while(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "rate_overlimit", seconds=10)
    clock.advance(9)
    with pytest.raises(Refusal):
        net.send(alice, text(BOB, "hi"))
    clock.advance(1)
    assert net.send(alice, text(BOB, "hi"))


def test_temporary_ban(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "temporary_ban", seconds=100, reason="spam")
    [banned] = alice.of(events.BANNED)
    assert banned == {"reason": "spam", "until": clock.now() + dt.timedelta(seconds=100)}
    with pytest.raises(Refusal) as error:
        net.send(alice, text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    with pytest.raises(Refusal, match="banned"):
        alice.connect()
    clock.advance(100)
    alice.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == events.CONNECTED


def test_logged_out_from_the_phone(net, clock):
    alice = linked(net, "a", ALICE)
    kept = dict(alice.credentials or {})
    net.inject("a", "logged_out")
    assert alice.of(events.LOGGED_OUT) == [{"reason": "logged out from the phone"}]
    assert alice.credentials is None
    alice.credentials = kept
    alice.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == events.LOGGED_OUT


def test_dropped_connection_then_reconnect(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "disconnect")
    assert alice.of(events.DISCONNECTED) == [{"reason": "connection lost", "reconnect": True}]
    clock.advance(60)
    assert alice.types()[-1] == events.DISCONNECTED  # the engine host reconnects, not the engine
    alice.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == events.CONNECTED
    net.attach(Device(net, "idle"))
    with pytest.raises(SimulationError):
        net.inject("idle", "disconnect")
    with pytest.raises(SimulationError, match="no simulator device"):
        net.inject("unknown", "disconnect")


def test_timeout_blocks_then_fails(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "timeout", seconds=5, operation="create_group")
    net.send(alice, text(BOB, "not affected"))
    before = clock.now()
    with pytest.raises(Refusal, match="timeout"):
        net.create_group(alice, "Team", [BOB])
    assert clock.now() - before == dt.timedelta(seconds=5)
    assert net.create_group(alice, "Team", [BOB])


def test_fail_next_calls(net):
    alice = linked(net, "a", ALICE)
    net.inject("a", "fail_next", n=2, operation="send")
    assert net.lookup(alice, [BOB]) == {BOB: True}
    for _ in range(2):
        with pytest.raises(Refusal, match="injected failure"):
            net.send(alice, text(BOB, "hi"))
    assert net.send(alice, text(BOB, "hi"))
    net.inject("a", "fail_next")
    with pytest.raises(Refusal, match="injected failure"):
        net.list_groups(alice)
    net.disconnect(alice)
    net.inject("a", "fail_next", operation="connect", reason="stream error")
    with pytest.raises(Refusal, match="stream error"):
        alice.connect()
    alice.connect()
    with pytest.raises(ValueError, match="unknown fault"):
        net.inject("a", "meteor")


# Determinism and the real clock


def scripted_run(seed: str) -> list[Any]:
    clock = ManualClock()
    net = SimulatedNetwork(seed, clock)
    alice = linked(net, "a", ALICE)
    bob = Device(net, "b")
    code = bob.connect(BOB)
    net.enter_pairing_code(BOB, code)
    group, _ = net.create_group(alice, "Team", [BOB])
    return [
        alice.of(events.QR)[0]["code"], code, alice.credentials, group.group_id,
        net.send(alice, text(BOB, "one")), net.send(alice, text(group.group_id, "two")),
        net.invite_link(alice, group.group_id), net.send_from(CAROL, ALICE, "text", {"text": "three"}),
    ]


def test_the_same_seed_gives_the_same_run():
    assert scripted_run("seed-1") == scripted_run("seed-1")
    assert all(x != y for x, y in zip(scripted_run("seed-1"), scripted_run("seed-2"), strict=True))


def test_real_clock_runs_the_network_on_its_scheduler_thread():
    net = SimulatedNetwork("smoke", RealClock(time_scale=0.01))
    seen: dict[tuple[str, str], threading.Event] = {}
    threads: set[str] = set()

    class Watched(Device):
        def deliver(self, event: Event) -> None:
            super().deliver(event)
            threads.add(threading.current_thread().name)
            seen.setdefault((self.profile_id, event.data.get("status", event.type)), threading.Event()).set()

    def wait_for(profile_id: str, what: str) -> None:
        assert seen.setdefault((profile_id, what), threading.Event()).wait(5), what

    try:
        alice = Watched(net, "a", auto_pair=AutoPair(ALICE, 3.0))
        bob = Watched(net, "b", auto_pair=AutoPair(BOB, 0.1))
        alice.connect()  # the phone scans 3 s later in simulated time: 30 ms here
        bob.connect()
        wait_for("a", events.CONNECTED)
        wait_for("b", events.CONNECTED)
        net.send(alice, text(BOB, "over the wire"))
        wait_for("a", "read")
        wait_for("b", events.MESSAGE)
        assert [m["content"]["text"] for m in net.inbox(BOB)] == ["over the wire"]
        assert "simulator-clock" in threads
    finally:
        net.close()


# Devices: the newest attachment wins, and durable events wait for an acknowledgement


def test_a_new_attachment_replaces_the_old_one_and_gets_what_it_did_not_record(net, clock):
    alice, _ = linked(net, "a", ALICE), linked(net, "b", BOB)
    first = net.send(alice, text(BOB, "one", "msg_1"))
    clock.advance(0.5)
    alice.acknowledge()  # recorded: server and delivered
    clock.advance(1)
    assert alice.receipts(first) == ["server", "delivered", "read"]  # handed out; "read" not recorded yet
    # Another engine host takes the profile over while the first one still holds it.
    taker = Device(net, "a", credentials=alice.credentials)
    taker.connect()
    assert alice.types()[-1] == events.REPLACED
    with pytest.raises(Refusal) as error:
        net.send(alice, text(BOB, "from the replaced device"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    clock.advance(0.05)
    assert taker.types() == [events.CONNECTED, events.RECEIPT]
    assert taker.receipts(first) == ["read"]
    second = net.send(taker, text(BOB, "two", "msg_2"))
    clock.advance(2)
    assert taker.receipts(second) == ["server", "delivered", "read"]
    assert alice.receipts(second) == []


def test_durable_events_wait_while_no_device_is_attached(net, clock):
    alice, _ = linked(net, "a", ALICE), linked(net, "b", BOB)
    sent = net.send(alice, text(BOB, "before the host died", "msg_1"))
    alice.acknowledge()
    net.release(alice)  # its engine host is gone
    clock.advance(2)
    net.send_from(CAROL, ALICE, "text", {"text": "while nobody was there"})
    assert alice.receipts(sent) == ["server"]
    again = Device(net, "a", credentials=alice.credentials)
    again.connect()
    clock.advance(0.05)
    assert again.receipts(sent) == ["delivered", "read"]
    assert [m["content"]["text"] for m in again.of(events.MESSAGE)] == ["while nobody was there"]
    again.acknowledge()
    # Recorded: the next attachment gets nothing again.
    net.release(again)
    third = Device(net, "a", credentials=alice.credentials)
    third.connect()
    clock.advance(0.05)
    assert third.types() == [events.CONNECTED]


def test_a_reconnect_of_the_same_attachment_gets_only_what_is_new(net, clock):
    alice, _ = linked(net, "a", ALICE), linked(net, "b", BOB)
    sent = net.send(alice, text(BOB, "hi", "msg_1"))
    clock.advance(2)
    net.inject("a", "disconnect")
    alice.connect()
    clock.advance(0.05)
    assert alice.receipts(sent) == ["server", "delivered", "read"]  # not handed to it twice


def test_durable_events_are_numbered_in_the_order_they_happen(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    for i in range(3):
        net.send(alice, text(BOB, f"#{i}"))
    clock.advance(0.2)
    assert [m["content"]["text"] for m in bob.of(events.MESSAGE)] == ["#0", "#1", "#2"]
    seqs = [event.seq for event in bob.events if event.type == events.MESSAGE]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(event.seq == 0 for event in bob.events if event.type == events.CONNECTED)


# The network's server side across a restart of its process (WAGW_SIMULATOR_STATE)


def durable_network(path: Any) -> tuple[SimulatedNetwork, ManualClock]:
    clock = ManualClock()
    return SimulatedNetwork("test-seed", clock, state=SqliteNetworkState(str(path))), clock


def test_a_restart_keeps_what_whatsapps_servers_keep(tmp_path):
    net, clock = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    delivered = net.send(alice, text(CAROL, "delivered, not yet read", "msg_1"))
    clock.advance(0.5)
    assert alice.receipts(delivered) == ["server", "delivered"]
    in_flight = net.send(alice, text(BOB, "accepted, not yet delivered", "msg_2"))
    alice.acknowledge()
    assert net.inbox(BOB) == []
    phone_message = net.send_from(DAVE, CAROL, "text", {"text": "from a phone"})
    # The process dies (nothing is closed); a new one starts from the same file.
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    again = Device(restarted, "a", credentials=alice.credentials)
    # The gateway, not knowing whether its send went through, sends it again: acknowledged, not delivered twice.
    again.connect()
    clock2.advance(0.05)
    assert again.types()[0] == events.CONNECTED
    assert restarted.send(again, text(BOB, "accepted, not yet delivered", "msg_2")) == in_flight
    clock2.advance(5)
    assert [m["content"]["text"] for m in restarted.inbox(BOB)] == ["accepted, not yet delivered"]
    assert [m["content"]["text"] for m in restarted.inbox(CAROL)] == ["delivered, not yet read", "from a phone"]
    # Deliveries and reads scheduled before the crash happen after it; receipts already recorded are not repeated.
    assert again.receipts(in_flight) == ["delivered", "read"]
    assert again.receipts(delivered) == ["read"]
    # Ids keep counting: a phone's next message does not reuse one from before the restart.
    assert restarted.send_from(DAVE, CAROL, "text", {"text": "again"}) != phone_message


def test_events_a_device_did_not_record_are_handed_out_again_after_a_restart(tmp_path):
    net, clock = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    bob = linked(net, "b", BOB)
    wa_id = net.send(alice, text(BOB, "hello", "msg_1"))
    clock.advance(2)  # handed out, never acknowledged: the engine hosts died while recording
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    alice2 = Device(restarted, "a", credentials=alice.credentials)
    bob2 = Device(restarted, "b", credentials=bob.credentials)
    alice2.connect()
    bob2.connect()
    clock2.advance(0.05)
    assert alice2.receipts(wa_id) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in bob2.of(events.MESSAGE)] == ["hello"]
    alice2.acknowledge()
    # Recorded this time: a third start hands out nothing more.
    third, clock3 = durable_network(tmp_path / "sim.db")
    alice3 = Device(third, "a", credentials=alice.credentials)
    alice3.connect()
    clock3.advance(5)
    assert alice3.types() == [events.CONNECTED]


def test_revoked_credentials_stay_revoked_after_a_restart(tmp_path):
    net, _ = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    kept = dict(alice.credentials or {})
    net.logout(alice)
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    again = Device(restarted, "a", credentials=kept)
    again.connect()
    clock2.advance(1)
    assert again.types() == [events.LOGGED_OUT]
    # A new login (a new device id) is accepted, after the restart too.
    again.connect()
    restarted.scan(again.of(events.QR)[-1]["code"], ALICE)
    third, clock3 = durable_network(tmp_path / "sim.db")
    relinked = Device(third, "a", credentials=again.credentials)
    relinked.connect()
    clock3.advance(1)
    assert relinked.types() == [events.CONNECTED]


def test_slow_ack_accepts_the_message_but_answers_late(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "slow_ack", seconds=30)
    net.inject("a", "fail_next", operation="lookup")  # a fault of a call is not taken by the ack
    before = clock.now()
    wa_id = net.send(alice, text(BOB, "slow"))
    assert clock.now() - before == dt.timedelta(seconds=30)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]  # it went on while the answer waited
    with pytest.raises(Refusal, match="injected failure"):
        net.lookup(alice, [BOB])

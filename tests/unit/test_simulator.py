"""The simulator engine and its network, on a manual clock (no sleeps), plus one smoke test on the real clock."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from server.core.errors import ApiError
from server.engine_host.engines import base
from server.engine_host.engines.base import EngineError, EngineEvent, Media, OutgoingMessage
from server.engine_host.engines.simulator import SimulatorEngine, default_auto_pair_phone
from server.simulator import network as simnet
from server.simulator.network import ManualClock, RealClock, SimulatedNetwork, SimulationError
from server.simulator.store import NetworkState, SqliteNetworkState

ALICE, BOB, CAROL, DAVE = "+628111000001", "+628111000002", "+628111000003", "+628111000004"
UNREGISTERED = "+628111110000"  # ends in 0000: not on WhatsApp by the network's rule


def jid(phone: str) -> str:
    return phone.removeprefix("+") + "@s.whatsapp.net"


class MemoryStore:
    def __init__(self, profile_id: str):
        self.profile_id = profile_id
        self.database_url = ""
        self.data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    def clear(self) -> None:
        self.data = None


class Device:
    """One profile: its engine, what it emitted, and its credential store."""

    def __init__(self, net: SimulatedNetwork, profile_id: str, settings: dict[str, Any] | None = None,
                 store: MemoryStore | None = None):
        self.events: list[EngineEvent] = []
        self.store = store or MemoryStore(profile_id)
        self.engine = SimulatorEngine(profile_id, settings or {}, self.store, self.events.append, network=net)

    def of(self, type: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type == type]

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def receipts(self, wa_message_id: str) -> list[str]:
        return [data["status"] for data in self.of(base.RECEIPT) if data["wa_message_id"] == wa_message_id]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def net(clock: ManualClock) -> SimulatedNetwork:
    return SimulatedNetwork("test-seed", clock)


def linked(net: SimulatedNetwork, profile_id: str, phone: str, **settings: Any) -> Device:
    device = Device(net, profile_id, settings)
    device.engine.connect()
    net.scan(device.of(base.QR)[-1]["code"], phone)
    return device


def text(to: str, body: str, message_id: str = "") -> OutgoingMessage:
    return OutgoingMessage(to, "text", {"text": body}, id=message_id)


# Login


def test_qr_codes_rotate_after_60_then_20_seconds_six_in_all_then_time_out(net, clock):
    device = Device(net, "p1")
    assert device.engine.connect() == ""
    first = device.of(base.QR)
    assert len(first) == 1 and first[0]["code"].startswith("2@")
    assert first[0]["expires_at"] == clock.now() + simnet.dt.timedelta(seconds=60)
    clock.advance(59.9)
    assert len(device.of(base.QR)) == 1
    clock.advance(0.1)
    assert len(device.of(base.QR)) == 2
    for shown in range(3, 7):
        clock.advance(19.9)
        assert len(device.of(base.QR)) == shown - 1
        clock.advance(0.1)
        assert len(device.of(base.QR)) == shown
    codes = [qr["code"] for qr in device.of(base.QR)]
    assert len(set(codes)) == 6
    assert base.QR_TIMEOUT not in device.types()
    clock.advance(20)
    assert device.types()[-1] == base.QR_TIMEOUT
    clock.advance(600)
    assert len(device.of(base.QR)) == 6
    with pytest.raises(SimulationError):
        net.scan(codes[-1], ALICE)


def test_scanning_the_qr_code_connects_and_saves_credentials(net, clock):
    device = Device(net, "p1")
    device.engine.connect()
    net.set_push_name(ALICE, "Alice")
    net.scan(device.of(base.QR)[0]["code"], ALICE)
    assert device.of(base.CONNECTED) == [{"phone_number": ALICE, "push_name": "Alice"}]
    assert device.store.data is not None
    assert device.store.data["phone_number"] == ALICE and device.store.data["token"]
    clock.advance(300)  # the login is over: no more QR codes, no timeout
    assert device.types() == [base.QR, base.CONNECTED]


def test_a_wrong_or_expired_qr_code_is_refused(net, clock):
    device = Device(net, "p1")
    device.engine.connect()
    first = device.of(base.QR)[0]["code"]
    with pytest.raises(SimulationError):
        net.scan("2@not-the-code", ALICE)
    with pytest.raises(SimulationError, match="not on WhatsApp"):
        net.scan(first, UNREGISTERED)
    clock.advance(60)
    with pytest.raises(SimulationError):
        net.scan(first, ALICE)  # replaced by the second code
    net.scan(device.of(base.QR)[-1]["code"], ALICE)
    assert device.of(base.CONNECTED)


def test_pairing_code_login(net, clock):
    device = Device(net, "p1")
    code = device.engine.connect(ALICE)
    assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}", code)
    assert device.of(base.PAIRING) == [{"code": code}]
    assert device.engine.connect(ALICE) == code  # asking again while it is pending gives the same code
    with pytest.raises(SimulationError, match="another phone number"):
        net.enter_pairing_code(BOB, code)
    with pytest.raises(SimulationError):
        net.enter_pairing_code(ALICE, "AAAA-AAAA")
    net.enter_pairing_code(ALICE, code.lower().replace("-", ""))
    assert device.of(base.CONNECTED)[0]["phone_number"] == ALICE
    assert device.store.data and device.store.data["phone_number"] == ALICE


def test_pairing_code_expires_after_180_seconds(net, clock):
    device = Device(net, "p1")
    code = device.engine.connect(ALICE)
    clock.advance(179.9)
    assert base.QR_TIMEOUT not in device.types()
    clock.advance(0.1)
    assert device.types()[-1] == base.QR_TIMEOUT
    with pytest.raises(SimulationError):
        net.enter_pairing_code(ALICE, code)


def test_pairing_code_for_an_unregistered_number_is_refused(net):
    with pytest.raises(EngineError, match="not on WhatsApp"):
        Device(net, "p1").engine.connect(UNREGISTERED)


def test_reconnect_after_a_restart_needs_no_scan(net, clock):
    first = linked(net, "p1", ALICE)
    # A new engine-host process: a new network with the same seed, the same stored credentials.
    clock2 = ManualClock()
    restarted = Device(SimulatedNetwork("test-seed", clock2), "p1", store=first.store)
    assert restarted.engine.connect() == ""
    assert restarted.events == []
    clock2.advance(0.05)
    assert restarted.types() == [base.CONNECTED]
    assert restarted.of(base.CONNECTED)[0]["phone_number"] == ALICE


def test_credentials_of_another_seed_are_refused(net):
    first = linked(net, "p1", ALICE)
    clock2 = ManualClock()
    other = Device(SimulatedNetwork("other-seed", clock2), "p1", store=first.store)
    other.engine.connect()
    clock2.advance(1)
    assert other.types() == [base.LOGGED_OUT]
    assert other.store.data is None


def test_logout_revokes_the_credentials(net, clock):
    device = linked(net, "p1", ALICE)
    kept = dict(device.store.data or {})
    device.engine.logout()
    assert device.types()[-1] == base.LOGGED_OUT
    assert device.store.data is None
    with pytest.raises(EngineError) as error:
        device.engine.send(text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    device.store.save(kept)  # someone kept a copy: WhatsApp no longer knows the device
    device.engine.connect()
    clock.advance(1)
    assert device.types()[-1] == base.LOGGED_OUT


def test_disconnect_keeps_credentials(net, clock):
    device = linked(net, "p1", ALICE)
    device.engine.disconnect()
    assert device.of(base.DISCONNECTED) == [{"reason": "closed", "reconnect": False}]
    device.engine.connect()
    clock.advance(0.05)
    assert device.types().count(base.CONNECTED) == 2
    assert base.QR not in device.types()[2:]


def test_auto_pair_scans_the_first_qr_code_by_itself(net, clock):
    device = Device(net, "demo", {"autoPair": True})
    device.engine.connect()
    clock.advance(2.9)
    assert base.CONNECTED not in device.types()
    clock.advance(0.1)
    phone = default_auto_pair_phone("demo")
    assert device.of(base.CONNECTED) == [{"phone_number": phone, "push_name": f"Simulated {phone[-4:]}"}]
    assert net.is_registered(phone)


def test_auto_pair_with_a_chosen_phone_types_the_pairing_code(net, clock):
    device = Device(net, "demo", {"autoPair": True, "autoPairPhone": ALICE, "autoPairDelayMs": 500})
    device.engine.connect(ALICE)
    clock.advance(0.5)
    assert device.of(base.CONNECTED)[0]["phone_number"] == ALICE


def test_default_auto_pair_phones_are_valid_and_registered(net):
    phones = {default_auto_pair_phone(f"prf_{i}") for i in range(200)}
    assert len(phones) == 200
    assert all(SimulatorEngine.spec.validate_settings({"autoPairPhone": phone}) for phone in phones)
    assert all(net.is_registered(phone) for phone in phones)


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


# Messages


def test_two_profiles_message_each_other_with_receipts_in_order(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    wa_id = alice.engine.send(text(jid(BOB), "Hello Bob!"))
    assert re.fullmatch(r"3EB0[0-9A-F]{20}", wa_id)
    assert alice.receipts(wa_id) == ["server"]
    assert not bob.of(base.MESSAGE)
    clock.advance(0.2)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    received = bob.of(base.MESSAGE)
    assert len(received) == 1
    assert received[0]["wa_message_id"] == wa_id
    assert received[0]["chat_id"] == jid(ALICE) and received[0]["sender"] == jid(ALICE)
    assert received[0]["content"] == {"text": "Hello Bob!"}
    clock.advance(1)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert alice.of(base.RECEIPT)[-1]["chat_id"] == jid(BOB)

    reply = bob.engine.send(text(ALICE, "Hi Alice"))  # E.164 works as a chat id too
    clock.advance(1.2)
    assert [m["content"]["text"] for m in alice.of(base.MESSAGE)] == ["Hi Alice"]
    assert bob.receipts(reply) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in net.inbox(BOB)] == ["Hello Bob!"]
    clock.advance(60)
    assert len(net.inbox(BOB)) == 1


def test_an_offline_recipient_gets_the_message_when_it_comes_back(net, clock):
    alice = linked(net, "a", ALICE)
    net.set_online(CAROL, False)
    wa_id = alice.engine.send(text(CAROL, "Hello Carol!"))
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
    to_carol = alice.engine.send(text(CAROL, "one"))
    to_dave = alice.engine.send(text(DAVE, "two"))
    clock.advance(5)
    assert alice.receipts(to_carol) == alice.receipts(to_dave) == ["server", "delivered"]
    clock.advance(10)
    assert alice.receipts(to_carol) == ["server", "delivered"]
    assert alice.receipts(to_dave) == ["server", "delivered", "read"]


def test_a_disconnected_profile_catches_up_when_it_reconnects(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    bob.engine.disconnect()
    alice.engine.send(text(BOB, "while you were away"))
    clock.advance(2)
    assert not bob.of(base.MESSAGE)
    assert [m["content"]["text"] for m in net.inbox(BOB)] == ["while you were away"]  # the phone got it
    bob.engine.connect()
    clock.advance(0.05)
    assert bob.types()[-2:] == [base.CONNECTED, base.MESSAGE]


def test_one_number_can_link_several_profiles(net, clock):
    alice = linked(net, "a", ALICE)
    first, second = linked(net, "b1", BOB), linked(net, "b2", BOB)
    alice.engine.send(text(BOB, "to both devices"))
    clock.advance(0.2)
    assert len(first.of(base.MESSAGE)) == len(second.of(base.MESSAGE)) == 1
    assert len(net.inbox(BOB)) == 1


def test_a_connected_device_receives_while_its_phone_is_offline(net, clock):
    alice, bob = linked(net, "a", ALICE), linked(net, "b", BOB)
    net.set_online(BOB, False)
    alice.engine.send(text(BOB, "to the laptop"))
    clock.advance(0.2)
    assert len(bob.of(base.MESSAGE)) == 1
    bob.engine.disconnect()
    wa_id = alice.engine.send(text(BOB, "nobody home"))
    clock.advance(5)
    assert alice.receipts(wa_id) == ["server"]
    net.set_online(BOB, True)
    assert alice.receipts(wa_id) == ["server", "delivered"]


def test_unregistered_recipients_and_lookup(net):
    alice = linked(net, "a", ALICE)
    net.unregister(DAVE)
    for number in (UNREGISTERED, DAVE):
        with pytest.raises(EngineError, match="recipient is not on WhatsApp") as error:
            alice.engine.send(text(number, "hi"))
        assert error.value.code == "ENGINE_ERROR"
    assert alice.engine.lookup([BOB, UNREGISTERED, DAVE, "garbage"]) == {
        BOB: True, UNREGISTERED: False, DAVE: False, "garbage": False}


def test_sending_needs_a_connection(net):
    device = Device(net, "a")
    with pytest.raises(EngineError) as error:
        device.engine.send(text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    with pytest.raises(EngineError) as error:
        device.engine.list_groups()
    assert error.value.code == "PROFILE_NOT_CONNECTED"


PNG = Media(b"\x89PNG fake image", "image/png", "cat.png")
EVERY_TYPE = [
    ("text", {"text": "Hello John!"}, None, {"text": "Hello John!"}),
    ("image", {"caption": "a cat"}, PNG, {"caption": "a cat", "media": {
        "mimetype": "image/png", "filename": "cat.png", "size": len(PNG.data),
        "sha256": simnet.hashlib.sha256(PNG.data).hexdigest()}}),
    ("video", {}, Media(b"mp4", "video/mp4", "clip.mp4"), None),
    ("document", {"caption": "invoice"}, Media(b"%PDF", "application/pdf", "invoice.pdf"), None),
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
    wa_id = alice.engine.send(OutgoingMessage(jid(BOB), type, content, media))
    clock.advance(0.2)
    [received] = bob.of(base.MESSAGE)
    assert received["type"] == type and received["wa_message_id"] == wa_id
    if expected is not None:
        assert received["content"] == expected
    # And the other way round, injected from Bob's phone.
    net.send_from(BOB, ALICE, type, content, media)
    assert alice.of(base.MESSAGE)[-1]["type"] == type
    assert alice.of(base.MESSAGE)[-1]["content"] == received["content"]


@pytest.mark.parametrize(("type", "content", "media", "reason"), [
    ("text", {"text": "  "}, None, "empty"),
    ("image", {}, None, "need media"),
    ("image", {}, Media(b"x", "application/pdf"), "not a image mimetype"),
    ("location", {"location": {"latitude": 91, "longitude": 0}}, None, "latitude"),
    ("contact", {"contact": {"full_name": "John"}}, None, "vcard"),
    ("poll", {"poll": {"question": "Q?", "options": ["only one"]}}, None, "2 to 12"),
    ("poll", {"poll": {"question": "Q?", "options": [str(i) for i in range(13)]}}, None, "2 to 12"),
    ("poll", {"poll": {"question": "Q?", "options": ["a", "a"]}}, None, "unique"),
])
def test_what_whatsapp_refuses_to_send(net, type, content, media, reason):
    alice = linked(net, "a", ALICE)
    with pytest.raises(EngineError, match=reason):
        alice.engine.send(OutgoingMessage(jid(BOB), type, content, media))


def test_incoming_message_from_a_test_phone(net):
    alice = linked(net, "a", ALICE)
    wa_id = net.send_from(CAROL, ALICE, "text", {"text": "Hello from Carol"})
    [received] = alice.of(base.MESSAGE)
    assert received == {"wa_message_id": wa_id, "chat_id": jid(CAROL), "sender": jid(CAROL), "type": "text",
                        "content": {"text": "Hello from Carol"}, "timestamp": received["timestamp"]}
    with pytest.raises(SimulationError):
        net.send_from(UNREGISTERED, ALICE, "text", {"text": "x"})


# Groups


@pytest.fixture
def trio(net: SimulatedNetwork) -> tuple[Device, Device, Device]:
    return linked(net, "a", ALICE), linked(net, "b", BOB), linked(net, "c", CAROL)


def roles(info: base.GroupInfo) -> dict[str, str]:
    return {p.chat_id: p.role for p in info.participants}


def test_create_a_group_with_mixed_participant_results(net, trio):
    alice, bob, carol = trio
    net.set_privacy(DAVE, refuse_group_add=True)
    info, results = alice.engine.create_group("Team", [BOB, jid(CAROL), BOB, UNREGISTERED, DAVE, "nonsense"])
    assert [(r.chat_id, r.status) for r in results] == [
        (jid(BOB), "ADDED"), (jid(CAROL), "ADDED"), (jid(BOB), "ALREADY_MEMBER"),
        (jid(UNREGISTERED), "NOT_ON_WHATSAPP"), (jid(DAVE), "PRIVACY_REFUSED"), ("nonsense", "NOT_ON_WHATSAPP")]
    assert re.fullmatch(r"120363\d{12}@g\.us", info.group_id)
    assert roles(info) == {jid(ALICE): "SUPERADMIN", jid(BOB): "MEMBER", jid(CAROL): "MEMBER"}
    assert info.owner == jid(ALICE) and info.name == "Team"
    created = bob.of(base.GROUP)
    assert created == [{"group_id": info.group_id, "action": "create", "by": jid(ALICE), "name": "Team",
                        "participants": [jid(ALICE), jid(BOB), jid(CAROL)]}]
    assert [g.group_id for g in carol.engine.list_groups()] == [info.group_id]
    assert bob.engine.get_group(info.group_id) == info


def test_groups_are_visible_to_members_only(net, trio):
    alice, _, _ = trio
    dave = linked(net, "d", DAVE)
    info, _ = alice.engine.create_group("Team", [BOB])
    assert dave.engine.list_groups() == []
    with pytest.raises(EngineError) as error:
        dave.engine.get_group(info.group_id)
    assert error.value.code == "FORBIDDEN"
    with pytest.raises(EngineError) as error:
        dave.engine.get_group("120363000000000000@g.us")
    assert error.value.code == "NOT_FOUND"


def test_only_admins_manage_participants(net, trio):
    alice, bob, carol = trio
    info, _ = alice.engine.create_group("Team", [BOB])
    gid = info.group_id
    with pytest.raises(EngineError) as error:
        bob.engine.update_participants(gid, "add", [CAROL])
    assert error.value.code == "NOT_GROUP_ADMIN" and "only group admins" in error.value.reason

    assert [r.status for r in alice.engine.update_participants(gid, "add", [CAROL, BOB])] == [
        "ADDED", "ALREADY_MEMBER"]
    assert [r.status for r in alice.engine.update_participants(gid, "promote", [BOB, DAVE])] == [
        "PROMOTED", "NOT_MEMBER"]
    # An admin now, but the creator stays out of reach.
    results = bob.engine.update_participants(gid, "demote", [ALICE])
    assert results[0].status == "NOT_AUTHORIZED" and results[0].error
    results = bob.engine.update_participants(gid, "remove", [ALICE])
    assert results[0].status == "NOT_AUTHORIZED"
    assert [r.status for r in bob.engine.update_participants(gid, "remove", [CAROL])] == ["REMOVED"]
    assert [r.status for r in alice.engine.update_participants(gid, "demote", [BOB])] == ["DEMOTED"]
    assert [r.status for r in alice.engine.update_participants(gid, "add", [CAROL])] == ["ADDED"]
    assert roles(alice.engine.get_group(gid)) == {
        jid(ALICE): "SUPERADMIN", jid(BOB): "MEMBER", jid(CAROL): "MEMBER"}

    actions = [(e["action"], e["participants"], e["by"]) for e in carol.of(base.GROUP)]
    assert actions == [
        ("join", [jid(CAROL)], jid(ALICE)),
        ("promote", [jid(BOB)], jid(ALICE)),
        ("leave", [jid(CAROL)], jid(BOB)),  # Carol hears of her own removal
        ("join", [jid(CAROL)], jid(ALICE)),
    ]


def test_announce_only_groups_let_admins_speak(net, clock, trio):
    alice, bob, carol = trio
    gid = alice.engine.create_group("News", [BOB, CAROL])[0].group_id
    with pytest.raises(EngineError) as error:
        bob.engine.update_group(gid, announce=True)
    assert error.value.code == "NOT_GROUP_ADMIN"
    assert alice.engine.update_group(gid, announce=True).announce
    assert bob.of(base.GROUP)[-1] == {"group_id": gid, "action": "settings", "participants": [],
                                      "by": jid(ALICE), "announce": True}
    with pytest.raises(EngineError) as error:
        bob.engine.send(text(gid, "may I?"))
    assert error.value.code == "NOT_GROUP_ADMIN"
    with pytest.raises(EngineError):
        net.send_from(BOB, gid, "text", {"text": "from the phone"})
    wa_id = alice.engine.send(text(gid, "Announcement"))
    clock.advance(0.2)
    for member in (bob, carol):
        [received] = member.of(base.MESSAGE)
        assert received["chat_id"] == gid and received["sender"] == jid(ALICE)
    assert alice.receipts(wa_id) == ["server", "delivered"]
    clock.advance(1)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in net.inbox(gid)] == ["Announcement"]
    assert [m["chat_id"] for m in net.inbox(CAROL)] == [gid]


def test_group_message_is_read_when_every_member_read_it(net, clock, trio):
    alice, _, _ = trio
    gid = alice.engine.create_group("Team", [BOB, CAROL])[0].group_id
    net.set_reads(CAROL, False)
    wa_id = alice.engine.send(text(gid, "hello all"))
    clock.advance(5)
    assert alice.receipts(wa_id) == ["server", "delivered"]


def test_locked_groups_keep_their_info_for_admins(net, trio):
    alice, bob, _ = trio
    gid = alice.engine.create_group("Team", [BOB])[0].group_id
    info = bob.engine.update_group(gid, name="Team 2", description="our team")
    assert (info.name, info.description) == ("Team 2", "our team")
    alice.engine.update_group(gid, locked=True)
    with pytest.raises(EngineError) as error:
        bob.engine.update_group(gid, name="Hijacked")
    assert error.value.code == "NOT_GROUP_ADMIN"
    assert alice.engine.update_group(gid, name="Team 3").name == "Team 3"
    assert [e["action"] for e in bob.of(base.GROUP)] == ["create", "subject", "description", "settings", "subject"]
    with pytest.raises(EngineError, match="empty"):
        alice.engine.update_group(gid, name="  ")


def test_invite_links_revoke_and_join(net, trio):
    alice, bob, _ = trio
    gid = alice.engine.create_group("Team", [BOB])[0].group_id
    code = alice.engine.invite_link(gid)
    assert re.fullmatch(r"[A-Za-z0-9]{22}", code) and alice.engine.invite_link(gid) == code
    with pytest.raises(EngineError) as error:
        bob.engine.invite_link(gid)
    assert error.value.code == "NOT_GROUP_ADMIN"
    new_code = alice.engine.invite_link(gid, revoke=True)
    assert new_code != code
    assert bob.of(base.GROUP)[-1]["invite_link_revoked"] is True
    with pytest.raises(SimulationError):
        net.join_by_invite(CAROL, code)
    assert net.join_by_invite(CAROL, new_code) == gid
    assert bob.of(base.GROUP)[-1] == {"group_id": gid, "action": "join", "participants": [jid(CAROL)],
                                      "by": jid(CAROL)}
    assert jid(CAROL) in roles(alice.engine.get_group(gid))


def test_the_last_admin_leaving_hands_the_group_on(net, trio):
    alice, bob, carol = trio
    gid = alice.engine.create_group("Team", [BOB, CAROL])[0].group_id
    alice.engine.leave_group(gid)
    assert alice.engine.list_groups() == []
    assert alice.of(base.GROUP)[-1]["action"] == "leave"
    assert [(e["action"], e["participants"]) for e in carol.of(base.GROUP)[-2:]] == [
        ("leave", [jid(ALICE)]), ("promote", [jid(BOB)])]
    assert roles(bob.engine.get_group(gid)) == {jid(BOB): "ADMIN", jid(CAROL): "MEMBER"}
    with pytest.raises(EngineError):
        alice.engine.send(text(gid, "still here?"))


# Faults


def test_rate_overlimit_for_n_sends(net):
    alice = linked(net, "a", ALICE)
    net.inject("a", "rate_overlimit", n=2)
    for _ in range(2):
        with pytest.raises(EngineError) as error:
            alice.engine.send(text(BOB, "hi"))
        assert error.value.code == "RATE_LIMITED" and error.value.reason == "rate-overlimit"
    alice.engine.create_group("not a send", [])
    assert alice.engine.send(text(BOB, "hi"))


def test_rate_overlimit_for_a_while(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "rate_overlimit", seconds=10)
    clock.advance(9)
    with pytest.raises(EngineError):
        alice.engine.send(text(BOB, "hi"))
    clock.advance(1)
    assert alice.engine.send(text(BOB, "hi"))


def test_temporary_ban(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "temporary_ban", seconds=100, reason="spam")
    [banned] = alice.of(base.BANNED)
    assert banned == {"reason": "spam", "until": clock.now() + simnet.dt.timedelta(seconds=100)}
    with pytest.raises(EngineError) as error:
        alice.engine.send(text(BOB, "hi"))
    assert error.value.code == "PROFILE_NOT_CONNECTED"
    with pytest.raises(EngineError, match="banned"):
        alice.engine.connect()
    clock.advance(100)
    alice.engine.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == base.CONNECTED


def test_logged_out_from_the_phone(net, clock):
    alice = linked(net, "a", ALICE)
    kept = dict(alice.store.data or {})
    net.inject("a", "logged_out")
    assert alice.of(base.LOGGED_OUT) == [{"reason": "logged out from the phone"}]
    assert alice.store.data is None
    alice.store.save(kept)
    alice.engine.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == base.LOGGED_OUT


def test_dropped_connection_then_reconnect(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "disconnect")
    assert alice.of(base.DISCONNECTED) == [{"reason": "connection lost", "reconnect": True}]
    clock.advance(60)
    assert alice.types()[-1] == base.DISCONNECTED  # the engine host reconnects, not the engine
    alice.engine.connect()
    clock.advance(0.05)
    assert alice.types()[-1] == base.CONNECTED
    Device(net, "idle")
    with pytest.raises(SimulationError):
        net.inject("idle", "disconnect")


def test_timeout_blocks_then_fails(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "timeout", seconds=5, operation="create_group")
    alice.engine.send(text(BOB, "not affected"))
    before = clock.now()
    with pytest.raises(EngineError, match="timeout"):
        alice.engine.create_group("Team", [BOB])
    assert clock.now() - before == simnet.dt.timedelta(seconds=5)
    assert alice.engine.create_group("Team", [BOB])


def test_fail_next_calls(net):
    alice = linked(net, "a", ALICE)
    net.inject("a", "fail_next", n=2, operation="send")
    assert alice.engine.lookup([BOB]) == {BOB: True}
    for _ in range(2):
        with pytest.raises(EngineError, match="injected failure"):
            alice.engine.send(text(BOB, "hi"))
    assert alice.engine.send(text(BOB, "hi"))
    net.inject("a", "fail_next")
    with pytest.raises(EngineError, match="injected failure"):
        alice.engine.list_groups()
    alice.engine.disconnect()
    net.inject("a", "fail_next", operation="connect", reason="stream error")
    with pytest.raises(EngineError, match="stream error"):
        alice.engine.connect()
    alice.engine.connect()
    with pytest.raises(ValueError, match="unknown fault"):
        net.inject("a", "meteor")


# Determinism and the real clock


def scripted_run(seed: str) -> list[Any]:
    clock = ManualClock()
    net = SimulatedNetwork(seed, clock)
    alice = linked(net, "a", ALICE)
    bob = Device(net, "b")
    code = bob.engine.connect(BOB)
    net.enter_pairing_code(BOB, code)
    group, _ = alice.engine.create_group("Team", [BOB])
    return [
        alice.of(base.QR)[0]["code"], code, alice.store.data, group.group_id,
        alice.engine.send(text(BOB, "one")), alice.engine.send(text(group.group_id, "two")),
        alice.engine.invite_link(group.group_id), net.send_from(CAROL, ALICE, "text", {"text": "three"}),
    ]


def test_the_same_seed_gives_the_same_run():
    assert scripted_run("seed-1") == scripted_run("seed-1")
    assert all(x != y for x, y in zip(scripted_run("seed-1"), scripted_run("seed-2"), strict=True))


def test_real_clock_runs_the_network_on_its_scheduler_thread():
    net = SimulatedNetwork("smoke", RealClock(time_scale=0.01))
    seen: dict[tuple[str, str], threading.Event] = {}
    threads: set[str] = set()

    def watcher(profile_id: str) -> base.Emit:
        def emit(event: EngineEvent) -> None:
            threads.add(threading.current_thread().name)
            key = (profile_id, event.data.get("status", event.type))
            seen.setdefault(key, threading.Event()).set()
        return emit

    def wait_for(profile_id: str, what: str) -> None:
        assert seen.setdefault((profile_id, what), threading.Event()).wait(5), what

    try:
        alice = SimulatorEngine("a", {"autoPair": True, "autoPairPhone": ALICE}, MemoryStore("a"), watcher("a"),
                                network=net)
        bob = SimulatorEngine("b", {"autoPair": True, "autoPairPhone": BOB, "autoPairDelayMs": 100},
                              MemoryStore("b"), watcher("b"), network=net)
        alice.connect()  # the phone scans 3 s later in simulated time: 30 ms here
        bob.connect()
        wait_for("a", base.CONNECTED)
        wait_for("b", base.CONNECTED)
        alice.send(text(BOB, "over the wire"))
        wait_for("a", "read")
        wait_for("b", base.MESSAGE)
        assert [m["content"]["text"] for m in net.inbox(BOB)] == ["over the wire"]
        assert "simulator-clock" in threads
    finally:
        net.close()


def test_the_process_network_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("WAGW_SIMULATOR_SEED", "from-env")
    monkeypatch.setenv("WAGW_SIMULATOR_TIME_SCALE", "0.5")
    try:
        net = simnet.reset_network()
        assert net is simnet.network()
        assert net.seed == "from-env"
        assert isinstance(net.clock, RealClock) and net.clock.time_scale == 0.5
        mine = SimulatedNetwork("mine", ManualClock())
        assert simnet.reset_network(mine) is mine is simnet.network()
        assert SimulatorEngine("p", {}, MemoryStore("p"), lambda event: None).network is mine
    finally:
        simnet.reset_network(None)


# The network's server side across a restart of its process (WAGW_SIMULATOR_STATE)


def durable_network(path: Any) -> tuple[SimulatedNetwork, ManualClock]:
    clock = ManualClock()
    return SimulatedNetwork("test-seed", clock, state=SqliteNetworkState(str(path))), clock


def test_a_restart_keeps_what_whatsapps_servers_keep(tmp_path):
    net, clock = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    delivered = alice.engine.send(text(CAROL, "delivered, not yet read", "msg_1"))
    clock.advance(0.5)
    assert alice.receipts(delivered) == ["server", "delivered"]
    in_flight = alice.engine.send(text(BOB, "accepted, not yet delivered", "msg_2"))
    assert net.inbox(BOB) == []
    phone_message = net.send_from(DAVE, CAROL, "text", {"text": "from a phone"})
    # The process dies (nothing is closed); a new one starts from the same file.
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    again = Device(restarted, "a", store=alice.store)
    # The gateway, not knowing whether its send went through, sends it again: acknowledged, not delivered twice.
    again.engine.connect()
    clock2.advance(0.05)
    assert again.types()[0] == base.CONNECTED
    assert again.engine.send(text(BOB, "accepted, not yet delivered", "msg_2")) == in_flight
    clock2.advance(5)
    assert [m["content"]["text"] for m in restarted.inbox(BOB)] == ["accepted, not yet delivered"]
    assert [m["content"]["text"] for m in restarted.inbox(CAROL)] == ["delivered, not yet read", "from a phone"]
    # Deliveries and reads scheduled before the crash happen after it; receipts already handled are not repeated.
    assert again.receipts(in_flight) == ["delivered", "read"]
    assert again.receipts(delivered) == ["read"]
    # Ids keep counting: a phone's next message does not reuse one from before the restart.
    assert restarted.send_from(DAVE, CAROL, "text", {"text": "again"}) != phone_message


def test_events_a_device_did_not_handle_are_handed_out_again_after_a_restart(tmp_path):
    net, clock = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    bob = linked(net, "b", BOB)

    def dies(event: EngineEvent) -> None:  # the process dies while handling the event: no acknowledgement
        raise RuntimeError("killed")

    alice.engine.emit = bob.engine.emit = dies
    wa_id = alice.engine.send(text(BOB, "hello", "msg_1"))
    clock.advance(2)
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    alice2 = Device(restarted, "a", store=alice.store)
    bob2 = Device(restarted, "b", store=bob.store)
    alice2.engine.connect()
    bob2.engine.connect()
    clock2.advance(0.05)
    assert alice2.receipts(wa_id) == ["server", "delivered", "read"]
    assert [m["content"]["text"] for m in bob2.of(base.MESSAGE)] == ["hello"]
    # Handled this time: a third start hands out nothing more.
    third, clock3 = durable_network(tmp_path / "sim.db")
    alice3 = Device(third, "a", store=alice.store)
    alice3.engine.connect()
    clock3.advance(5)
    assert alice3.types() == [base.CONNECTED]


def test_revoked_credentials_stay_revoked_after_a_restart(tmp_path):
    net, _ = durable_network(tmp_path / "sim.db")
    alice = linked(net, "a", ALICE)
    kept = dict(alice.store.data or {})
    alice.engine.logout()
    restarted, clock2 = durable_network(tmp_path / "sim.db")
    again = Device(restarted, "a", store=MemoryStore("a"))
    again.store.save(kept)
    again.engine.connect()
    clock2.advance(1)
    assert again.types() == [base.LOGGED_OUT]


def test_slow_ack_accepts_the_message_but_answers_late(net, clock):
    alice = linked(net, "a", ALICE)
    net.inject("a", "slow_ack", seconds=30)
    net.inject("a", "fail_next", operation="lookup")  # a fault of a call is not taken by the ack
    before = clock.now()
    wa_id = alice.engine.send(text(BOB, "slow"))
    assert clock.now() - before == simnet.dt.timedelta(seconds=30)
    assert alice.receipts(wa_id) == ["server", "delivered", "read"]  # it went on while the answer waited
    with pytest.raises(EngineError, match="injected failure"):
        alice.engine.lookup([BOB])


def test_the_state_file_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WAGW_SIMULATOR_STATE", str(tmp_path / "state.db"))
    try:
        assert isinstance(simnet.reset_network()._state, SqliteNetworkState)
        monkeypatch.delenv("WAGW_SIMULATOR_STATE")
        state = simnet.reset_network()._state
        assert type(state) is NetworkState and not state.durable
    finally:
        simnet.reset_network(None)

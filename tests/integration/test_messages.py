"""The seven sends end to end on the simulator: validation, the outbox, delivery by the worker process through
the engine host, receipts to READ, incoming messages, idempotency, the send gate and the daily cap."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import subprocess
import sys

import pytest

from server.core.config import ROOT
from server.launch import Child
from tests.support.api import connected_profile, fails, ok, wait_for, wait_message

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n").decode()
MP4 = base64.b64encode(bytes.fromhex("0000001866747970") + b"mp42" + bytes(4) + b"mp42isom" + bytes(64)).decode()


SENDS = [
    ("text", {"text": "Hello there"}, "TEXT"),
    ("image", {"media": {"data": PNG, "mimetype": "image/png"}, "caption": "a pixel"}, "IMAGE"),
    ("video", {"media": {"data": MP4, "mimetype": "video/mp4"}, "caption": "a clip"}, "VIDEO"),
    ("document", {"media": {"data": PDF, "mimetype": "application/pdf", "filename": "terms.pdf"}}, "DOCUMENT"),
    ("location", {"location": {"latitude": -6.2, "longitude": 106.8, "name": "Monas"}}, "LOCATION"),
    ("contact", {"contact": {"fullName": "Jane Roe", "phoneNumber": "+62 898-7654-321"}}, "CONTACT"),
    ("poll", {"poll": {"question": "Lunch?", "options": ["Rice", "Noodles"]}}, "POLL"),
]


@pytest.mark.parametrize(("route", "body", "kind"), SENDS, ids=[s[0] for s in SENDS])
def test_each_kind_is_delivered_then_read(stack, rest, unique, route, body, kind):
    pid, _ = connected_profile(rest, unique)
    recipient = f"62811{abs(hash(unique('r'))) % 10**7:07d}"
    sent = ok(rest.post(f"/messages/{route}", json={"profileId": pid, "chatId": f"{recipient}@c.us", **body}))
    assert sent["status"] == "PENDING"
    assert sent["chatId"] == f"{recipient}@s.whatsapp.net"
    assert sent["type"] == kind
    assert "data" not in sent["content"].get("media", {})
    read = wait_message(rest, sent["id"], "READ")
    assert read["waMessageId"] and read["sentTime"] and read["deliveredTime"] and read["readTime"]
    inbox = stack.simulator("inbox", phone_or_chat_id=f"+{recipient}")
    assert [entry["type"] for entry in inbox] == [kind.lower()]
    acks = ok(rest.get("/events", params={"profileId": pid, "events": "message.ack", "pageSize": 1000}))["events"]
    assert [e["data"]["status"] for e in acks if e["data"].get("messageId") == sent["id"]] == \
        ["SENT", "DELIVERED", "READ"]


@pytest.mark.parametrize(("route", "body", "field"), [
    ("text", {"text": ""}, "text"),
    ("text", {"text": "x" * 4097}, "text"),
    ("text", {"text": "hi", "chatId": "nope"}, "chatId"),
    ("text", {"text": "hi", "mentions": ["120363025246125486@g.us"]}, "mentions"),
    ("image", {}, "media"),
    ("image", {"media": {"data": PDF, "mimetype": "application/pdf"}}, "media.mimetype"),
    ("image", {"media": {"data": PDF}}, "media.data"),
    ("image", {"media": {"url": "ftp://example.com/a.png"}}, "media.url"),
    ("video", {"media": {"data": PNG, "mimetype": "image/png"}}, "media.mimetype"),
    ("document", {"media": {"data": PDF, "mimetype": "not a type"}}, "media.mimetype"),
    ("location", {}, "location"),
    ("location", {"location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
    ("location", {"location": {"latitude": 0, "longitude": -181}}, "location.longitude"),
    ("contact", {"contact": {"phoneNumber": "628123456789"}}, "contact.fullName"),
    ("contact", {"contact": {"fullName": "A", "phoneNumber": "12"}}, "contact.phoneNumber"),
    ("contact", {"contact": {"vcard": "hello"}}, "contact.vcard"),
    ("poll", {"poll": {"question": "Q?", "options": ["one"]}}, "poll.options"),
    ("poll", {"poll": {"question": "Q?", "options": ["a", "a"]}}, "poll.options"),
    ("poll", {"poll": {"question": "Q?", "options": [str(i) for i in range(13)]}}, "poll.options"),
    ("poll", {"poll": {"question": "", "options": ["a", "b"]}}, "poll.question"),
])
def test_validation_names_the_field(stack, rest, unique, route, body, field):
    pid, _ = connected_profile(rest, unique)
    request = {"profileId": pid, "chatId": "628123456789", **body}
    error = fails(rest.post(f"/messages/{route}", json=request), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field, error


def test_sending_needs_a_connected_profile(rest, unique):
    pid = unique("idle")
    ok(rest.post("/profiles", json={"id": pid, "name": "idle", "engine": "simulator"}))
    fails(rest.post("/messages/text", json={"profileId": pid, "chatId": "628123456789", "text": "hi"}),
          409, "PROFILE_NOT_CONNECTED")
    fails(rest.post("/messages/text", json={"profileId": "nobody", "chatId": "628123456789", "text": "hi"}),
          404, "NOT_FOUND")


def test_idempotency_key_returns_the_first_answer(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    body = {"profileId": pid, "chatId": "628111222333", "text": "only once"}
    first = ok(rest.post("/messages/text", json=body, headers={"Idempotency-Key": "order-42"}))
    again = ok(rest.post("/messages/text", json=body, headers={"Idempotency-Key": "order-42"}))
    assert again["id"] == first["id"]
    by_field = ok(rest.post("/messages/text", json={**body, "idempotencyKey": "order-42"}))
    assert by_field["id"] == first["id"]
    wait_message(rest, first["id"], "READ")
    texts = [e["content"]["text"] for e in stack.simulator("inbox", phone_or_chat_id="+628111222333")]
    assert texts.count("only once") == 1


def test_incoming_messages_are_stored_and_announced(stack, rest, unique):
    pid, phone = connected_profile(rest, unique)
    stack.simulator("send_from", phone="+628555000111", to=phone, type="text", content={"text": "Hi gateway"})
    received = wait_for(lambda: ok(rest.get("/messages", params={"profileId": pid, "direction": "INBOUND"}))
                        ["messages"], "an incoming message")
    assert received[0]["content"]["text"] == "Hi gateway"
    assert received[0]["chatId"] == "628555000111@s.whatsapp.net"
    assert received[0]["status"] == "RECEIVED"
    events = ok(rest.get("/events", params={"profileId": pid, "events": "message.received"}))["events"]
    assert events[-1]["data"]["messageId"] == received[0]["id"]


def test_messages_list_filters(rest, unique):
    pid, _ = connected_profile(rest, unique)
    ids = [ok(rest.post("/messages/text", json={"profileId": pid, "chatId": f"62811100{i}000", "text": str(i)}))["id"]
           for i in range(3)]
    listed = ok(rest.get("/messages", params={"profileId": pid, "direction": "OUTBOUND"}))
    assert [m["id"] for m in listed["messages"]] == ids[::-1]  # newest first
    assert ok(rest.get("/messages", params={"profileId": pid, "chatId": "628111001000@c.us"}))["totalSize"] == 1
    page = ok(rest.get("/messages", params={"profileId": pid, "pageSize": 2}))
    rest_of = ok(rest.get("/messages", params={"profileId": pid, "pageSize": 2, "pageToken": page["nextPageToken"]}))
    assert [m["id"] for m in page["messages"] + rest_of["messages"]] == ids[::-1]
    fails(rest.get("/messages/msg_nope"), 404, "NOT_FOUND")


def test_send_gate_keeps_the_profiles_gap(stack, rest, unique):
    pid, _ = connected_profile(rest, unique, sendLimits={"minGapMs": 400})
    ids = [ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111333444", "text": str(i)}))["id"]
           for i in range(4)]
    sent = [wait_message(rest, message_id, "SENT", "DELIVERED", "READ")["sentTime"] for message_id in ids]
    times = sorted(dt.datetime.fromisoformat(value.replace("Z", "+00:00")) for value in sent)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.39, gaps


def test_daily_cap_answers_rate_limited(rest, unique):
    pid, _ = connected_profile(rest, unique, sendLimits={"dailyCap": 2})
    for i in range(2):
        ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111444555", "text": str(i)}))
    error = fails(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111444555", "text": "3"}),
                  429, "RATE_LIMITED")
    assert "resetAt" in error["details"]


def test_unregistered_recipient_fails_with_whatsapps_reason(rest, unique):
    pid, _ = connected_profile(rest, unique)
    sent = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111990000", "text": "hi"}))
    failed = wait_message(rest, sent["id"], "FAILED")
    assert "not on WhatsApp" in failed["error"]


def test_rate_overlimit_pauses_the_profiles_queue(stack, rest, unique):
    """WhatsApp's rate-overlimit holds every send of the profile for a while (2 s in tests) instead of burning
    through the queue; then they all go out."""
    pid, _ = connected_profile(rest, unique)
    stack.simulator("inject", profile_id=pid, fault="rate_overlimit", n=1)
    ids = [ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111555666", "text": str(i)}))["id"]
           for i in range(3)]
    started = dt.datetime.now(dt.UTC)
    sent = [wait_message(rest, message_id, "SENT", "DELIVERED", "READ") for message_id in ids]
    first = min(dt.datetime.fromisoformat(m["sentTime"].replace("Z", "+00:00")) for m in sent)
    assert (first - started).total_seconds() >= 1.5  # nothing went out during the pause
    assert all(m["status"] != "FAILED" for m in sent)


def test_send_gate_holds_across_two_worker_processes(stack, rest, unique):
    extra = Child("workers-2", lambda: subprocess.Popen([sys.executable, "-m", "worker"], env=stack.env, cwd=ROOT))
    extra.start()
    try:
        pid, _ = connected_profile(rest, unique, sendLimits={"minGapMs": 300})
        ids = [ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111666777", "text": str(i)}))
               ["id"] for i in range(6)]
        sent = [wait_message(rest, message_id, "SENT", "DELIVERED", "READ")["sentTime"] for message_id in ids]
    finally:
        extra.stop()
    times = sorted(dt.datetime.fromisoformat(value.replace("Z", "+00:00")) for value in sent)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.29, gaps

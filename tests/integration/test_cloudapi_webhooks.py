"""Meta's WhatsApp Cloud API webhooks end to end: `/api/cloudapi/{profileId}/webhook` through the real Envoy,
API server and engine host. Meta sends no API key, so every webhook call here is made without one; the
handshake is proven by the profile's verifyToken and each notification by its appSecret HMAC over the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server.core import db, models
from server.core.ids import new_id
from tests.support.api import fails, ok, wait_for
from tests.support.stack import Stack

PHONE_ID = "106540352242922"
USER = "628123456789"
USER_CHAT = f"{USER}@s.whatsapp.net"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
TS = "1750000000"
WHEN = "2025-06-15T15:06:40Z"
APP_SECRET = "6f1e0c8a2b9d4e7f8a1b2c3d4e5f6a7b"
VERIFY_TOKEN = "meatball-sandwich-42"


def notification(value: dict[str, Any], phone_id: str = PHONE_ID) -> dict[str, Any]:
    """Meta's envelope around one `messages` change."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number": "15550967852", "phone_number_id": phone_id},
                                       **value}}]}]}


def delivered(wamid: str = WAMID, phone_id: str = PHONE_ID) -> dict[str, Any]:
    return notification({"statuses": [{
        "id": wamid, "status": "delivered", "timestamp": TS, "recipient_id": USER,
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"}}]}, phone_id)


def text_message(text: str, wamid: str = "wamid.IN", phone_id: str = PHONE_ID) -> dict[str, Any]:
    return notification({"contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": USER}],
                         "messages": [{"from": USER, "id": wamid, "timestamp": TS, "type": "text",
                                       "text": {"body": text}}]}, phone_id)


def body_of(payload: dict[str, Any]) -> bytes:
    """Bytes as Meta might send them: spaced out and with raw UTF-8, so any re-encoding would break the HMAC."""
    return json.dumps(payload, indent=1, ensure_ascii=False).encode()


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def meta(stack: Stack) -> Iterator[httpx.Client]:
    """Meta's side: no API key, no Authorization."""
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def new_profile(rest: httpx.Client, unique: Callable[[str], str]) -> Callable[..., str]:
    def make(engine: str = "cloudapi", **settings: str) -> str:
        body: dict[str, Any] = {"id": unique("cloud"), "name": "Cloud", "engine": engine}
        if engine == "cloudapi":
            body["engineSettings"] = {"token": "EAAG-test-token", "phoneNumberId": PHONE_ID, **settings}
        return ok(rest.post("/profiles", json=body))["id"]

    return make


@pytest.fixture
def profile_id(new_profile: Callable[..., str]) -> str:
    return new_profile(appSecret=APP_SECRET, verifyToken=VERIFY_TOKEN)


def sent_message(stack: Stack, profile_id: str, wamid: str = WAMID) -> str:
    """An outbound message as the outbox leaves it once WhatsApp took it: receipts concern only these. Written
    straight to the stack's database, since sending through a cloudapi profile needs Meta's Graph API."""
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            message = models.Message.create(
                id=new_id("msg"), profile=profile_id, chat_id=USER_CHAT, direction="OUTBOUND", type="TEXT",
                content={"text": "Your order is ready"}, status="SENT", wa_message_id=wamid, sent_at=db.utcnow())
    finally:
        db.database.close()
    return message.id


def post(meta: httpx.Client, profile_id: str, body: bytes, sign: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if sign is not None:
        headers["X-Hub-Signature-256"] = sign
    return meta.post(f"/cloudapi/{profile_id}/webhook", content=body, headers=headers)


def events_of(rest: httpx.Client, profile_id: str) -> list[dict[str, Any]]:
    return ok(rest.get("/events", params={"profileId": profile_id, "events": "message.*", "pageSize": 1000}))["events"]


def recorded(rest: httpx.Client, profile_id: str) -> list[dict[str, Any]]:
    """The profile's message events once there are any: the log settles a moment after a rollback elsewhere
    (server/core/event_horizon.py)."""
    return wait_for(lambda: events_of(rest, profile_id), f"message events of {profile_id}")


def handshake(meta: httpx.Client, profile_id: str, token: str = VERIFY_TOKEN, mode: str = "subscribe"
              ) -> httpx.Response:
    return meta.get(f"/cloudapi/{profile_id}/webhook",
                    params={"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"})


# The subscription handshake


def test_handshake_echoes_the_challenge_as_plain_text(meta, profile_id):
    response = handshake(meta, profile_id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"
    # Not enveloped (the Lua filter wraps JSON only), and without the transcoder's gRPC headers.
    assert not [name for name in response.headers if name.startswith("grpc-")]


def test_handshake_with_a_wrong_token_is_forbidden(meta, profile_id):
    error = fails(handshake(meta, profile_id, token="not-the-token"), 403, "FORBIDDEN")
    assert VERIFY_TOKEN not in json.dumps(error)


def test_handshake_with_another_mode_is_a_validation_error(meta, profile_id):
    assert fails(handshake(meta, profile_id, mode="unsubscribe"), 400, "VALIDATION_ERROR")["details"] == {
        "field": "hub.mode"}


def test_handshake_without_a_configured_verify_token_is_forbidden_and_says_so(meta, new_profile):
    pid = new_profile(appSecret=APP_SECRET)
    assert "verifyToken" in fails(handshake(meta, pid, token=""), 403, "FORBIDDEN")["message"]


# Notifications


def test_a_signed_status_becomes_message_ack(stack, meta, rest, profile_id):
    message_id = sent_message(stack, profile_id)
    body = body_of(delivered())
    response = post(meta, profile_id, body, signature(body))
    assert ok(response) == {}
    [event] = recorded(rest, profile_id)
    assert event["event"] == "message.ack"
    assert event["profileId"] == profile_id
    assert event["data"] == {"messageId": message_id, "waMessageId": WAMID, "chatId": USER_CHAT,
                             "status": "DELIVERED"}


def test_a_signed_message_becomes_message_received(meta, rest, profile_id):
    body = body_of(text_message("Olá! Is my order ready? 👋"))
    ok(post(meta, profile_id, body, signature(body)))
    [event] = recorded(rest, profile_id)
    assert event["event"] == "message.received"
    assert event["data"].pop("messageId")
    assert event["data"] == {"waMessageId": "wamid.IN", "chatId": USER_CHAT, "sender": USER_CHAT, "type": "text",
                             "content": {"text": "Olá! Is my order ready? 👋"}, "timestamp": WHEN}


def test_changes_for_another_phone_number_id_are_ignored(meta, rest, profile_id):
    payload = text_message("for us")
    payload["entry"] += text_message("for another number", "wamid.OTHER", phone_id="999999999999999")["entry"]
    body = body_of(payload)
    ok(post(meta, profile_id, body, signature(body)))
    assert [event["data"]["waMessageId"] for event in recorded(rest, profile_id)] == ["wamid.IN"]


@pytest.mark.parametrize("sign", [
    None,
    "",
    "sha256=" + "0" * 64,
    "sha1=0123456789abcdef0123456789abcdef01234567",
    "signed-with-another-secret",
    "signature-of-other-bytes",
])
def test_a_bad_signature_is_unauthorized_and_records_nothing(meta, rest, profile_id, sign):
    body = body_of(delivered())
    if sign == "signed-with-another-secret":
        sign = signature(body, "another-secret")
    elif sign == "signature-of-other-bytes":
        sign = signature(json.dumps(delivered()).encode())  # the same JSON, other bytes
    fails(post(meta, profile_id, body, sign), 401, "UNAUTHORIZED")
    assert events_of(rest, profile_id) == []


def test_a_profile_without_an_app_secret_is_unauthorized_and_says_so(meta, rest, new_profile):
    pid = new_profile(verifyToken=VERIFY_TOKEN)
    body = body_of(delivered())
    assert "appSecret" in fails(post(meta, pid, body, signature(body)), 401, "UNAUTHORIZED")["message"]
    assert events_of(rest, pid) == []


def test_unknown_and_non_cloudapi_profiles_are_not_found_alike(meta, new_profile):
    body = body_of(delivered())
    unknown = fails(post(meta, "no-such-profile", body, signature(body)), 404, "NOT_FOUND")
    assert unknown["message"] == "cloudapi profile 'no-such-profile' not found"
    simulator = new_profile(engine="simulator")
    other = fails(post(meta, simulator, body, signature(body)), 404, "NOT_FOUND")
    assert other["message"] == unknown["message"].replace("no-such-profile", simulator)
    fails(handshake(meta, "no-such-profile"), 404, "NOT_FOUND")
    fails(handshake(meta, simulator), 404, "NOT_FOUND")


def test_the_rest_of_the_api_still_needs_a_key(meta, profile_id):
    fails(meta.get(f"/profiles/{profile_id}"), 401, "UNAUTHORIZED")
    fails(meta.get("/events", params={"profileId": profile_id}), 401, "UNAUTHORIZED")


def test_without_an_engine_host_meta_is_told_to_retry(stack, meta, rest, profile_id):
    body = body_of(text_message("anyone there?"))
    stack.engines.stop()  # a clean stop removes the host's heartbeat row: no host is alive
    try:
        fails(post(meta, profile_id, body, signature(body)), 503, "UNAVAILABLE")
    finally:
        stack.restart_engines()
    assert events_of(rest, profile_id) == []
    # Meta's retries, until the restarted host has written its first heartbeat.
    deadline = time.monotonic() + 20
    while (response := post(meta, profile_id, body, signature(body))).status_code == 503:
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.1)
    ok(response)
    assert [event["event"] for event in events_of(rest, profile_id)] == ["message.received"]

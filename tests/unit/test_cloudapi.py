"""The cloudapi engine over pywa, with an httpx MockTransport playing the Graph API: the exact requests it sends,
how Meta's errors map to ours, and how Meta's webhooks become engine events."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

import httpx
import pytest

from server.api.services.cloudapi_webhooks import check_signature, verify_subscription
from server.core import engine_specs
from server.core.errors import ApiError
from server.engine_host.engines.base import (
    CONNECTED,
    DISCONNECTED,
    FAILED,
    GROUP,
    LOGGED_OUT,
    MESSAGE,
    REACTION,
    RECEIPT,
    EngineError,
    EngineEvent,
    GroupInfo,
    Media,
    NotSupported,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    Quote,
)
from server.engine_host.engines.cloudapi.engine import CloudApiEngine
from server.engine_host.engines.cloudapi.webhooks import events_from_webhook

PHONE_ID = "106540352242922"
TOKEN = "EAAG-test-token"
SETTINGS = {"token": TOKEN, "phoneNumberId": PHONE_ID}
USER = "628123456789"
USER_CHAT = f"{USER}@s.whatsapp.net"
GROUP_ID = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"
GROUP_CHAT = f"{GROUP_ID}@g.us"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
TS = "1750000000"
WHEN = dt.datetime(2025, 6, 15, 15, 6, 40, tzinfo=dt.UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def sent(to: str = USER) -> httpx.Response:
    """Meta's answer to a send."""
    return httpx.Response(200, json={"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                     "messages": [{"id": WAMID}]})


def meta_error(status: int, code: int, message: str, *, type_: str = "OAuthException", subcode: int | None = None,
               details: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return httpx.Response(status, json={"error": error})


class Graph:
    """The Graph API for one test: canned answers by (method, path), and every request it received."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[httpx.Response | Handler]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: httpx.Response | Handler) -> None:
        self.routes.setdefault((method, path), []).extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return meta_error(400, 100, f"no route for {request.method} {request.url.path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


class Store:
    def __init__(self) -> None:
        self.cleared = False

    def load(self) -> dict[str, Any] | None:
        return None

    def save(self, data: dict[str, Any]) -> None:
        raise AssertionError("the cloudapi engine keeps nothing in the session store")

    def clear(self) -> None:
        self.cleared = True


def multipart(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """A multipart/form-data body as {field: (filename, content type, bytes)}."""
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    message = BytesParser(policy=email_policy).parsebytes(raw)
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part["content-type"], part.get_payload(decode=True))
            for part in message.iter_parts()}


@pytest.fixture
def graph() -> Graph:
    graph = Graph()
    graph.on("GET", f"/v26.0/{PHONE_ID}", httpx.Response(200, json={
        "display_phone_number": "+1 555-096-7852", "verified_name": "Acme Store", "id": PHONE_ID}))
    return graph


@pytest.fixture
def events() -> list[EngineEvent]:
    return []


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def make_engine(graph: Graph, events: list[EngineEvent], store: Store) -> Iterator[Callable[..., CloudApiEngine]]:
    engines: list[CloudApiEngine] = []

    def make(settings: dict[str, Any] | None = None) -> CloudApiEngine:
        engine = CloudApiEngine("prof-1", settings or SETTINGS, store, events.append,
                                transport=httpx.MockTransport(graph))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., CloudApiEngine], graph: Graph, events: list[EngineEvent]) -> CloudApiEngine:
    """A connected engine, with the verify call and CONNECTED event already cleared."""
    engine = make_engine()
    engine.connect()
    graph.requests.clear()
    events.clear()
    return engine


# Settings


def test_validate_settings_keeps_valid_settings_and_normalizes_them():
    assert CloudApiEngine.spec.validate_settings(dict(SETTINGS)) == SETTINGS
    assert CloudApiEngine.spec.validate_settings({
        "token": f" {TOKEN}\n", "phoneNumberId": PHONE_ID, "apiVersion": "23.0", "baseUrl": "https://proxy.example/",
        "appSecret": "s3cret", "verifyToken": "hub-token", "businessAccountId": "102290129340398",
    }) == {"token": TOKEN, "phoneNumberId": PHONE_ID, "apiVersion": "v23.0", "baseUrl": "https://proxy.example",
           "appSecret": "s3cret", "verifyToken": "hub-token", "businessAccountId": "102290129340398"}


@pytest.mark.parametrize(("settings", "field"), [
    ({"phoneNumberId": PHONE_ID}, "engineSettings.token"),
    ({"token": TOKEN}, "engineSettings.phoneNumberId"),
    ({"token": "", "phoneNumberId": PHONE_ID}, "engineSettings.token"),
    ({"token": 42, "phoneNumberId": PHONE_ID}, "engineSettings.token"),
    ({"token": TOKEN, "phoneNumberId": "+1 555 096 7852"}, "engineSettings.phoneNumberId"),
    ({**SETTINGS, "phoneId": PHONE_ID}, "engineSettings.phoneId"),
    ({**SETTINGS, "apiVersion": "latest"}, "engineSettings.apiVersion"),
    ({**SETTINGS, "apiVersion": "v16.0"}, "engineSettings.apiVersion"),
    ({**SETTINGS, "baseUrl": "graph.example"}, "engineSettings.baseUrl"),
    ({**SETTINGS, "businessAccountId": "waba"}, "engineSettings.businessAccountId"),
])
def test_validate_settings_names_the_bad_field(settings: dict[str, Any], field: str):
    with pytest.raises(ApiError) as caught:
        CloudApiEngine.spec.validate_settings(settings)
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.metadata == {"field": field}


def test_the_default_graph_api_version_is_pywas():
    from pywa import utils

    assert f"v{utils.Version.GRAPH_API.value}" == engine_specs.CLOUDAPI_DEFAULT_API_VERSION


def test_credentials_are_declared_secret():
    assert CloudApiEngine.spec.secret_settings == {"token", "appSecret", "verifyToken"}


def test_supports_exactly_what_the_cloud_api_can_do():
    assert CloudApiEngine.spec.supports == {
        "send_text", "send_image", "send_video", "send_document", "send_location", "send_contact", "send_audio",
        "send_sticker", "send_template", "list_templates",
        "list_groups", "get_group", "create_group", "update_group", "remove_participants", "invite_link",
        "revoke_invite_link", "react", "mark_read", "presence", "block", "unblock", "download_media",
    }


# Session


def test_connect_verifies_the_token_with_one_graph_call(make_engine, graph: Graph, events: list[EngineEvent]):
    assert make_engine().connect() == ""
    [request] = graph.requests
    assert request.method == "GET"
    assert request.url.path == f"/v26.0/{PHONE_ID}"
    assert dict(request.url.params) == {"fields": "display_phone_number,verified_name"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert events == [EngineEvent(CONNECTED, {"phone_number": "+15550967852", "push_name": "Acme Store"})]


def test_api_version_and_base_url_settings_shape_the_url(make_engine, graph: Graph):
    graph.on("GET", f"/v23.0/{PHONE_ID}", httpx.Response(200, json={"display_phone_number": "15550967852",
                                                                      "verified_name": "Acme Store"}))
    make_engine({**SETTINGS, "apiVersion": "v23.0", "baseUrl": "https://graph-proxy.internal"}).connect()
    assert str(graph.requests[0].url).startswith(f"https://graph-proxy.internal/v23.0/{PHONE_ID}?")


def test_a_refused_token_fails_the_profile(make_engine, graph: Graph, events: list[EngineEvent]):
    graph.routes.clear()
    graph.on("GET", f"/v26.0/{PHONE_ID}", meta_error(
        401, 190, "Error validating access token: Session has expired on Friday, 14-Nov-25 10:00:00 PST.",
        subcode=463))
    with pytest.raises(EngineError) as caught:
        make_engine().connect()
    reason = ("authorization failed (190): Error validating access token: Session has expired on Friday, "
              "14-Nov-25 10:00:00 PST.")
    assert caught.value.code == "ENGINE_ERROR"
    assert caught.value.reason == reason
    assert caught.value.metadata == {"engine": "cloudapi", "wa_error_code": "190", "fbtrace_id": "AbCdEf123"}
    assert events == [EngineEvent(FAILED, {"reason": reason})]


def test_a_wrong_phone_number_id_fails_the_profile(make_engine, graph: Graph, events: list[EngineEvent]):
    graph.routes.clear()
    message = (f"Unsupported get request. Object with ID '{PHONE_ID}' does not exist, cannot be loaded due to "
               "missing permissions, or does not support this operation.")
    graph.on("GET", f"/v26.0/{PHONE_ID}", meta_error(400, 100, message, type_="GraphMethodException", subcode=33))
    with pytest.raises(EngineError):
        make_engine().connect()
    assert events == [EngineEvent(FAILED, {"reason": f"{message} (100)"})]


def test_an_unreachable_graph_api_asks_for_a_reconnect(make_engine, graph: Graph, events: list[EngineEvent]):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    graph.routes.clear()
    graph.on("GET", f"/v26.0/{PHONE_ID}", refuse)
    with pytest.raises(EngineError) as caught:
        make_engine().connect()
    assert caught.value.reason == "cannot reach the Graph API: Name or service not known"
    assert events == [EngineEvent(DISCONNECTED, {"reason": caught.value.reason, "reconnect": True})]


def test_a_graph_outage_asks_for_a_reconnect(make_engine, graph: Graph, events: list[EngineEvent]):
    graph.routes.clear()
    graph.on("GET", f"/v26.0/{PHONE_ID}", meta_error(503, 2, "Service temporarily unavailable",
                                                      type_="OAuthException"))
    with pytest.raises(EngineError):
        make_engine().connect()
    assert events == [EngineEvent(DISCONNECTED, {"reason": "Service temporarily unavailable (2)", "reconnect": True})]


def test_pairing_codes_are_not_supported(make_engine, graph: Graph):
    with pytest.raises(NotSupported) as caught:
        make_engine().connect("+628123456789")
    assert caught.value.metadata == {"engine": "cloudapi", "operation": "pairing_code"}
    assert graph.requests == []


def test_disconnect_stops_sending(engine: CloudApiEngine, graph: Graph, events: list[EngineEvent]):
    engine.disconnect()
    assert events == [EngineEvent(DISCONNECTED, {"reason": "disconnected on request", "reconnect": False})]
    with pytest.raises(EngineError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "hi"}))
    assert caught.value.code == "PROFILE_NOT_CONNECTED"
    assert graph.requests == []


def test_logout_forgets_the_session(engine: CloudApiEngine, events: list[EngineEvent], store: Store):
    engine.logout()
    assert store.cleared
    assert [event.type for event in events] == [LOGGED_OUT]
    assert "revoked in Meta's Business Manager" in events[0].data["reason"]


# Sending


def test_text_with_a_reply(engine: CloudApiEngine, graph: Graph):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", sent())
    quoted = Quote(wa_message_id="wamid.IN", chat_id=USER_CHAT, sender=USER_CHAT, content={"text": "Where is it?"})
    wamid = engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "Your order has shipped"}, reply_to=quoted))
    assert wamid == WAMID
    [request] = graph.requests
    assert request.headers["content-type"] == "application/json"
    assert graph.json() == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "type": "text", "to": USER,
        "context": {"message_id": "wamid.IN"},
        "text": {"body": "Your order has shipped", "preview_url": False},
    }


@pytest.mark.parametrize(("kind", "media", "content", "upload_name", "body"), [
    ("image", Media(b"\xff\xd8jpeg", "image/jpeg", "receipt.jpg"), {"caption": "Your receipt"}, "receipt.jpg",
     {"id": "1037543291543636", "caption": "Your receipt"}),
    ("video", Media(b"\x00\x00mp4", "video/mp4"), {}, "video.mp4", {"id": "1037543291543636"}),
    ("document", Media(b"%PDF-1.7", "application/pdf", "invoice-42.pdf"), {"caption": "Invoice"},
     "invoice-42.pdf", {"id": "1037543291543636", "caption": "Invoice", "filename": "invoice-42.pdf"}),
])
def test_media_is_uploaded_then_sent_by_id(engine: CloudApiEngine, graph: Graph, kind: str, media: Media,
                                           content: dict[str, Any], upload_name: str, body: dict[str, Any]):
    graph.on("POST", f"/v26.0/{PHONE_ID}/media", httpx.Response(200, json={"id": "1037543291543636"}))
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", sent())
    assert engine.send(OutgoingMessage(USER_CHAT, kind, content, media=media)) == WAMID
    upload, send = graph.requests
    assert multipart(upload) == {
        "file": (upload_name, media.mimetype, media.data),
        "messaging_product": (None, None, b"whatsapp"),
        "type": (None, None, media.mimetype.encode()),
    }
    assert json.loads(send.content) == {"messaging_product": "whatsapp", "recipient_type": "individual",
                                        "type": kind, "to": USER, kind: body}


def test_media_without_bytes_is_a_validation_error(engine: CloudApiEngine, graph: Graph):
    with pytest.raises(ApiError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "image", {"caption": "?"}))
    assert caught.value.metadata == {"field": "content.media"}
    assert graph.requests == []


@pytest.mark.parametrize(("location", "body"), [
    ({"latitude": -6.2, "longitude": 106.816666, "name": "Monas", "address": "Gambir, Jakarta"},
     {"latitude": -6.2, "longitude": 106.816666, "name": "Monas", "address": "Gambir, Jakarta"}),
    ({"latitude": 0.0, "longitude": 0.0, "name": "", "address": ""}, {"latitude": 0.0, "longitude": 0.0}),
])
def test_location(engine: CloudApiEngine, graph: Graph, location: dict[str, Any], body: dict[str, Any]):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", sent())
    engine.send(OutgoingMessage(USER_CHAT, "location", {"location": location}))
    assert graph.json() == {"messaging_product": "whatsapp", "recipient_type": "individual", "type": "location",
                            "to": USER, "location": body}


@pytest.mark.parametrize(("contact", "card"), [
    ({"full_name": "Budi Santoso", "phone_number": "+628111222333", "organization": "Toko Budi"},
     {"name": {"formatted_name": "Budi Santoso", "first_name": "Budi Santoso"},
      "phones": [{"phone": "+628111222333", "wa_id": "628111222333"}], "org": {"company": "Toko Budi"}}),
    ({"full_name": "Budi Santoso"}, {"name": {"formatted_name": "Budi Santoso", "first_name": "Budi Santoso"}}),
    # A raw vCard wins over the other fields: FN (folded, escaped), ORG's first component, every TEL.
    ({"full_name": "ignored", "vcard": "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Santoso;Budi;;;\r\nFN:Budi Santoso\\, \r\n"
                                       " S.E.\r\nORG:Toko Budi;Sales\r\nitem1.TEL;type=CELL;waid=628111222333:+62 811"
                                       "-1222-333\r\nTEL;type=WORK:+62 21 555 0101\r\nEND:VCARD"},
     {"name": {"formatted_name": "Budi Santoso, S.E.", "first_name": "Budi Santoso, S.E."},
      "phones": [{"phone": "+62 811-1222-333", "wa_id": "628111222333"}, {"phone": "+62 21 555 0101"}],
      "org": {"company": "Toko Budi"}}),
])
def test_contact(engine: CloudApiEngine, graph: Graph, contact: dict[str, Any], card: dict[str, Any]):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", sent())
    engine.send(OutgoingMessage(USER_CHAT, "contact", {"contact": contact}))
    assert graph.json() == {"messaging_product": "whatsapp", "recipient_type": "individual", "type": "contacts",
                            "to": USER, "contacts": [card]}


@pytest.mark.parametrize(("contact", "field"), [
    ({"phone_number": "+628111222333"}, "content.contact.fullName"),
    ({"vcard": "BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+628111222333\r\nEND:VCARD"}, "content.contact.vcard"),
])
def test_contact_without_a_name_is_a_validation_error(engine: CloudApiEngine, contact: dict[str, Any], field: str):
    with pytest.raises(ApiError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "contact", {"contact": contact}))
    assert caught.value.metadata == {"field": field}


def test_text_to_a_group(engine: CloudApiEngine, graph: Graph):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", sent(GROUP_ID))
    engine.send(OutgoingMessage(GROUP_CHAT, "text", {"text": "Welcome, everyone"}))
    assert graph.json() == {"messaging_product": "whatsapp", "recipient_type": "group", "type": "text",
                            "to": GROUP_ID, "text": {"body": "Welcome, everyone", "preview_url": False}}


@pytest.mark.parametrize(("message", "operation"), [
    (OutgoingMessage(USER_CHAT, "poll", {"poll": {"question": "Lunch?", "options": ["Rice", "Noodles"]}}),
     "send_poll"),
    (OutgoingMessage(GROUP_CHAT, "text", {"text": "hi @628111222333"}, mentions=("628111222333@s.whatsapp.net",)),
     "mentions"),
    (OutgoingMessage(GROUP_CHAT, "location", {"location": {"latitude": 1.0, "longitude": 2.0}}),
     "send_location to a group"),
    (OutgoingMessage(GROUP_CHAT, "contact", {"contact": {"full_name": "Budi"}}), "send_contact to a group"),
])
def test_what_the_cloud_api_cannot_send_is_not_supported(engine: CloudApiEngine, graph: Graph,
                                                          message: OutgoingMessage, operation: str):
    with pytest.raises(NotSupported) as caught:
        engine.send(message)
    assert caught.value.code == "NOT_SUPPORTED"
    assert caught.value.metadata == {"engine": "cloudapi", "operation": operation}
    assert graph.requests == []


# Errors


@pytest.mark.parametrize(("response", "code", "reason"), [
    (meta_error(400, 130429, "Rate limit hit", details="Cloud API message throughput has been reached."),
     "RATE_LIMITED", "rate limited by WhatsApp (130429): Cloud API message throughput has been reached."),
    (meta_error(400, 131048, "Spam rate limit hit", details="Message failed to send because there are "
                "restrictions on how many messages can be sent from this phone number."),
     "RATE_LIMITED", "rate limited by WhatsApp (131048): Message failed to send because there are restrictions "
                     "on how many messages can be sent from this phone number."),
    (meta_error(400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
     "RATE_LIMITED", "rate limited by WhatsApp (131056): (Business Account, Consumer Account) pair rate limit hit"),
    (meta_error(400, 80007, "Rate limit issues"),
     "RATE_LIMITED", "rate limited by WhatsApp (80007): Rate limit issues"),
    (meta_error(400, 4, "Application request limit reached"),
     "RATE_LIMITED", "rate limited by WhatsApp (4): Application request limit reached"),
    (meta_error(400, 131047, "Re-engagement message", details="Message failed to send because more than 24 hours "
                "have passed since the customer last replied to this number."),
     "ENGINE_ERROR", "more than 24 hours since the customer last replied: use a template"),
    (meta_error(400, 131026, "Message undeliverable"),
     "ENGINE_ERROR", "undeliverable (131026): the recipient is not on WhatsApp or cannot receive this message"),
    (meta_error(403, 10, "(#10) Application does not have permission for this action"),
     "ENGINE_ERROR", "authorization failed (10): (#10) Application does not have permission for this action"),
    (meta_error(400, 100, "(#100) Invalid parameter", details="Parameter 'text.body' is too long."),
     "ENGINE_ERROR", "(#100) Invalid parameter (100): Parameter 'text.body' is too long."),
])
def test_send_errors_map_to_our_codes(engine: CloudApiEngine, graph: Graph, events: list[EngineEvent],
                                      response: httpx.Response, code: str, reason: str):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", response)
    with pytest.raises(EngineError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "hi"}))
    assert (caught.value.code, caught.value.reason) == (code, reason)
    assert caught.value.message == f"cloudapi: {reason}"
    assert caught.value.metadata["wa_error_code"] == str(response.json()["error"]["code"])
    assert events == []


def test_an_expired_token_while_sending_fails_the_profile(engine: CloudApiEngine, graph: Graph,
                                                          events: list[EngineEvent]):
    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", meta_error(
        401, 190, "Error validating access token: The user has not authorized application 1234.", subcode=458))
    with pytest.raises(EngineError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "hi"}))
    assert events == [EngineEvent(FAILED, {"reason": caught.value.reason})]
    with pytest.raises(EngineError) as again:
        engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "hi"}))
    assert again.value.code == "PROFILE_NOT_CONNECTED"


def test_an_upload_error_stops_the_send(engine: CloudApiEngine, graph: Graph):
    graph.on("POST", f"/v26.0/{PHONE_ID}/media", meta_error(400, 131053, "Media upload error",
                                                             details="Unsupported file type application/x-msdownload"))
    with pytest.raises(EngineError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "document", {}, media=Media(b"MZ", "application/x-msdownload")))
    assert caught.value.reason == "Media upload error (131053): Unsupported file type application/x-msdownload"
    assert [request.url.path for request in graph.requests] == [f"/v26.0/{PHONE_ID}/media"]


def test_a_network_failure_while_sending(engine: CloudApiEngine, graph: Graph, events: list[EngineEvent]):
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    graph.on("POST", f"/v26.0/{PHONE_ID}/messages", time_out)
    with pytest.raises(EngineError) as caught:
        engine.send(OutgoingMessage(USER_CHAT, "text", {"text": "hi"}))
    assert (caught.value.code, caught.value.reason) == ("ENGINE_ERROR", "cannot reach the Graph API: timed out")
    assert events == []


# Groups


def test_list_groups_follows_the_cursor(engine: CloudApiEngine, graph: Graph):
    graph.on("GET", f"/v26.0/{PHONE_ID}/groups",
             httpx.Response(200, json={"data": {"groups": [{"id": GROUP_ID, "subject": "Linen club",
                                                            "created_at": TS}]},
                                       "paging": {"cursors": {"before": "QVFI1", "after": "QVFI2"},
                                                  "next": "https://graph.facebook.com/v26.0/next"}}),
             httpx.Response(200, json={"data": {"groups": [{"id": "Y2FwaV9ncm91cDoy", "subject": "VIP"}]},
                                       "paging": {"cursors": {"before": "QVFI3", "after": "QVFI4"}}}))
    assert engine.list_groups() == [
        GroupInfo(group_id=GROUP_CHAT, name="Linen club", owner="15550967852@s.whatsapp.net", created_at=WHEN),
        GroupInfo(group_id="Y2FwaV9ncm91cDoy@g.us", name="VIP", owner="15550967852@s.whatsapp.net"),
    ]
    assert [dict(request.url.params) for request in graph.requests] == [{}, {"after": "QVFI2"}]


def test_get_group(engine: CloudApiEngine, graph: Graph):
    graph.on("GET", f"/v26.0/{GROUP_ID}", httpx.Response(200, json={
        "id": GROUP_ID, "messaging_product": "whatsapp", "subject": "Linen club", "description": "Members only",
        "creation_timestamp": int(TS), "participants": [{"wa_id": USER}, {"user_id": "ID.1234567890"}]}))
    owner = "15550967852@s.whatsapp.net"
    assert engine.get_group(GROUP_CHAT) == GroupInfo(
        group_id=GROUP_CHAT, name="Linen club", description="Members only", owner=owner, created_at=WHEN,
        participants=(Participant(owner, "SUPERADMIN"), Participant(USER_CHAT)))
    assert dict(graph.requests[0].url.params) == {"fields": "subject,description,creation_timestamp,participants"}


def test_unknown_group_is_not_found(engine: CloudApiEngine, graph: Graph):
    graph.on("GET", f"/v26.0/{GROUP_ID}", meta_error(400, 131041, "Group unknown",
                                                      details="The group was not found."))
    with pytest.raises(EngineError) as caught:
        engine.get_group(GROUP_CHAT)
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.reason == "group not found (131041): The group was not found."


def test_update_group_subject_and_description(engine: CloudApiEngine, graph: Graph):
    graph.on("POST", f"/v26.0/{GROUP_ID}", httpx.Response(200, json={"success": True}))
    graph.on("GET", f"/v26.0/{GROUP_ID}", httpx.Response(200, json={
        "id": GROUP_ID, "subject": "Linen club", "creation_timestamp": int(TS), "participants": []}))
    info = engine.update_group(GROUP_CHAT, name="Linen club II", description="New season")
    assert (info.name, info.description) == ("Linen club II", "New season")
    update = graph.requests[0]
    assert (update.method, update.url.path) == ("POST", f"/v26.0/{GROUP_ID}")
    assert multipart(update) == {"messaging_product": (None, None, b"whatsapp"),
                                 "subject": (None, None, b"Linen club II"),
                                 "description": (None, None, b"New season")}


@pytest.mark.parametrize(("changes", "operation"), [
    ({"announce": True}, "update_group (announce)"),
    ({"locked": False}, "update_group (locked)"),
    ({"description": ""}, "update_group (clearing the description)"),
])
def test_group_settings_the_cloud_api_lacks(engine: CloudApiEngine, graph: Graph, changes: dict[str, Any],
                                            operation: str):
    with pytest.raises(NotSupported) as caught:
        engine.update_group(GROUP_CHAT, **changes)
    assert caught.value.metadata["operation"] == operation
    assert graph.requests == []


def test_remove_participants(engine: CloudApiEngine, graph: Graph):
    graph.on("DELETE", f"/v26.0/{GROUP_ID}/participants", httpx.Response(200, json={"request_id": "req-7"}))
    other = "628999888777@s.whatsapp.net"
    assert engine.update_participants(GROUP_CHAT, "remove", [USER_CHAT, other]) == [
        ParticipantResult(USER_CHAT, "REMOVED"), ParticipantResult(other, "REMOVED")]
    assert graph.json() == {"messaging_product": "whatsapp",
                            "participants": [{"user": USER}, {"user": "628999888777"}]}


def test_create_group_is_metas_asynchronous_request(engine: CloudApiEngine, graph: Graph):
    """pywa's create_group request; the group id comes later, with the same request id, in Meta's webhook."""
    graph.on("POST", f"/v26.0/{PHONE_ID}/groups", httpx.Response(200, json={"request_id": "req-1"}))
    info, results = engine.create_group("Linen club", [])
    assert graph.json() == {"messaging_product": "whatsapp", "subject": "Linen club"}
    owner = "15550967852@s.whatsapp.net"
    assert (info, results) == (GroupInfo(group_id="", name="Linen club", owner=owner,
                                         participants=(Participant(owner, "SUPERADMIN"),), request_id="req-1"), [])
    [(_, created)] = events_from_webhook(notification("group_lifecycle_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_create", "request_id": "req-1", "subject": "Linen club",
        "invite_link": "https://chat.whatsapp.com/BwEEU01Yuod1zPiapnbXqO"}]}))
    assert (created.data["request_id"], created.data["group_id"]) == ("req-1", GROUP_CHAT)


@pytest.mark.parametrize(("revoke", "method"), [(False, "GET"), (True, "POST")])
def test_invite_link(engine: CloudApiEngine, graph: Graph, revoke: bool, method: str):
    graph.on(method, f"/v26.0/{GROUP_ID}/invite_link",
             httpx.Response(200, json={"messaging_product": "whatsapp",
                                       "invite_link": "https://chat.whatsapp.com/BwEEU01Yuod1zPiapnbXqO"}))
    assert engine.invite_link(GROUP_CHAT, revoke=revoke) == "BwEEU01Yuod1zPiapnbXqO"
    [request] = graph.requests
    assert request.method == method
    if revoke:
        assert graph.json() == {"messaging_product": "whatsapp"}


@pytest.mark.parametrize(("call", "operation"), [
    (lambda engine: engine.update_participants(GROUP_CHAT, "add", [USER_CHAT]), "add_participants"),
    (lambda engine: engine.update_participants(GROUP_CHAT, "promote", [USER_CHAT]), "promote_participants"),
    (lambda engine: engine.update_participants(GROUP_CHAT, "demote", [USER_CHAT]), "demote_participants"),
    (lambda engine: engine.create_group("Linen club", [USER_CHAT]), "add_participants"),
    (lambda engine: engine.leave_group(GROUP_CHAT), "leave_group"),
    (lambda engine: engine.lookup(["+628123456789"]), "lookup"),
])
def test_group_operations_the_cloud_api_lacks(engine: CloudApiEngine, graph: Graph,
                                              call: Callable[[CloudApiEngine], Any], operation: str):
    with pytest.raises(NotSupported) as caught:
        call(engine)
    assert caught.value.metadata == {"engine": "cloudapi", "operation": operation}
    assert graph.requests == []


# Webhooks


def notification(field: str, value: dict[str, Any]) -> dict[str, Any]:
    """Meta's envelope around one change."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": field, "value": {"messaging_product": "whatsapp",
                                  "metadata": {"display_phone_number": "15550967852", "phone_number_id": PHONE_ID},
                                  **value}}]}]}


@pytest.mark.parametrize(("status", "ours"), [("sent", "server"), ("delivered", "delivered"), ("read", "read")])
def test_statuses_become_receipts(status: str, ours: str):
    payload = notification("messages", {"statuses": [{
        "id": WAMID, "status": status, "timestamp": TS, "recipient_id": USER,
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"}}]})
    assert events_from_webhook(payload) == [(PHONE_ID, EngineEvent(RECEIPT, {
        "wa_message_id": WAMID, "chat_id": USER_CHAT, "status": ours, "timestamp": WHEN}))]


def test_a_failed_status_carries_the_reason():
    payload = notification("messages", {"statuses": [{
        "id": WAMID, "status": "failed", "timestamp": TS, "recipient_id": USER,
        "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours have passed since "
                                              "the customer last replied to this number."},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]}]})
    assert events_from_webhook(payload) == [(PHONE_ID, EngineEvent(RECEIPT, {
        "wa_message_id": WAMID, "chat_id": USER_CHAT, "status": "failed", "timestamp": WHEN,
        "error": "more than 24 hours since the customer last replied: use a template", "error_code": "131047"}))]


def test_group_statuses_name_the_member():
    payload = notification("messages", {"statuses": [
        {"id": WAMID, "status": "read", "timestamp": TS, "recipient_id": GROUP_ID, "recipient_type": "group",
         "recipient_participant_id": USER},
        {"id": WAMID, "status": "sent", "timestamp": TS, "recipient_id": GROUP_ID, "recipient_type": "group"},
    ]})
    assert events_from_webhook(payload) == [
        (PHONE_ID, EngineEvent(RECEIPT, {"wa_message_id": WAMID, "chat_id": GROUP_CHAT, "status": "read",
                                         "timestamp": WHEN, "participant": USER_CHAT})),
        (PHONE_ID, EngineEvent(RECEIPT, {"wa_message_id": WAMID, "chat_id": GROUP_CHAT, "status": "server",
                                         "timestamp": WHEN})),
    ]


def incoming(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return notification("messages", {"contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": USER}],
                                     "messages": [{"from": USER, "id": "wamid.IN", "timestamp": TS, **message}],
                                     **extra})


@pytest.mark.parametrize(("message", "kind", "content"), [
    ({"type": "text", "text": {"body": "Is my order ready?"}}, "text", {"text": "Is my order ready?"}),
    ({"type": "image", "image": {"caption": "the damage", "mime_type": "image/jpeg", "sha256": "HASH",
                                 "id": "1003383421387256"}},
     "image", {"media": {"mimetype": "image/jpeg"}, "caption": "the damage"}),
    ({"type": "video", "video": {"mime_type": "video/mp4", "sha256": "HASH", "id": "1245367290000000"}},
     "video", {"media": {"mimetype": "video/mp4"}}),
    ({"type": "document", "document": {"filename": "po-981.pdf", "mime_type": "application/pdf", "sha256": "HASH",
                                       "id": "1314345673000000", "caption": "PO"}},
     "document", {"media": {"mimetype": "application/pdf", "filename": "po-981.pdf"},
                  "caption": "PO"}),
    ({"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "HASH", "id": "4218889",
                                 "voice": True}},
     "audio", {"media": {"mimetype": "audio/ogg; codecs=opus"}, "voice_note": True}),
    ({"type": "sticker", "sticker": {"mime_type": "image/webp", "id": "771", "animated": False,
                                     "sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
     "sticker", {"media": {"mimetype": "image/webp",
                           "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}),
    ({"type": "location", "location": {"latitude": -6.175392, "longitude": 106.827153, "name": "Monas",
                                       "address": "Gambir, Jakarta", "url": "https://maps.example"}},
     "location", {"location": {"latitude": -6.175392, "longitude": 106.827153, "name": "Monas",
                               "address": "Gambir, Jakarta"}}),
    ({"type": "contacts", "contacts": [{"name": {"formatted_name": "Budi Santoso", "first_name": "Budi"},
                                        "phones": [{"phone": "+62 811-1222-333", "wa_id": "628111222333",
                                                    "type": "CELL"}],
                                        "org": {"company": "Toko Budi"}}]},
     "contact", {"contact": {"full_name": "Budi Santoso", "phone_number": "+628111222333",
                             "organization": "Toko Budi"}}),
    ({"type": "contacts", "contacts": [{"name": {"formatted_name": "Budi, S.E."},
                                        "phones": [{"phone": "+62 811-1222-333", "wa_id": "628111222333"}]},
                                       {"name": {"formatted_name": "Sari"}, "phones": [{"phone": "+62 21 555 0101"}],
                                        "org": {"company": "Toko; Sari"}}]},
     "contact", {"contact": {"full_name": "Budi, S.E.", "phone_number": "+628111222333", "organization": "",
                             "vcard": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Budi\\, S.E.\r\n"
                                      "TEL;type=CELL;waid=628111222333:+62 811-1222-333\r\nEND:VCARD\r\n"
                                      "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sari\r\nORG:Toko\\; Sari\r\n"
                                      "TEL;type=CELL:+62 21 555 0101\r\nEND:VCARD"},
                 "contacts": [{"full_name": "Budi, S.E.", "phone_number": "+628111222333", "organization": ""},
                              {"full_name": "Sari", "phone_number": "+62 21 555 0101",
                               "organization": "Toko; Sari"}]}),
    ({"type": "interactive", "interactive": {"type": "button_reply",
                                             "button_reply": {"id": "confirm", "title": "Confirm order"}}},
     "text", {"text": "Confirm order"}),
    ({"type": "interactive", "interactive": {"type": "list_reply",
                                             "list_reply": {"id": "s-2", "title": "Size M", "description": "40"}}},
     "text", {"text": "Size M"}),
    ({"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}}, "text", {"text": "Stop promotions"}),
])
def test_incoming_messages(message: dict[str, Any], kind: str, content: dict[str, Any]):
    expected = {"wa_message_id": "wamid.IN", "chat_id": USER_CHAT, "sender": USER_CHAT, "type": kind,
                "content": content, "timestamp": WHEN}
    if kind in ("image", "video", "document", "audio", "sticker"):  # downloaded later by Meta's media id
        expected["media_ref"] = {"id": message[message["type"]]["id"]}
    assert events_from_webhook(incoming(message)) == [(PHONE_ID, EngineEvent(MESSAGE, expected))]


def test_incoming_reactions():
    for emoji in ("👍", ""):
        payload = incoming({"type": "reaction", "reaction": {"message_id": WAMID, "emoji": emoji}})
        assert events_from_webhook(payload) == [(PHONE_ID, EngineEvent(REACTION, {
            "target": WAMID, "chat_id": USER_CHAT, "sender": USER_CHAT, "emoji": emoji, "timestamp": WHEN}))]


def test_incoming_group_message_is_in_the_group_chat():
    payload = incoming({"type": "text", "text": {"body": "Hello team!"}, "group_id": GROUP_ID})
    assert events_from_webhook(payload) == [(PHONE_ID, EngineEvent(MESSAGE, {
        "wa_message_id": "wamid.IN", "chat_id": GROUP_CHAT, "sender": USER_CHAT, "type": "text",
        "content": {"text": "Hello team!"}, "timestamp": WHEN}))]


@pytest.mark.parametrize("message", [
    {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown",
                                        "message": "Message type unknown"}]},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}},
    {"type": "text", "text": {"body": "hi"}, "from": None, "from_user_id": "US.13491208655302741918"},
])
def test_incoming_messages_we_skip(message: dict[str, Any]):
    assert events_from_webhook(incoming(message)) == []


def test_group_lifecycle_and_participants():
    business = "15550967852@s.whatsapp.net"
    base = {"group_id": GROUP_CHAT, "timestamp": WHEN}
    created = notification("group_lifecycle_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_create", "request_id": "req-1", "subject": "Linen club",
        "invite_link": "https://chat.whatsapp.com/BwEEU01Yuod1zPiapnbXqO ", "join_approval_mode": "auto_approve"}]})
    joined = notification("group_participants_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_participants_add", "reason": "invite_link",
        "added_participants": [{"wa_id": USER}]}]})
    removed = notification("group_participants_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_participants_remove", "request_id": "req-7",
        "initiated_by": "business", "removed_participants": [{"input": "+62 812-3456-789"}],
        "failed_participants": [{"input": "628999888777", "errors": [{"code": 131212, "title": "Not in group",
                                                                       "message": "Not in group"}]}],
        "errors": [{"code": 131201, "title": "Not All Participants Remove Succeeded",
                    "message": "Failed to remove some participants from the group"}]}]})
    left = notification("group_participants_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_participants_remove", "initiated_by": "participant",
        "removed_participants": [{"wa_id": USER}]}]})
    deleted = notification("group_lifecycle_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_delete", "request_id": "req-9"}]})
    assert [event for payload in (created, joined, removed, left, deleted)
            for _, event in events_from_webhook(payload)] == [
        EngineEvent(GROUP, base | {"action": "create", "participants": [], "by": business, "name": "Linen club",
                                   "description": "", "invite_code": "BwEEU01Yuod1zPiapnbXqO", "request_id": "req-1"}),
        EngineEvent(GROUP, base | {"action": "join", "participants": [USER_CHAT], "by": USER_CHAT}),
        EngineEvent(GROUP, base | {"action": "leave", "participants": [USER_CHAT], "by": business,
                                   "failed": ["628999888777@s.whatsapp.net"],
                                   "error": "Failed to remove some participants from the group (131201)"}),
        EngineEvent(GROUP, base | {"action": "leave", "participants": [USER_CHAT], "by": USER_CHAT}),
        EngineEvent(GROUP, base | {"action": "delete", "participants": [], "by": business, "request_id": "req-9"}),
    ]


def test_group_settings_and_status():
    business = "15550967852@s.whatsapp.net"
    base = {"group_id": GROUP_CHAT, "participants": [], "by": business, "timestamp": WHEN}
    settings = notification("group_settings_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_settings_update", "request_id": "req-3",
        "group_subject": {"text": "Linen club II", "update_successful": True},
        "group_description": {"text": "New season", "update_successful": False, "errors": [
            {"code": 131009, "title": "Parameter value is not valid", "message": "Parameter value is not valid",
             "error_data": {"details": "Description too long"}}]}}]})
    suspended = notification("group_status_update", {"groups": [{
        "timestamp": TS, "type": "group_suspend", "group_id": GROUP_ID}]})
    assert [event for payload in (settings, suspended) for _, event in events_from_webhook(payload)] == [
        EngineEvent(GROUP, base | {"action": "subject", "name": "Linen club II"}),
        EngineEvent(GROUP, base | {"action": "description", "description": "New season",
                                   "error": "Parameter value is not valid (131009): Description too long"}),
        EngineEvent(GROUP, base | {"action": "settings", "suspended": True, "by": ""}),
    ]


def test_join_requests_and_other_objects_are_ignored():
    request = notification("group_participants_update", {"groups": [{
        "timestamp": TS, "group_id": GROUP_ID, "type": "group_join_request_created", "join_request_id": "jr-1",
        "wa_id": USER}]})
    assert events_from_webhook(request) == []
    assert events_from_webhook({"object": "page", "entry": []}) == []


def test_subscription_handshake():
    params = {"hub.mode": "subscribe", "hub.verify_token": "hub-token", "hub.challenge": "1158201444"}
    assert verify_subscription(params, "hub-token") == "1158201444"
    assert verify_subscription(params | {"hub.verify_token": "guess"}, "hub-token") is None
    assert verify_subscription(params | {"hub.mode": "unsubscribe"}, "hub-token") is None
    assert verify_subscription(params, "") is None


def test_signature_check():
    body = json.dumps(incoming({"type": "text", "text": {"body": "hi"}})).encode()
    signature = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert check_signature(body, signature, "app-secret")
    assert check_signature(body, signature.upper().replace("SHA256=", "sha256="), "app-secret")
    assert not check_signature(body + b" ", signature, "app-secret")
    assert not check_signature(body, signature, "other-secret")
    assert not check_signature(body, signature.removeprefix("sha256="), "app-secret")
    assert not check_signature(body, signature, "")

"""The cloudapi engine's conversations over pywa, with an httpx MockTransport playing the Graph API (see
tests/unit/test_cloudapi.py): the exact request bodies pywa sends for voice messages, stickers, reactions, read
receipts, the typing indicator and the block list; received media downloaded by its media id; and what Meta cannot
do answered NOT_SUPPORTED."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from server.core.errors import ApiError
from server.engine_host.engines.base import Media, MessageRef, NotSupported, OutgoingMessage
from server.engine_host.engines.cloudapi.engine import CloudApiEngine
from tests.unit.test_cloudapi import (  # noqa: F401  (fixtures: the Graph API, events, a store, an engine)
    PHONE_ID,
    USER,
    USER_CHAT,
    WAMID,
    Graph,
    engine,
    events,
    graph,
    make_engine,
    meta_error,
    multipart,
    sent,
    store,
)

MESSAGES = f"/v26.0/{PHONE_ID}/messages"
SUCCESS = httpx.Response(200, json={"success": True})


@pytest.mark.parametrize(("kind", "media", "content", "body"), [
    ("audio", Media(b"OggS-voice", "audio/ogg"), {"voice_note": True}, {"id": "1037543291543636", "voice": True}),
    ("audio", Media(b"ID3-song", "audio/mpeg"), {}, {"id": "1037543291543636"}),
    ("sticker", Media(b"RIFF....WEBPVP8 ", "image/webp"), {}, {"id": "1037543291543636"}),
])
def test_voice_messages_audio_and_stickers_are_uploaded_then_sent_by_id(
        engine: CloudApiEngine, graph: Graph, kind: str, media: Media, content: dict[str, Any],  # noqa: F811
        body: dict[str, Any]):
    graph.on("POST", f"/v26.0/{PHONE_ID}/media", httpx.Response(200, json={"id": "1037543291543636"}))
    graph.on("POST", MESSAGES, sent())
    assert engine.send(OutgoingMessage(USER_CHAT, kind, content, media=media)) == WAMID
    upload, send = graph.requests
    assert multipart(upload)["type"] == (None, None, media.mimetype.encode())
    assert json.loads(send.content) == {"messaging_product": "whatsapp", "recipient_type": "individual",
                                        "type": kind, "to": USER, kind: body}


def test_reactions_reads_and_typing_are_the_graph_calls(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    graph.on("POST", MESSAGES, sent(), sent(), SUCCESS, SUCCESS)
    engine.react(MessageRef(WAMID, USER_CHAT, USER_CHAT), "\U0001F44D")
    engine.react(MessageRef(WAMID, USER_CHAT, USER_CHAT), "")
    engine.mark_read(USER_CHAT, [MessageRef("wamid.OLD", USER_CHAT, USER_CHAT), MessageRef(WAMID, USER_CHAT,
                                                                                           USER_CHAT)])
    engine.send_presence(USER_CHAT, "typing", MessageRef(WAMID, USER_CHAT, USER_CHAT))
    assert [graph.json(i) for i in range(4)] == [
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER, "type": "reaction",
         "reaction": {"emoji": "\U0001F44D", "message_id": WAMID}},
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER, "type": "reaction",
         "reaction": {"emoji": "", "message_id": WAMID}},
        {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID},  # the newest marks all read
        {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID, "typing_indicator": {"type": "text"}},
    ]


def test_typing_needs_a_received_message_and_nothing_else_is_a_presence(engine: CloudApiEngine,  # noqa: F811
                                                                        graph: Graph):  # noqa: F811
    with pytest.raises(ApiError) as caught:
        engine.send_presence(USER_CHAT, "typing", None)
    assert caught.value.code == "CONFLICT"
    for presence in ("recording", "paused"):
        with pytest.raises(NotSupported) as unsupported:
            engine.send_presence(USER_CHAT, presence, MessageRef(WAMID, USER_CHAT, USER_CHAT))
        assert unsupported.value.metadata["operation"] == f"presence ({presence})"
    assert graph.requests == []


def test_blocking_and_unblocking(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    answer = httpx.Response(200, json={"messaging_product": "whatsapp", "block_users": {
        "added_users": [{"input": USER, "wa_id": USER}]}})
    graph.on("POST", f"/v26.0/{PHONE_ID}/block_users", answer)
    graph.on("DELETE", f"/v26.0/{PHONE_ID}/block_users", answer)
    engine.update_blocklist([USER_CHAT, "628999888777@s.whatsapp.net"], block=True)
    engine.update_blocklist([USER_CHAT], block=False)
    block, unblock = graph.requests
    assert (block.method, json.loads(block.content)) == ("POST", {
        "messaging_product": "whatsapp", "block_users": [{"user": USER}, {"user": "628999888777"}]})
    assert (unblock.method, json.loads(unblock.content)) == ("DELETE", {
        "messaging_product": "whatsapp", "block_users": [{"user": USER}]})


def test_received_media_downloads_by_its_media_id(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    url = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=4218889&ext=1750000000&hash=x"
    graph.on("GET", "/v26.0/4218889", httpx.Response(200, json={
        "messaging_product": "whatsapp", "url": url, "mime_type": "audio/ogg", "sha256": "abc", "file_size": 9,
        "id": "4218889"}))
    graph.on("GET", "/whatsapp_business/attachments/", httpx.Response(200, content=b"OggS-data"))
    assert engine.download_media({"id": "4218889"}) == b"OggS-data"
    info, file = graph.requests
    assert str(file.url) == url and file.headers["authorization"] == info.headers["authorization"]

    graph.on("GET", "/v26.0/4218890", meta_error(400, 100, "(#100) Unsupported get request. Object with ID "
                                                           "'4218890' does not exist"))
    with pytest.raises(ApiError) as caught:
        engine.download_media({"id": "4218890"})
    assert caught.value.code == "NOT_FOUND"


@pytest.mark.parametrize("operation", ["edit", "revoke", "delete_for_me", "contact_picture"])
def test_what_meta_cannot_do_is_not_supported(engine: CloudApiEngine, graph: Graph, operation: str):  # noqa: F811
    call = {"edit": lambda: engine.edit(MessageRef(WAMID, USER_CHAT), "x"),
            "revoke": lambda: engine.revoke(MessageRef(WAMID, USER_CHAT)),
            "delete_for_me": lambda: engine.delete_for_me(MessageRef(WAMID, USER_CHAT)),
            "contact_picture": lambda: engine.contact_picture(USER_CHAT)}[operation]
    with pytest.raises(NotSupported) as caught:
        call()
    assert caught.value.metadata == {"engine": "cloudapi", "operation": operation}
    assert operation not in CloudApiEngine.spec.supports
    assert graph.requests == []

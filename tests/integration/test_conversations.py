"""Conversations end to end on the simulator, through Envoy (SQLite and PostgreSQL): voice notes and stickers,
reactions, edits and deletions both ways, every inbound kind stored and emitted, media downloads (kept, gone at
WhatsApp, past retention), chats with unread counts and read receipts, presence, pictures and the blocklist."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import random
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from server.core import db
from server.core.models import Message
from tests.support.api import connected_profile, fails, ok, wait_for, wait_message
from tests.support.stack import Stack

THUMBS_UP = "\U0001F44D"
HEART = "\u2764\ufe0f"


def number() -> str:
    return f"62811{secrets.randbelow(10**7):07d}"


def jid(phone: str) -> str:
    return f"{phone.lstrip('+')}@s.whatsapp.net"


def wav(seconds: float = 1.5) -> bytes:
    """A WAV tone made by ffmpeg (the same tool the gateway converts with)."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={seconds}",
         "-ac", "1", "-f", "wav", "-"], capture_output=True, check=True).stdout


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (255, 120, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def events_of(rest, pid: str, name: str) -> list[dict[str, Any]]:
    page = ok(rest.get("/events", params={"profileId": pid, "events": name, "pageSize": 1000}))
    return [event["data"] for event in page["events"]]


def media_of(rest, message_id: str):
    return rest.get(f"/messages/{message_id}/media")


def from_phone(stack: Stack, phone: str, to: str, kind: str, content: dict[str, Any],
               data: bytes = b"", mimetype: str = "", filename: str = "") -> str:
    media = {}
    if data:
        media = {"media": {"mimetype": mimetype, "filename": filename, "size": str(len(data)),
                           "sha256": hashlib.sha256(data).hexdigest(), "data": b64(data)}}
        content = {**content, "media": {key: value for key, value in media["media"].items() if key != "data"}}
    return stack.simulator("send_from", phone=phone, to=to, type=kind, content=content, **media)


def received(rest, pid: str, wa_message_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        page = ok(rest.get("/messages", params={"profileId": pid, "direction": "INBOUND", "pageSize": 500}))
        return next((m for m in page["messages"] if m["waMessageId"] == wa_message_id), None)
    return wait_for(find, f"inbound message {wa_message_id}")


@contextmanager
def stack_database(stack: Stack) -> Iterator[None]:
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            yield
    finally:
        db.database.close()


# Sending


def test_a_voice_note_is_converted_with_its_waveform_and_downloads_back(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    phone = number()
    sent = ok(rest.post("/messages/audio", json={"profileId": pid, "chatId": phone, "voiceNote": True,
                                                 "media": {"data": b64(wav())}}))
    assert sent["type"] == "AUDIO" and sent["content"]["voiceNote"] is True
    media = sent["content"]["media"]
    assert media["mimetype"] == "audio/ogg" and media["seconds"] in (1, 2)
    waveform = base64.b64decode(media["waveform"])
    assert len(waveform) == 64 and max(waveform) == 100 and min(waveform) > 0  # a steady tone
    wait_message(rest, sent["id"], "READ")
    [arrived] = stack.simulator("inbox", phone_or_chat_id=f"+{phone}")
    assert arrived["type"] == "audio" and arrived["content"]["voice_note"] is True
    assert arrived["content"]["media"]["mimetype"] == "audio/ogg"
    response = media_of(rest, sent["id"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/ogg"
    assert response.content[:4] == b"OggS" and hashlib.sha256(response.content).hexdigest() == media["sha256"]
    assert f'filename="{sent["id"]}.ogg"' in response.headers["content-disposition"]


def test_audio_and_stickers_by_url_are_converted_when_they_go_out(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    phone = number()
    audio_path, sticker_path = f"/{unique('voice')}.wav", f"/{unique('sticker')}.png"
    stack.web.serve(audio_path, wav(1.0), "audio/wav")
    stack.web.serve(sticker_path, png(300, 150), "image/png")
    voice = ok(rest.post("/messages/audio", json={"profileId": pid, "chatId": phone, "voiceNote": True,
                                                  "media": {"url": stack.web.url(audio_path)}}))
    sticker = ok(rest.post("/messages/sticker", json={"profileId": pid, "chatId": phone,
                                                      "media": {"url": stack.web.url(sticker_path)}}))
    wait_message(rest, sticker["id"], "DELIVERED", "READ")
    voice_in, sticker_in = stack.simulator("inbox", phone_or_chat_id=f"+{phone}")
    assert (voice_in["type"], voice_in["content"]["media"]["mimetype"]) == ("audio", "audio/ogg")
    assert (sticker_in["type"], sticker_in["content"]["media"]["mimetype"]) == ("sticker", "image/webp")
    response = media_of(rest, sticker["id"])  # kept in the media store when it went out
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("WEBP", (512, 512))
    assert media_of(rest, voice["id"]).content[:4] == b"OggS"


def test_an_inline_sticker_becomes_a_512_webp(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    sent = ok(rest.post("/messages/sticker", json={"profileId": pid, "chatId": number(),
                                                   "media": {"data": b64(png(40, 80))}}))
    assert sent["type"] == "STICKER" and sent["content"]["media"]["mimetype"] == "image/webp"
    response = media_of(rest, sent["id"])
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("WEBP", (512, 512))


def test_bulk_items_may_be_audio_and_stickers(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    phone = number()
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": phone, "type": "audio", "content": {"media": {"data": b64(wav(0.5))}, "voiceNote": True}},
        {"chatId": phone, "type": "sticker", "content": {"media": {"data": b64(png())}}},
    ]}))
    wait_for(lambda: ok(rest.get(f"/bulk/batch/{batch['id']}"))["status"] == "COMPLETED", "the batch")
    # A completed batch's items were taken by WhatsApp; the recipient's phone gets them after the network's delay.
    wait_for(lambda: [m["type"] for m in stack.simulator("inbox", phone_or_chat_id=f"+{phone}")]
             == ["audio", "sticker"], "the voice note and the sticker on the recipient's phone")


def test_bad_input_is_refused_naming_the_field_and_nothing_is_sent(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    phone = number()
    text = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": phone, "text": "hello"}))
    image = ok(rest.post("/messages/image", json={"profileId": pid, "chatId": phone,
                                                  "media": {"data": b64(png())}}))
    wait_message(rest, image["id"], "SENT", "DELIVERED", "READ")
    inbound = received(rest, pid, from_phone(stack, phone, jid(ok(rest.get(f"/profiles/{pid}"))["phoneNumber"]),
                                             "text", {"text": "hi there"}))
    before = len(stack.simulator("inbox", phone_or_chat_id=f"+{phone}"))

    error = fails(rest.post("/messages/audio", json={"profileId": pid, "chatId": phone, "voiceNote": True,
                                                     "media": {"data": b64(png())}}), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "media.data"
    noise = Image.frombytes("RGB", (1200, 1200), random.Random(7).randbytes(1200 * 1200 * 3))
    big = io.BytesIO()
    noise.save(big, format="WEBP", lossless=True)
    error = fails(rest.post("/messages/sticker", json={"profileId": pid, "chatId": phone,
                                                       "media": {"data": b64(big.getvalue())}}), 400,
                  "VALIDATION_ERROR")
    assert error["details"]["field"] == "media" and "KiB" in error["message"]
    for emoji in ("ab", THUMBS_UP * 2, "1"):
        error = fails(rest.post(f"/messages/{text['id']}/reaction", json={"emoji": emoji}), 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == "emoji"
    wait_message(rest, text["id"], "SENT", "DELIVERED", "READ")
    assert "only text" in fails(rest.patch(f"/messages/{image['id']}", json={"text": "x"}), 409,
                                "CONFLICT")["message"]
    assert "received" in fails(rest.patch(f"/messages/{inbound['id']}", json={"text": "x"}), 409,
                               "CONFLICT")["message"]
    assert "someone else" in fails(rest.delete(f"/messages/{inbound['id']}"), 409, "CONFLICT")["message"]
    assert fails(rest.patch(f"/messages/{text['id']}", json={"text": ""}), 400,
                 "VALIDATION_ERROR")["details"]["field"] == "text"
    for call in (lambda i: rest.post(f"/messages/{i}/reaction", json={"emoji": THUMBS_UP}),
                 lambda i: rest.patch(f"/messages/{i}", json={"text": "x"}), lambda i: rest.delete(f"/messages/{i}"),
                 lambda i: rest.get(f"/messages/{i}/media")):
        fails(call("msg_unknown"), 404, "NOT_FOUND")
    assert len(stack.simulator("inbox", phone_or_chat_id=f"+{phone}")) == before


# Acting on sent messages


def test_react_edit_and_revoke_a_sent_text(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    phone = number()
    sent = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": phone, "text": "See you at 5"}))
    wa_id = wait_message(rest, sent["id"], "SENT", "DELIVERED", "READ")["waMessageId"]

    reacted = ok(rest.post(f"/messages/{sent['id']}/reaction", json={"emoji": THUMBS_UP}))
    assert [(r["sender"], r["emoji"], r["fromMe"]) for r in reacted["reactions"]] == [(jid(own), THUMBS_UP, True)]
    reacted = ok(rest.post(f"/messages/{sent['id']}/reaction", json={"emoji": HEART}))
    assert [r["emoji"] for r in reacted["reactions"]] == [HEART]  # one per person
    assert ok(rest.post(f"/messages/{sent['id']}/reaction", json={"emoji": ""}))["reactions"] == []

    edited = ok(rest.patch(f"/messages/{sent['id']}", json={"text": "See you at 6"}))
    assert edited["content"]["text"] == "See you at 6"
    assert [e["text"] for e in edited["editHistory"]] == ["See you at 5"] and edited["editTime"]

    revoked = ok(rest.delete(f"/messages/{sent['id']}"))
    assert revoked["revokeTime"] and revoked["content"]["text"] == "See you at 6"
    fails(rest.delete(f"/messages/{sent['id']}"), 409, "CONFLICT")  # already deleted for everyone

    # WhatsApp took each one before its call answered; the recipient's phone gets it after the network's delay.
    inbox = wait_for(lambda: (got := stack.simulator("inbox", phone_or_chat_id=f"+{phone}")) and len(got) >= 6 and got,
                     "the reactions, the edit and the revoke on the recipient's phone")
    assert [(m["type"], m["content"]) for m in inbox[1:]] == [
        ("reaction", {"target": wa_id, "emoji": THUMBS_UP}), ("reaction", {"target": wa_id, "emoji": HEART}),
        ("reaction", {"target": wa_id, "emoji": ""}), ("edit", {"target": wa_id, "text": "See you at 6"}),
        ("revoke", {"target": wa_id})]
    assert [e["emoji"] for e in events_of(rest, pid, "message.reaction")] == [THUMBS_UP, HEART, ""]
    [edit] = events_of(rest, pid, "message.edited")
    assert (edit["messageId"], edit["text"], edit["previousText"], edit["fromMe"]) == (
        sent["id"], "See you at 6", "See you at 5", True)
    assert [e["messageId"] for e in events_of(rest, pid, "message.revoked")] == [sent["id"]]


def test_delete_for_me_works_on_any_message(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    phone = number()
    inbound = received(rest, pid, from_phone(stack, phone, jid(own), "text", {"text": "spam"}))
    deleted = ok(rest.delete(f"/messages/{inbound['id']}", params={"forMe": "true"}))
    assert deleted["deleteTime"] and "revokeTime" not in deleted
    assert [m["type"] for m in stack.simulator("inbox", phone_or_chat_id=f"+{phone}")] == []  # nothing sent


# Receiving


def test_every_inbound_kind_is_stored_and_emitted(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    me, phone = jid(own), number()
    stack.simulator("set_push_name", phone=f"+{phone}", name="Ann")
    poll = ok(rest.post("/messages/poll", json={"profileId": pid, "chatId": phone, "poll": {
        "question": "Lunch?", "options": ["Rice", "Noodles", "Soup"], "allowMultipleAnswers": True}}))
    ours = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": phone, "text": "Menu is out"}))
    poll_wa = wait_message(rest, poll["id"], "SENT", "DELIVERED", "READ")["waMessageId"]
    ours_wa = wait_message(rest, ours["id"], "SENT", "DELIVERED", "READ")["waMessageId"]

    voice = wav()
    voice_wa = from_phone(stack, phone, me, "audio", {"voice_note": True}, b"OggS" + voice, "audio/ogg")
    sticker_data = png()
    sticker_wa = from_phone(stack, phone, me, "sticker", {}, sticker_data, "image/webp")
    contacts_wa = from_phone(stack, phone, me, "contact", {"contacts": [
        {"full_name": "Budi", "phone_number": "+628111111111"},
        {"full_name": "Sari", "phone_number": "+628122222222"}]})
    live_wa = from_phone(stack, phone, me, "location", {"location": {"latitude": -6.2, "longitude": 106.8,
                                                                     "live": True}})
    text_wa = from_phone(stack, phone, me, "text", {"text": "Hi, is the shop open?"})
    from_phone(stack, phone, me, "reaction", {"target": ours_wa, "emoji": HEART})
    from_phone(stack, phone, me, "edit", {"target": text_wa, "text": "Hi, is the shop open today?"})
    revoked_wa = from_phone(stack, phone, me, "text", {"text": "oops"})
    from_phone(stack, phone, me, "revoke", {"target": revoked_wa})
    from_phone(stack, phone, me, "poll_vote", {"poll": poll_wa, "options": ["Rice", "Soup"]})

    audio = received(rest, pid, voice_wa)
    assert audio["type"] == "AUDIO" and audio["content"]["voiceNote"] is True and audio["senderName"] == "Ann"
    assert audio["content"]["media"] == {"mimetype": "audio/ogg", "filename": "", "size": str(len(voice) + 4),
                                         "sha256": hashlib.sha256(b"OggS" + voice).hexdigest(), "seconds": 0,
                                         "waveform": ""}
    assert media_of(rest, audio["id"]).content == b"OggS" + voice  # downloaded from WhatsApp on demand
    assert received(rest, pid, sticker_wa)["type"] == "STICKER"
    contact = received(rest, pid, contacts_wa)["content"]
    assert contact["contact"]["fullName"] == "Budi" and [c["fullName"] for c in contact["contacts"]] == \
        ["Budi", "Sari"]
    assert received(rest, pid, live_wa)["content"]["location"]["live"] is True

    edited = wait_for(lambda: (m := received(rest, pid, text_wa))["editHistory"] and m, "the edit")
    assert edited["content"]["text"] == "Hi, is the shop open today?"
    assert [e["text"] for e in edited["editHistory"]] == ["Hi, is the shop open?"]
    assert wait_for(lambda: received(rest, pid, revoked_wa).get("revokeTime"), "the revoke")
    reactions = wait_for(lambda: ok(rest.get(f"/messages/{ours['id']}"))["reactions"], "the reaction")
    assert [(r["sender"], r["emoji"], r["fromMe"]) for r in reactions] == [(jid(phone), HEART, False)]
    results = wait_for(lambda: (r := ok(rest.get(f"/messages/{poll['id']}"))["content"]["poll"]["results"])
                       and r[0]["votes"] and r, "the vote")
    assert [(r["option"], r["votes"], r["voters"]) for r in results] == [
        ("Rice", 1, [jid(phone)]), ("Noodles", 0, []), ("Soup", 1, [jid(phone)])]

    kinds = [e["type"] for e in events_of(rest, pid, "message.received")]
    assert kinds == ["audio", "sticker", "contact", "location", "text", "text"]
    [vote] = events_of(rest, pid, "poll.vote")
    assert (vote["messageId"], vote["voter"], vote["options"]) == (poll["id"], jid(phone), ["Rice", "Soup"])
    [reaction] = events_of(rest, pid, "message.reaction")
    assert (reaction["messageId"], reaction["emoji"], reaction["fromMe"]) == (ours["id"], HEART, False)
    [edit] = events_of(rest, pid, "message.edited")
    assert edit["previousText"] == "Hi, is the shop open?" and edit["fromMe"] is False
    assert [e["waMessageId"] for e in events_of(rest, pid, "message.revoked")] == [revoked_wa]


def test_media_whatsapp_no_longer_has_is_404_and_past_retention_410(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    phone = number()
    data = png()
    gone_wa = from_phone(stack, phone, jid(own), "image", {"caption": "a"}, data, "image/png")
    old_wa = from_phone(stack, phone, jid(own), "image", {"caption": "b"}, data + b"\0", "image/png")
    gone, old = received(rest, pid, gone_wa), received(rest, pid, old_wa)
    stack.simulator("expire_media", sha256=hashlib.sha256(data).hexdigest())
    assert "no longer" in fails(media_of(rest, gone["id"]), 404, "NOT_FOUND")["message"]
    with stack_database(stack):  # a month passes for this message
        row = Message.get_by_id(old["id"])
        Message.update(created_at=row.created_at - dt.timedelta(days=31)).where(Message.id == row.id).execute()
    assert "retention" in fails(media_of(rest, old["id"]), 410, "GONE")["message"]
    fails(media_of(rest, ok(rest.post("/messages/text", json={"profileId": pid, "chatId": phone,
                                                              "text": "no media"}))["id"]), 404, "NOT_FOUND")


# Chats


def test_chats_list_newest_first_with_names_unread_counts_and_read_receipts(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    stack.simulator("set_reads", phone=own, reads=False)  # the profile's phone leaves reading to the gateway
    ann, bob = number(), number()
    stack.simulator("set_push_name", phone=f"+{ann}", name="Ann from WhatsApp")
    ok(rest.post("/contacts", json={"profileId": pid, "phoneNumber": f"+{bob}", "name": "Bob (contact)"}))
    first = from_phone(stack, ann, jid(own), "text", {"text": "one"})
    second = from_phone(stack, ann, jid(own), "text", {"text": "two"})
    received(rest, pid, second)
    sent = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": bob, "text": "hello Bob"}))

    chats = ok(rest.get("/chats", params={"profileId": pid}))
    assert chats["totalSize"] == 2
    assert [(c["id"], c["name"], c["unreadCount"]) for c in chats["chats"]] == [
        (jid(bob), "Bob (contact)", 0), (jid(ann), "Ann from WhatsApp", 2)]
    assert chats["chats"][0]["lastMessage"]["id"] == sent["id"]
    page = ok(rest.get("/chats", params={"profileId": pid, "pageSize": 1}))
    assert len(page["chats"]) == 1 and page["nextPageToken"]
    rest_of = ok(rest.get("/chats", params={"profileId": pid, "pageSize": 1, "pageToken": page["nextPageToken"]}))
    assert [c["id"] for c in rest_of["chats"]] == [jid(ann)] and rest_of["nextPageToken"] == ""
    history = ok(rest.get(f"/chats/{ann}/messages", params={"profileId": pid}))
    assert [m["content"]["text"] for m in history["messages"]] == ["two", "one"]

    one = received(rest, pid, first)
    marked = ok(rest.post(f"/chats/{ann}@c.us/read", json={"profileId": pid, "messageIds": [one["id"]]}))
    assert marked == {"messageIds": [one["id"]], "unreadCount": 1}
    marked = ok(rest.post(f"/chats/{ann}/read", json={"profileId": pid}))
    assert marked["unreadCount"] == 0 and len(marked["messageIds"]) == 1
    assert stack.simulator("read_by", phone=f"+{ann}") == [first, second]  # blue ticks on Ann's phone
    assert ok(rest.post(f"/chats/{ann}/read", json={"profileId": pid}))["messageIds"] == []
    fails(rest.post(f"/chats/{ann}/read", json={"profileId": pid, "messageIds": ["msg_nope"]}), 404, "NOT_FOUND")


def test_marking_read_sends_the_read_receipt_to_another_profile(stack, rest, unique):
    reader, reader_phone = connected_profile(rest, unique)
    writer, writer_phone = connected_profile(rest, unique)
    stack.simulator("set_reads", phone=reader_phone, reads=False)
    sent = ok(rest.post("/messages/text", json={"profileId": writer, "chatId": reader_phone, "text": "ping"}))
    wait_message(rest, sent["id"], "DELIVERED")
    received(rest, reader, wait_message(rest, sent["id"], "DELIVERED")["waMessageId"])
    ok(rest.post(f"/chats/{writer_phone}/read", json={"profileId": reader}))
    wait_message(rest, sent["id"], "READ")


def test_presence_reaches_the_other_side(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    phone = number()
    for presence in ("typing", "RECORDING", "paused"):
        assert ok(rest.post(f"/chats/{phone}/presence", json={"profileId": pid, "presence": presence})) == {}
    seen = stack.simulator("presences", phone=f"+{phone}")
    assert [(p["sender"], p["presence"]) for p in seen] == [(jid(own), "typing"), (jid(own), "recording"),
                                                            (jid(own), "paused")]
    fails(rest.post(f"/chats/{phone}/presence", json={"profileId": pid}), 400, "VALIDATION_ERROR")


# Contacts: pictures and the blocklist


def test_contact_pictures(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    phone = number()
    picture = ok(rest.get(f"/profiles/{pid}/contacts/{phone}/picture"))
    assert picture["chatId"] == jid(phone) and picture["url"].startswith("https://") and picture["pictureId"]
    stack.simulator("set_picture", phone=f"+{phone}", picture_id="")
    fails(rest.get(f"/profiles/{pid}/contacts/{phone}/picture"), 404, "NOT_FOUND")
    stack.simulator("set_picture", phone=f"+{phone}", picture_id="42")
    assert ok(rest.get(f"/profiles/{pid}/contacts/{phone}@c.us/picture"))["pictureId"] == "42"


def test_blocking_stops_messages_both_ways_until_unblocked(stack, rest, unique):
    pid, own = connected_profile(rest, unique)
    phone = number()
    assert ok(rest.post(f"/profiles/{pid}/block", json={"chatIds": [f"+{phone}"]})) == {"chatIds": [jid(phone)]}
    held = from_phone(stack, phone, jid(own), "text", {"text": "let me in"})
    refused = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": phone, "text": "hi"}))
    assert "blocked" in wait_message(rest, refused["id"], "FAILED")["error"]
    # WhatsApp never had it: nothing to react to or delete
    fails(rest.post(f"/messages/{refused['id']}/reaction", json={"emoji": THUMBS_UP}), 409, "CONFLICT")
    fails(rest.delete(f"/messages/{refused['id']}", params={"forMe": "true"}), 409, "CONFLICT")
    after = from_phone(stack, number(), jid(own), "text", {"text": "someone else"})
    received(rest, pid, after)  # others still get through, so the blocked one was held, not slow
    assert not [m for m in ok(rest.get("/messages", params={"profileId": pid, "direction": "INBOUND"}))["messages"]
                if m["waMessageId"] == held]
    assert ok(rest.post(f"/profiles/{pid}/unblock", json={"chatIds": [phone]})) == {"chatIds": [jid(phone)]}
    received(rest, pid, held)
    fails(rest.post(f"/profiles/{pid}/block", json={"chatIds": []}), 400, "VALIDATION_ERROR")
    fails(rest.post(f"/profiles/{pid}/block", json={"chatIds": ["120363025246125486@g.us"]}), 400,
          "VALIDATION_ERROR")


def test_engines_that_cannot_answer_not_supported(stack, rest, unique):
    cloud = unique("cloud")
    ok(rest.post("/profiles", json={"id": cloud, "name": "Cloud", "engine": "cloudapi", "engineSettings": {
        "token": "t", "phoneNumberId": "1065"}}))
    error = fails(rest.get(f"/profiles/{cloud}/contacts/628123456789/picture"), 501, "NOT_SUPPORTED")
    assert "contact_picture" in error["message"]

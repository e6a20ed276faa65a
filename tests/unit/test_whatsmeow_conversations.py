"""The whatsmeow engine's conversations, offline, with neonize's real protobufs and builders: voice notes and
stickers as WhatsApp shows them, reactions (whatsmeow's own BuildReaction, in Go), edits and revokes (neonize's
builders), reads, presence, pictures and blocks as the neonize calls they make; received audio, stickers, contact
arrays, live locations, reactions, edits, revokes and poll votes through neonize's dispatch path; and the media
download fed a file encrypted as whatsmeow encrypts one, served by a mock of WhatsApp's CDN.

Only WhatsApp's side is stood in for (see tests/unit/test_whatsmeow.py): the neonize calls that would reach it, and
whatsmeow's DecryptPollVote, which needs the poll's secret from a real session's store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import subprocess
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from neonize.client import NewClient
from neonize.exc import GetProfilePictureError
from neonize.proto import Neonize_pb2 as nz
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContactsArrayMessage,
    FutureProofMessage,
    LiveLocationMessage,
    Message,
    PollUpdateMessage,
    PollVoteMessage,
    ProtocolMessage,
    ReactionMessage,
)
from neonize.utils.enum import BlocklistAction, ChatPresence, ChatPresenceMedia, MediaType, ReceiptType
from PIL import Image

from server.core import media_convert
from server.core.errors import ApiError
from server.engine_host.engines.base import (
    EDITED,
    MESSAGE,
    POLL_VOTE,
    REACTION,
    REVOKED,
    EngineError,
    EngineEvent,
    Media,
    MessageRef,
    Picture,
)
from server.engine_host.engines.whatsapp_media import APP_INFO, MEDIA_HOST, media_keys
from server.engine_host.engines.whatsmeow import WhatsmeowEngine, build_message
from tests.unit.test_whatsmeow import (  # noqa: F401  (the fixtures: a fake WhatsApp, a session, a builder client)
    ANN,
    GROUP_ID,
    GROUP_USER,
    ME,
    MemoryStore,
    builder,
    feed,
    jid,
    message_event,
    outgoing,
    session,
    source,
    whatsapp,
)

Session = tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]]
ANN_CHAT = f"{ANN}@s.whatsapp.net"


def encrypt(data: bytes, media_key: bytes, kind: str) -> bytes:
    """A file encrypted as whatsmeow's upload.go does: AES-256-CBC (PKCS7) with the HKDF-expanded media key, then
    the first 10 bytes of HMAC-SHA256(IV + ciphertext)."""
    iv, cipher_key, mac_key = media_keys(media_key, kind)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    return ciphertext + hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]


# Sending


def test_a_voice_note_is_a_ptt_audio_message_with_its_waveform(
        builder: tuple[NewClient, list[MediaType]]) -> None:  # noqa: F811
    client, uploaded = builder
    note = media_convert.voice_note(_wav())
    built = build_message(client, outgoing("audio", {"voice_note": True}, Media(
        note.data, "audio/ogg", seconds=note.seconds, waveform=note.waveform)))
    audio = built.audioMessage
    assert (audio.PTT, audio.mimetype, audio.seconds) == (True, "audio/ogg; codecs=opus", note.seconds)
    assert audio.waveform == note.waveform and len(audio.waveform) == 64
    assert (audio.directPath, audio.mediaKey, audio.fileLength) == ("/v/t62/x.enc", b"k" * 32, len(note.data))

    plain = build_message(client, outgoing("audio", {}, Media(b"ID3" + bytes(64), "audio/mpeg"))).audioMessage
    assert (plain.PTT, plain.mimetype, plain.HasField("waveform")) == (False, "audio/mpeg", False)
    assert uploaded == [MediaType.MediaAudio, MediaType.MediaAudio]


def test_a_sticker_is_a_webp_sticker_message_uploaded_as_an_image(
        builder: tuple[NewClient, list[MediaType]]) -> None:  # noqa: F811
    client, uploaded = builder
    png = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(png, format="PNG")
    webp = media_convert.sticker(png.getvalue())
    sticker = build_message(client, outgoing("sticker", {}, Media(webp, "image/webp"))).stickerMessage
    assert (sticker.mimetype, sticker.width, sticker.height, sticker.isAnimated) == ("image/webp", 512, 512, False)
    assert sticker.fileLength == len(webp) and uploaded == [MediaType.MediaImage]


def test_reactions_edits_and_revokes_are_whatsapps_own_messages(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _, _ = session
    sent: list[tuple[str, Message]] = []
    monkeypatch.setattr(engine.client, "send_message",
                        lambda chat, message: sent.append((f"{chat.User}@{chat.Server}", message)))
    own = MessageRef("3EB0OWN", ANN_CHAT)
    theirs = MessageRef("3EB0THEIRS", GROUP_ID, sender=ANN_CHAT)

    engine.react(own, "\U0001F44D")
    engine.react(theirs, "")
    engine.edit(own, "fixed typo")
    engine.revoke(own)

    (chat1, reaction), (chat2, removal), (chat3, edit), (chat4, revoke) = sent
    assert (chat1, chat2, chat3, chat4) == (ANN_CHAT, GROUP_ID, ANN_CHAT, ANN_CHAT)
    assert reaction.reactionMessage.key == MessageKey(remoteJID=ANN_CHAT, fromMe=True, ID="3EB0OWN")
    assert reaction.reactionMessage.text == "\U0001F44D" and reaction.reactionMessage.senderTimestampMS > 0
    assert removal.reactionMessage.key == MessageKey(remoteJID=GROUP_ID, fromMe=False, ID="3EB0THEIRS",
                                                     participant=ANN_CHAT)
    assert removal.reactionMessage.text == ""
    protocol = edit.editedMessage.message.protocolMessage
    assert (protocol.type, protocol.key.ID, protocol.key.fromMe) == (ProtocolMessage.MESSAGE_EDIT, "3EB0OWN", True)
    assert protocol.editedMessage == Message(conversation="fixed typo")
    assert revoke.protocolMessage.type == ProtocolMessage.REVOKE
    assert revoke.protocolMessage.key == MessageKey(remoteJID=ANN_CHAT, fromMe=True, ID="3EB0OWN")


def test_reads_presence_pictures_and_blocks_are_the_neonize_calls(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _, _ = session
    client = engine.client
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(client, "mark_read", lambda *ids, chat, sender, receipt: calls.append(
        ("read", ids, chat.User, sender.User, receipt)))
    monkeypatch.setattr(client, "send_chat_presence", lambda chat, state, media: calls.append(
        ("presence", chat.User, state, media)))
    monkeypatch.setattr(client, "update_blocklist", lambda chat, action: calls.append(("block", chat.User, action)))

    engine.mark_read(GROUP_ID, [MessageRef("A1", GROUP_ID, ANN_CHAT), MessageRef("A2", GROUP_ID, ANN_CHAT),
                                MessageRef("B1", GROUP_ID, "628444555666@s.whatsapp.net")])
    for presence in ("typing", "recording", "paused"):
        engine.send_presence(ANN_CHAT, presence)
    engine.update_blocklist([ANN_CHAT], block=True)
    engine.update_blocklist([ANN_CHAT], block=False)
    assert calls == [
        ("read", ("A1", "A2"), GROUP_USER, ANN, ReceiptType.READ),
        ("read", ("B1",), GROUP_USER, "628444555666", ReceiptType.READ),
        ("presence", ANN, ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
        ("presence", ANN, ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO),
        ("presence", ANN, ChatPresence.CHAT_PRESENCE_PAUSED, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
        ("block", ANN, BlocklistAction.BLOCK), ("block", ANN, BlocklistAction.UNBLOCK),
    ]

    answers: list[Any] = [nz.ProfilePictureInfo(URL="https://pps.whatsapp.net/v/x.jpg", ID="1710000000"),
                          GetProfilePictureError("the user has hidden their profile picture from you (status 401)")]

    def picture(chat: nz.JID, extra: Any = None) -> nz.ProfilePictureInfo:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client, "get_profile_picture", picture)
    assert engine.contact_picture(ANN_CHAT) == Picture("https://pps.whatsapp.net/v/x.jpg", "1710000000")
    assert engine.contact_picture(ANN_CHAT) is None


# Receiving


def test_messages_about_messages_become_our_events(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _, events = session
    client = engine.client
    events.clear()
    rice, soup = hashlib.sha256(b"Rice").digest(), hashlib.sha256(b"Soup").digest()
    voted: list[str] = []

    def decrypt(event: nz.Message) -> PollVoteMessage:  # whatsmeow's, given the poll's secret from its store
        voted.append(event.Info.ID)
        return PollVoteMessage(selectedOptions=[rice, soup])

    monkeypatch.setattr(client, "decrypt_poll_vote", decrypt)
    ann = source(jid(ANN), jid(ANN))
    feed(client, message_event("R1", ann, Message(reactionMessage=ReactionMessage(
        key=MessageKey(remoteJID=ANN_CHAT, fromMe=True, ID="3EB0MINE"), text="\u2764\ufe0f"))))
    feed(client, message_event("E1", ann, Message(editedMessage=FutureProofMessage(message=Message(
        protocolMessage=ProtocolMessage(key=MessageKey(ID="3EB0HERS"), type=ProtocolMessage.MESSAGE_EDIT,
                                        editedMessage=Message(conversation="new text")))))))
    feed(client, message_event("D1", source(jid(GROUP_USER, "g.us"), jid(ANN), group=True), Message(
        protocolMessage=ProtocolMessage(key=MessageKey(ID="3EB0GONE"), type=ProtocolMessage.REVOKE))))
    feed(client, message_event("V1", ann, Message(pollUpdateMessage=PollUpdateMessage(
        pollCreationMessageKey=MessageKey(ID="3EB0POLL", fromMe=True)))))
    feed(client, message_event("X1", source(jid(ANN), jid(ME), from_me=True), Message(
        reactionMessage=ReactionMessage(key=MessageKey(ID="3EB0HERS"), text="x"))))  # from our phone: not ours

    stamp = events[0].data["timestamp"]
    assert events == [
        EngineEvent(REACTION, {"chat_id": ANN_CHAT, "timestamp": stamp, "target": "3EB0MINE", "sender": ANN_CHAT,
                               "emoji": "\u2764\ufe0f"}),
        EngineEvent(EDITED, {"chat_id": ANN_CHAT, "timestamp": stamp, "target": "3EB0HERS", "sender": ANN_CHAT,
                             "text": "new text"}),
        EngineEvent(REVOKED, {"chat_id": GROUP_ID, "timestamp": stamp, "target": "3EB0GONE", "sender": ANN_CHAT}),
        EngineEvent(POLL_VOTE, {"chat_id": ANN_CHAT, "timestamp": stamp, "target": "3EB0POLL", "voter": ANN_CHAT,
                                "option_hashes": [rice.hex(), soup.hex()]}),
    ]
    assert voted == ["V1"]


def test_received_audio_is_described_and_downloads_through_whatsapps_encryption(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _, events = session
    events.clear()
    plain = media_convert.voice_note(_wav()).data
    media_key = os.urandom(32)
    blob = encrypt(plain, media_key, "audio")
    direct_path = "/v/t62.7117-24/12345_n.enc?ccb=11-4&oh=x"
    feed(engine.client, message_event("AU1", source(jid(ANN), jid(ANN)), Message(audioMessage=AudioMessage(
        URL="https://attacker.example/steal", directPath=direct_path, mediaKey=media_key,
        mimetype="audio/ogg; codecs=opus",
        fileSHA256=hashlib.sha256(plain).digest(), fileEncSHA256=hashlib.sha256(blob).digest(),
        fileLength=len(plain), seconds=2, PTT=True))))
    feed(engine.client, message_event("C1", source(jid(ANN), jid(ANN)), Message(
        contactsArrayMessage=ContactsArrayMessage(contacts=[
            ContactMessage(displayName="Budi", vcard="BEGIN:VCARD\nTEL;waid=628111111111:+62 811\nEND:VCARD"),
            ContactMessage(displayName="Sari", vcard="BEGIN:VCARD\nTEL;waid=628122222222:+62 812\nEND:VCARD")]))))
    feed(engine.client, message_event("L1", source(jid(ANN), jid(ANN)), Message(
        liveLocationMessage=LiveLocationMessage(degreesLatitude=-6.2, degreesLongitude=106.8, caption="on my way"))))

    audio, contacts, live = (event.data for event in events)
    assert audio["type"] == "audio" and audio["content"] == {"voice_note": True, "media": {
        "mimetype": "audio/ogg; codecs=opus", "size": len(plain), "sha256": hashlib.sha256(plain).hexdigest(),
        "seconds": 2}}
    ref = audio["media_ref"]
    assert (ref["kind"], ref["direct_path"], base64.b64decode(ref["media_key"])) == ("audio", direct_path, media_key)
    assert [event.type for event in events] == [MESSAGE, MESSAGE, MESSAGE]
    assert [card["full_name"] for card in contacts["content"]["contacts"]] == ["Budi", "Sari"]
    assert contacts["content"]["contact"]["phone_number"] == "+628111111111"
    assert live["content"]["location"] == {"latitude": -6.2, "longitude": 106.8, "name": "on my way", "address": "",
                                           "live": True}

    served: dict[str, bytes] = {direct_path: blob}
    asked: list[str] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        path = request.url.raw_path.decode()
        return httpx.Response(200, content=served[path]) if path in served else httpx.Response(404)

    engine._media_http = httpx.Client(transport=httpx.MockTransport(cdn))
    assert engine.download_media(ref) == plain
    assert asked == [MEDIA_HOST + direct_path]  # WhatsApp's media host, whatever URL the sender wrote

    served[direct_path] = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(EngineError, match="encrypted hash"):
        engine.download_media(ref)
    with pytest.raises(EngineError, match="MAC"):  # and without that hash, the MAC catches it
        engine.download_media({**ref, "file_enc_sha256": ""})
    served.clear()
    with pytest.raises(ApiError) as raised:
        engine.download_media(ref)
    assert raised.value.code == "NOT_FOUND"


def test_media_keys_follow_whatsmeows_app_info() -> None:
    assert set(APP_INFO) == {"image", "sticker", "video", "audio", "document"}
    assert APP_INFO["sticker"] == APP_INFO["image"] == b"WhatsApp Image Keys"
    iv, cipher_key, mac_key = media_keys(bytes(32), "image")
    assert (len(iv), len(cipher_key), len(mac_key)) == (16, 32, 32)
    assert media_keys(bytes(32), "video") != (iv, cipher_key, mac_key)


def _wav() -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1.2",
                           "-ac", "1", "-f", "wav", "-"], capture_output=True, check=True).stdout

"""The whatsmeow engine, offline: real neonize clients and protobufs, events fed through neonize's own dispatch path
(the ctypes callbacks neonize hands Go), and real connection attempts, which fail at once without internet.

Only WhatsApp's side is stood in for, by patching the neonize client methods that would talk to it: `connect` (the
blocking Go call that dials WhatsApp) with `stop`, `upload`, `send_message`, `PairPhone`, `is_on_whatsapp` and the
group calls. The attempts that really run Go's session code run in a child process (this file, run as a script),
so that a Go crash shows up as a failed test with the child's exit status instead of ending the test run.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from neonize._binder import func_string
from neonize.client import NewClient
from neonize.exc import GetGroupInfoError, SendMessageError, SetGroupNameError
from neonize.proto import Neonize_pb2 as nz
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    LocationMessage,
    Message,
    PollCreationMessage,
    StickerMessage,
)
from neonize.utils.enum import MediaType, ParticipantChange
from PIL import Image

from server.core.config import ROOT
from server.core.errors import ApiError
from server.engine_host.engines.base import (
    BANNED,
    CONNECTED,
    DISCONNECTED,
    FAILED,
    GROUP,
    LOGGED_OUT,
    MESSAGE,
    PAIRING,
    QR,
    QR_TIMEOUT,
    RECEIPT,
    EngineError,
    EngineEvent,
    Media,
    NotSupported,
    OutgoingMessage,
    ParticipantResult,
    Quote,
)
from server.engine_host.engines.whatsmeow import (
    WhatsmeowEngine,
    _Client,
    build_message,
    engine_error,
    message_content,
    quoted_message,
    session_database,
    vcard,
)
from tests.support.neonize_events import ME, device_event, feed, jid
from tests.support.stack import postgres_database

NOW_MS = 1_764_000_000_000
EMPTY = nz.JID(User="", Server="", RawAgent=0, Device=0, Integrator=0, IsEmpty=True)
ANN = "628111222333"
GROUP_USER = "120363025246125486"
GROUP_ID = f"{GROUP_USER}@g.us"


class MemoryStore:
    """The SessionStore the host gives an engine, kept in memory."""

    def __init__(self, database_url: str, profile_id: str = "p1") -> None:
        self.profile_id = profile_id
        self.database_url = database_url
        self.data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data is not None else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    def clear(self) -> None:
        self.data = None


def make_engine(database_url: str) -> tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]]:
    store, events = MemoryStore(database_url), []
    return WhatsmeowEngine(store.profile_id, {}, store, events.append), store, events


# neonize's dispatch path: what Go calls, called the way Go calls it.


def feed_string(callback: Callable[[int | None, int], None], text: str) -> None:
    """Call one of neonize's string callbacks (QR code, login status) as Go does."""
    buffer = ctypes.create_string_buffer(text.encode())
    func_string(callback)(None, ctypes.addressof(buffer))


def feed_qr(client: NewClient, code: str) -> None:
    feed_string(client._NewClient__onQr, code)


def feed_login_status(client: NewClient, status: str) -> None:
    feed_string(client._NewClient__onLoginStatus, status)


# Protobufs as Go sends them (every proto2 field neonize's Go side always sets).


def source(chat: nz.JID, sender: nz.JID, *, group: bool = False, alt: nz.JID = EMPTY,
           from_me: bool = False) -> nz.MessageSource:
    return nz.MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=group, SenderAlt=alt,
                            RecipientAlt=EMPTY, BroadcastListOwner=EMPTY)


def message_event(message_id: str, where: nz.MessageSource, content: Message) -> nz.Message:
    info = nz.MessageInfo(MessageSource=where, ID=message_id, ServerID=0, Type="text", Pushname="Ann",
                          Timestamp=NOW_MS, Category="", Multicast=False, MediaType="", Edit="")
    return nz.Message(Info=info, Message=content, IsEphemeral=False, IsViewOnce=False, IsViewOnceV2=False,
                      IsViewOnceV2Extension=False, IsDocumentWithCaption=False, IsLottieSticker=False, IsEdit=False,
                      UnavailableRequestID="", RetryCount=0)


def member(user: str, *, error: int = 0, lid: str = "", admin: bool = False,
           superadmin: bool = False) -> nz.GroupParticipant:
    """A participant as WhatsApp answers: by LID with the phone number beside it when `lid` is given."""
    return nz.GroupParticipant(JID=jid(lid, "lid") if lid else jid(user), LID=jid(lid, "lid") if lid else EMPTY,
                               PhoneNumber=jid(user), IsAdmin=admin or superadmin, IsSuperAdmin=superadmin,
                               DisplayName="", Error=error)


def group_proto(group: str, name: str, members: list[nz.GroupParticipant], *, topic: str = "",
                announce: bool = False, locked: bool = False) -> nz.GroupInfo:
    return nz.GroupInfo(
        OwnerJID=jid("99", "lid"), JID=jid(group, "g.us"), OwnerPN=jid(ME),
        GroupName=nz.GroupName(Name=name, NameSetAt=0, NameSetBy=EMPTY),
        GroupTopic=nz.GroupTopic(Topic=topic, TopicID="", TopicSetAt=0, TopicSetBy=EMPTY, TopicDeleted=False),
        GroupLocked=nz.GroupLocked(isLocked=locked), GroupAnnounce=nz.GroupAnnounce(IsAnnounce=announce,
                                                                                    AnnounceVersionID=""),
        GroupEphemeral=nz.GroupEphemeral(IsEphemeral=False, DisappearingTimer=0),
        GroupIncognito=nz.GroupIncognito(IsIncognito=False),
        GroupParent=nz.GroupParent(IsParent=False, DefaultMembershipApprovalMode=""),
        GroupLinkedParent=nz.GroupLinkedParent(LinkedParentJID=EMPTY),
        GroupIsDefaultSub=nz.GroupIsDefaultSub(IsDefaultSubGroup=False), GroupCreated=1_700_000_000.0,
        ParticipantVersionID="", Participants=members)


def upload_response(data: bytes) -> nz.UploadResponse:
    return nz.UploadResponse(url="https://mmg.whatsapp.net/d/f/x.enc", DirectPath="/v/t62/x.enc", Handle="",
                             MediaKey=b"k" * 32, FileEncSHA256=b"e" * 32, FileSHA256=b"s" * 32,
                             FileLength=len(data))


def png(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


class FakeWhatsApp:
    """WhatsApp's side of a session: neonize's `connect`, which would dial WhatsApp and block for the session's life,
    plays `script` through neonize's dispatch path and blocks until `stop`."""

    def __init__(self) -> None:
        self.script: list[Callable[[NewClient], None]] = []
        self._stopped: defaultdict[bytes, threading.Event] = defaultdict(threading.Event)

    def connect(self, client: NewClient) -> None:
        for step in self.script:
            step(client)
        self._stopped[client.uuid].wait(10)

    def stop(self, client: NewClient) -> None:
        self._stopped[client.uuid].set()


@pytest.fixture
def whatsapp(monkeypatch: pytest.MonkeyPatch) -> FakeWhatsApp:
    fake = FakeWhatsApp()
    monkeypatch.setattr(_Client, "connect", lambda client: fake.connect(client))
    monkeypatch.setattr(_Client, "stop", lambda client: fake.stop(client))
    return fake


@pytest.fixture
def session(whatsapp: FakeWhatsApp, tmp_path: Path) -> Iterator[tuple[WhatsmeowEngine, MemoryStore,
                                                                         list[EngineEvent]]]:
    """An engine whose session WhatsApp has accepted (the device event, then Connected)."""
    whatsapp.script = [lambda client: feed(client, device_event()),
                       lambda client: feed(client, nz.Connected(status=True))]
    engine, store, events = make_engine(f"sqlite:///{tmp_path / 'wagw.db'}")
    assert engine.connect() == ""
    yield engine, store, events
    engine.close()


@pytest.fixture
def builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[NewClient, list[MediaType]]:
    """A real neonize client that was never connected; its upload (which needs WhatsApp) answers as WhatsApp would."""
    client = NewClient(str(tmp_path / "build.db"), uuid="build")
    uploaded: list[MediaType] = []

    def upload(data: bytes, media_type: MediaType | None = None) -> nz.UploadResponse:
        uploaded.append(media_type)
        return upload_response(data)

    monkeypatch.setattr(client, "upload", upload)
    return client, uploaded


def outgoing(kind: str, content: dict[str, Any], media: Media | None = None, **extra: Any) -> OutgoingMessage:
    return OutgoingMessage(chat_id=f"{ANN}@s.whatsapp.net", type=kind, content=content, media=media, **extra)


# Where the keys live


def test_session_database_is_a_sibling_sqlite_file_or_the_gateways_postgres_dsn() -> None:
    assert session_database("sqlite:////data/wagw.db") == "/data/wagw-whatsmeow.db"
    assert session_database("sqlite:///rel/wagw.db") == "rel/wagw-whatsmeow.db"
    # lib/pq's default sslmode is "require"; libpq's (the gateway's) is "prefer"
    assert session_database("postgresql://u@h:5432/db") == "postgresql://u@h:5432/db?sslmode=prefer"
    assert session_database("postgres://u@h/db?connect_timeout=5") == "postgres://u@h/db?connect_timeout=5&sslmode=prefer"
    assert session_database("postgresql://u@h/db?sslmode=require") == "postgresql://u@h/db?sslmode=require"
    with pytest.raises(ValueError, match="DATABASE_URL"):
        session_database("mysql://u@h/db")


# Building messages


def test_text_without_and_with_a_context(builder: tuple[NewClient, list[MediaType]]) -> None:
    client, _ = builder
    assert build_message(client, outgoing("text", {"text": "hi"})) == Message(conversation="hi")
    context = ContextInfo(stanzaID="3EB0ABC", mentionedJID=[f"{ANN}@s.whatsapp.net"])
    built = build_message(client, outgoing("text", {"text": f"hi @{ANN}"}), context)
    assert built.extendedTextMessage.text == f"hi @{ANN}"
    assert built.extendedTextMessage.contextInfo == context


def test_media_messages_carry_the_upload_mimetype_caption_and_filename(
        builder: tuple[NewClient, list[MediaType]]) -> None:
    client, uploaded = builder
    image = png()
    built = build_message(client, outgoing("image", {"caption": "look"}, Media(image, "image/png")))
    message = built.imageMessage
    assert (message.URL, message.directPath, message.mediaKey) == ("https://mmg.whatsapp.net/d/f/x.enc",
                                                                    "/v/t62/x.enc", b"k" * 32)
    assert (message.fileEncSHA256, message.fileSHA256, message.fileLength) == (b"e" * 32, b"s" * 32, len(image))
    assert (message.mimetype, message.caption, message.width, message.height) == ("image/png", "look", 640, 480)
    with Image.open(io.BytesIO(message.JPEGThumbnail)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) <= 200

    video = Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    built = build_message(client, outgoing("video", {"caption": "clip"}, video))
    assert (built.videoMessage.mimetype, built.videoMessage.caption) == ("video/mp4", "clip")
    assert built.videoMessage.fileLength == 12

    built = build_message(client, outgoing("document", {"caption": "Q3"}, Media(b"%PDF-1.7", "application/pdf",
                                                                                 "report.pdf")))
    document = built.documentMessage
    assert (document.fileName, document.title, document.mimetype, document.caption) == (
        "report.pdf", "report.pdf", "application/pdf", "Q3")
    assert uploaded == [MediaType.MediaImage, MediaType.MediaVideo, MediaType.MediaDocument]

    # Bytes Pillow cannot read still go, without a preview; no caption means no caption field.
    built = build_message(client, outgoing("image", {}, Media(b"not an image", "image/jpeg")))
    assert not built.imageMessage.HasField("JPEGThumbnail") and not built.imageMessage.HasField("caption")
    with pytest.raises(ApiError) as raised:
        build_message(client, outgoing("image", {"caption": "x"}))
    assert raised.value.code == "VALIDATION_ERROR"


def test_location_contact_and_poll(builder: tuple[NewClient, list[MediaType]]) -> None:
    client, _ = builder
    built = build_message(client, outgoing("location", {"location": {
        "latitude": -6.2, "longitude": 106.8, "name": "Monas", "address": "Jakarta"}}))
    place = built.locationMessage
    assert (place.degreesLatitude, place.degreesLongitude, place.name, place.address) == (-6.2, 106.8, "Monas",
                                                                                         "Jakarta")

    built = build_message(client, outgoing("contact", {"contact": {
        "full_name": "Budi, Jr.", "phone_number": "+62 812-3456-789", "organization": "Toko; Maju"}}))
    assert built.contactMessage.displayName == "Budi, Jr."
    assert built.contactMessage.vcard == (
        "BEGIN:VCARD\nVERSION:3.0\nN:;Budi\\, Jr.;;;\nFN:Budi\\, Jr.\nORG:Toko\\; Maju\n"
        "TEL;type=CELL;type=VOICE;waid=628123456789:+628123456789\nEND:VCARD")
    card = vcard("Ann", "+1 555 0100")
    built = build_message(client, outgoing("contact", {"contact": {"full_name": "Ann", "vcard": card}}))
    assert built.contactMessage.vcard == card

    # whatsmeow builds polls (Go, no connection needed) and adds the secret votes are encrypted with.
    single = build_message(client, outgoing("poll", {"poll": {"question": "Lunch?", "options": ["Rice", "Noodles"]}}))
    assert single.pollCreationMessage.name == "Lunch?"
    assert [option.optionName for option in single.pollCreationMessage.options] == ["Rice", "Noodles"]
    assert single.pollCreationMessage.selectableOptionsCount == 1
    assert len(single.messageContextInfo.messageSecret) == 32
    multiple = build_message(client, outgoing("poll", {"poll": {
        "question": "Toppings?", "options": ["Egg", "Tofu", "Chili"], "allow_multiple_answers": True}},
    ), ContextInfo(stanzaID="3EB0ABC"))
    assert multiple.pollCreationMessage.selectableOptionsCount == 0
    assert multiple.pollCreationMessage.contextInfo.stanzaID == "3EB0ABC"

    with pytest.raises(NotSupported):
        build_message(client, outgoing("reaction", {}))


# Events through neonize's dispatch path


def test_qr_login_emits_each_code_then_the_timeout(whatsapp: FakeWhatsApp, tmp_path: Path) -> None:
    whatsapp.script = [lambda client: feed_qr(client, "2@first,key,adv")]
    engine, _, events = make_engine(f"sqlite:///{tmp_path / 'wagw.db'}")
    started = dt.datetime.now(dt.UTC)
    assert engine.connect() == ""  # answered by the first QR code
    feed_qr(engine.client, "2@second,key,adv")
    feed_login_status(engine.client, "timeout")
    engine.close()

    assert [event.type for event in events] == [QR, QR, QR_TIMEOUT]
    first, second = events[0].data, events[1].data
    assert first["code"] == "2@first,key,adv" and second["code"] == "2@second,key,adv"
    assert 58 <= (first["expires_at"] - started).total_seconds() <= 62
    assert 18 <= (second["expires_at"] - started).total_seconds() <= 22


def test_pairing_code_is_asked_once_the_connection_is_up(whatsapp: FakeWhatsApp, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, bool]] = []

    def pair_phone(client: NewClient, phone: str, show_push_notification: bool) -> str:
        asked.append((phone, show_push_notification))
        return "ABCD-EFGH"

    monkeypatch.setattr(_Client, "PairPhone", pair_phone)
    whatsapp.script = [lambda client: feed_qr(client, "2@first,key,adv")]
    engine, _, events = make_engine(f"sqlite:///{tmp_path / 'wagw.db'}")
    assert engine.connect("+62 812-3456-789") == "ABCD-EFGH"
    engine.close()
    assert asked == [("628123456789", True)]
    assert events == [EngineEvent(PAIRING, {"code": "ABCD-EFGH"})]  # the QR code is not shown


def test_session_events_map_to_ours(session: tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]]) -> None:
    engine, store, events = session
    client = engine.client
    assert events == [EngineEvent(CONNECTED, {"phone_number": f"+{ME}", "push_name": "Shop"})]
    assert store.data == {"jid": f"{ME}:7@s.whatsapp.net", "phone_number": f"+{ME}"}
    events.clear()

    ann, group = jid(ANN), jid(GROUP_USER, "g.us")
    # A direct message from a person WhatsApp addresses by LID, with the phone number beside it.
    feed(client, message_event("3EB0A1", source(jid("77", "lid"), jid("77", "lid"), alt=ann),
                               Message(conversation="hello")))
    feed(client, message_event("3EB0A2", source(group, ann, group=True), Message(imageMessage=ImageMessage(
        mimetype="image/jpeg", caption="menu"))))
    feed(client, message_event("3EB0A3", source(ann, ann), Message(extendedTextMessage=ExtendedTextMessage(
        text="see https://example.com"))))
    feed(client, message_event("3EB0A4", source(ann, jid(ME), from_me=True), Message(conversation="mine")))
    feed(client, message_event("3EB0A5", source(ann, ann), Message(stickerMessage=StickerMessage(
        mimetype="image/webp"))))
    feed(client, nz.Receipt(MessageSource=source(ann, ann), MessageIDs=["3EB0B1", "3EB0B2"],
                            Timestamp=NOW_MS // 1000, Type=nz.Receipt.DELIVERED))
    feed(client, nz.Receipt(MessageSource=source(ann, ann), MessageIDs=["3EB0B1"], Timestamp=NOW_MS // 1000 + 5,
                            Type=nz.Receipt.READ))
    feed(client, nz.Receipt(MessageSource=source(ann, jid(ME), from_me=True), MessageIDs=["3EB0A1"],
                            Timestamp=NOW_MS // 1000, Type=nz.Receipt.READ_SELF))
    feed(client, nz.GroupInfoEvent(
        JID=group, Notify="", Sender=ann, Timestamp=NOW_MS // 1000, PrevParticipantsVersionID="",
        ParticipantVersionID="", JoinReason="", Join=[jid("628444555666")],
        Name=nz.GroupName(Name="Team", NameSetAt=0, NameSetBy=ann),
        Announce=nz.GroupAnnounce(IsAnnounce=True, AnnounceVersionID="")))
    feed(client, nz.JoinedGroup(Reason="", Type="", CreateKey="", GroupInfo=group_proto(
        "120363000000000001", "Neighbours", [member(ME), member(ANN, superadmin=True)])))

    at = dt.datetime.fromtimestamp(NOW_MS / 1000, dt.UTC)
    assert [(event.type, event.data) for event in events] == [
        (MESSAGE, {"wa_message_id": "3EB0A1", "chat_id": f"{ANN}@s.whatsapp.net", "sender": f"{ANN}@s.whatsapp.net",
                   "type": "text", "content": {"text": "hello"}, "timestamp": at, "sender_name": "Ann",
                   "lid": "77@lid"}),
        (MESSAGE, {"wa_message_id": "3EB0A2", "chat_id": GROUP_ID,
                   "sender": f"{ANN}@s.whatsapp.net", "type": "image",
                   "content": {"caption": "menu", "media": {"mimetype": "image/jpeg"}}, "timestamp": at,
                   "sender_name": "Ann"}),
        (MESSAGE, {"wa_message_id": "3EB0A3", "chat_id": f"{ANN}@s.whatsapp.net", "sender": f"{ANN}@s.whatsapp.net",
                   "type": "text", "content": {"text": "see https://example.com"}, "timestamp": at,
                   "sender_name": "Ann"}),
        (MESSAGE, {"wa_message_id": "3EB0A5", "chat_id": f"{ANN}@s.whatsapp.net", "sender": f"{ANN}@s.whatsapp.net",
                   "type": "sticker", "content": {"media": {"mimetype": "image/webp"}}, "timestamp": at,
                   "sender_name": "Ann"}),
        (RECEIPT, {"wa_message_id": "3EB0B1", "chat_id": f"{ANN}@s.whatsapp.net", "status": "delivered",
                   "timestamp": at}),
        (RECEIPT, {"wa_message_id": "3EB0B2", "chat_id": f"{ANN}@s.whatsapp.net", "status": "delivered",
                   "timestamp": at}),
        (RECEIPT, {"wa_message_id": "3EB0B1", "chat_id": f"{ANN}@s.whatsapp.net", "status": "read",
                   "timestamp": at + dt.timedelta(seconds=5)}),
        (GROUP, {"group_id": GROUP_ID, "action": "join", "participants": ["628444555666@s.whatsapp.net"],
                 "by": f"{ANN}@s.whatsapp.net"}),
        (GROUP, {"group_id": GROUP_ID, "action": "subject", "participants": [],
                 "by": f"{ANN}@s.whatsapp.net", "name": "Team"}),
        (GROUP, {"group_id": GROUP_ID, "action": "settings", "participants": [],
                 "by": f"{ANN}@s.whatsapp.net", "announce": True}),
        (GROUP, {"group_id": "120363000000000001@g.us", "action": "join", "participants": [f"{ME}@s.whatsapp.net"],
                 "by": "", "name": "Neighbours"}),
    ]


def test_drops_bans_and_logouts(session: tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine, store, events = session
    client = engine.client
    monkeypatch.setattr(client, "send_message", lambda *args: pytest.fail("Go was called while disconnected"))
    events.clear()

    feed(client, nz.Disconnected(status=True))
    assert events[-1] == EngineEvent(DISCONNECTED, {"reason": "the connection to WhatsApp dropped", "reconnect": True,
                                                    "engine_retries": True})
    with pytest.raises(EngineError) as raised:
        engine.send(outgoing("text", {"text": "hi"}))
    assert raised.value.code == "PROFILE_NOT_CONNECTED"

    feed(client, nz.Connected(status=True))  # whatsmeow reconnected by itself
    assert events[-1].type == CONNECTED

    feed(client, nz.TemporaryBan(Code=nz.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
    ban = events[-1]
    assert ban.type == BANNED and ban.data["reason"] == "temporarily banned (send to too many people)"
    assert 3590 <= (ban.data["until"] - dt.datetime.now(dt.UTC)).total_seconds() <= 3600

    feed(client, nz.Connected(status=True))
    feed(client, nz.LoggedOut(OnConnect=False, Reason=nz.ConnectFailureReason.LOGGED_OUT))
    assert events[-1] == EngineEvent(LOGGED_OUT, {"reason": "WhatsApp unlinked this device (LOGGED_OUT)"})
    assert store.data is None


# Sending, lookups and groups on a connected session (WhatsApp's answers stood in for)


def test_send_returns_whatsapp_id_and_replies_quote(session: tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _, _ = session
    client = engine.client
    sent: list[tuple[nz.JID, Message]] = []

    def send_message(to: nz.JID, message: Message) -> nz.SendResponse:
        sent.append((to, message))
        return nz.SendResponse(ID=f"3EB0S{len(sent)}", Timestamp=0, ServerID=0)

    monkeypatch.setattr(client, "send_message", send_message)
    monkeypatch.setattr(client, "upload", lambda data, media_type=None: upload_response(data))
    messages = [
        outgoing("text", {"text": "hi"}),
        outgoing("image", {"caption": "c"}, Media(png(), "image/png")),
        outgoing("video", {}, Media(b"mp4", "video/mp4")),
        outgoing("document", {}, Media(b"%PDF", "application/pdf", "a.pdf")),
        outgoing("location", {"location": {"latitude": 1.5, "longitude": 2.5}}),
        outgoing("contact", {"contact": {"full_name": "Ann", "phone_number": f"+{ANN}"}}),
        outgoing("poll", {"poll": {"question": "Q", "options": ["a", "b"]}}),
    ]
    assert [engine.send(message) for message in messages] == [f"3EB0S{n}" for n in range(1, 8)]
    assert sent[0][0] == jid(ANN)
    assert [[field.name for field, _ in built.ListFields() if field.name != "messageContextInfo"]
            for _, built in sent] == [["conversation"], ["imageMessage"], ["videoMessage"], ["documentMessage"],
                                      ["locationMessage"], ["contactMessage"], ["pollCreationMessage"]]

    # A reply quotes what the gateway stored: this engine never saw the message (a restart since), and the reply
    # still carries its WhatsApp id, its sender and its content; mentions travel with it.
    quoted = Quote(wa_message_id="3EB0IN", chat_id=GROUP_ID, sender=f"{ANN}@s.whatsapp.net", type="text",
                   content={"text": "price?"})
    engine.send(OutgoingMessage(chat_id=GROUP_ID, type="text", content={"text": f"@{ANN} 10k"}, reply_to=quoted,
                                mentions=(f"{ANN}@s.whatsapp.net",)))
    to, reply = sent[-1]
    assert to == jid(GROUP_USER, "g.us")
    context = reply.extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant, context.remoteJID) == ("3EB0IN", f"{ANN}@s.whatsapp.net", "")
    assert context.quotedMessage == Message(conversation="price?")
    assert list(context.mentionedJID) == [f"{ANN}@s.whatsapp.net"]
    # The profile's own image, quoted in a private reply to the person: the participant is the profile, the media is
    # described (the quote shows "Photo" and its caption), and the group it was in is the remote JID.
    own = Quote(wa_message_id="3EB0S2", chat_id=GROUP_ID, type="image",
                content={"caption": "c", "media": {"mimetype": "image/png", "size": 68}})
    engine.send(outgoing("text", {"text": "ok"}, reply_to=own))
    context = sent[-1][1].extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant, context.remoteJID) == (
        "3EB0S2", f"{ME}@s.whatsapp.net", GROUP_ID)
    assert context.quotedMessage == Message(imageMessage=ImageMessage(mimetype="image/png", caption="c"))


@pytest.mark.parametrize(("kind", "content", "expected"), [
    ("document", {"caption": "q3", "media": {"mimetype": "application/pdf", "filename": "q3.pdf"}},
     Message(documentMessage=DocumentMessage(mimetype="application/pdf", caption="q3", fileName="q3.pdf"))),
    ("audio", {"voice_note": True, "media": {"mimetype": "audio/ogg"}},
     Message(audioMessage=AudioMessage(mimetype="audio/ogg", PTT=True))),
    ("location", {"location": {"latitude": 1.5, "longitude": 2.5, "name": "Shop"}},
     Message(locationMessage=LocationMessage(degreesLatitude=1.5, degreesLongitude=2.5, name="Shop"))),
    ("contact", {"contact": {"full_name": "Ann", "vcard": "BEGIN:VCARD"}},
     Message(contactMessage=ContactMessage(displayName="Ann", vcard="BEGIN:VCARD"))),
    ("poll", {"poll": {"question": "Q", "options": ["a", "b"]}},
     Message(pollCreationMessage=PollCreationMessage(name="Q", selectableOptionsCount=1, options=[
         PollCreationMessage.Option(optionName="a"), PollCreationMessage.Option(optionName="b")]))),
])
def test_a_quote_is_rebuilt_from_the_stored_content(kind: str, content: dict[str, Any], expected: Message) -> None:
    """What `quotedMessage` carries for each kind of message, read back by our own incoming-message parser."""
    built = quoted_message(Quote(wa_message_id="3EB0Q", chat_id=f"{ANN}@s.whatsapp.net", type=kind, content=content))
    assert built == expected
    assert message_content(built)[0] == kind


def test_whatsmeow_errors_map_to_our_codes(session: tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _, _ = session

    def refuse(error: Exception) -> Callable[..., None]:
        def call(*args: Any) -> None:
            raise error
        return call

    cases = [
        ("send_message", SendMessageError("info query returned status 429: rate-overlimit"), "RATE_LIMITED",
         lambda: engine.send(outgoing("text", {"text": "hi"}))),
        ("send_message", SendMessageError("websocket not connected"), "PROFILE_NOT_CONNECTED",
         lambda: engine.send(outgoing("text", {"text": "hi"}))),
        ("send_message", SendMessageError("server returned error 479"), "ENGINE_ERROR",
         lambda: engine.send(outgoing("text", {"text": "hi"}))),
        ("set_group_name", SetGroupNameError("info query returned status 403: forbidden"), "NOT_GROUP_ADMIN",
         lambda: engine.update_group(GROUP_ID, name="x")),
        ("get_group_info", GetGroupInfoError("that group does not exist"), "NOT_FOUND",
         lambda: engine.get_group(GROUP_ID)),
        ("get_group_info", GetGroupInfoError("you're not participating in that group"), "ENGINE_ERROR",
         lambda: engine.get_group(GROUP_ID)),
    ]
    for method, error, code, call in cases:
        monkeypatch.setattr(engine.client, method, refuse(error))
        with pytest.raises(EngineError) as raised:
            call()
        assert (raised.value.code, raised.value.reason) == (code, str(error)), method
    assert engine_error(SendMessageError("info query returned status 401: not-authorized"), admin=True).code == (
        "NOT_GROUP_ADMIN")


def test_lookup_and_group_operations(session: tuple[WhatsmeowEngine, MemoryStore, list[EngineEvent]],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _, _ = session
    client = engine.client
    calls: list[tuple[Any, ...]] = []
    info = group_proto(GROUP_USER, "Team", [member(ME, superadmin=True), member(ANN, lid="88", admin=True),
                                       member("628444555666", error=403)], topic="Weekly", announce=True)

    def record(name: str, answer: Any = None) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            calls.append((name, *args))
            return answer
        return call

    monkeypatch.setattr(client, "is_on_whatsapp", record("is_on_whatsapp", [
        nz.IsOnWhatsAppResponse(Query=f"+{ANN}", JID=jid(ANN), IsIn=True),
        nz.IsOnWhatsAppResponse(Query="+15550100", JID=EMPTY, IsIn=False),
        # A Brazilian mobile asked with its ninth digit, known to WhatsApp without it.
        nz.IsOnWhatsAppResponse(Query="+5511912345678", JID=jid("551112345678"), IsIn=True)]))
    assert engine.lookup([f"+{ANN}", "+15550100", "+447700900123", "+5511912345678"]) == {
        f"+{ANN}": f"{ANN}@s.whatsapp.net", "+15550100": "", "+447700900123": "",
        "+5511912345678": "551112345678@s.whatsapp.net"}

    for name in ("set_group_name", "set_group_topic", "set_group_announce", "set_group_locked", "leave_group"):
        monkeypatch.setattr(client, name, record(name))
    monkeypatch.setattr(client, "get_group_info", record("get_group_info", info))
    monkeypatch.setattr(client, "get_joined_groups", record("get_joined_groups", [info]))
    monkeypatch.setattr(client, "create_group", record("create_group", info))
    monkeypatch.setattr(client, "get_group_invite_link", record("get_group_invite_link",
                                                                "https://chat.whatsapp.com/AbC123"))

    got = engine.get_group(GROUP_ID)
    assert (got.group_id, got.name, got.description, got.owner, got.announce, got.locked) == (
        GROUP_ID, "Team", "Weekly", f"{ME}@s.whatsapp.net", True, False)
    assert got.created_at == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    # The refused participant is not a member; the one answered by LID is known by phone number.
    assert [(p.chat_id, p.role) for p in got.participants] == [(f"{ME}@s.whatsapp.net", "SUPERADMIN"),
                                                               (f"{ANN}@s.whatsapp.net", "ADMIN")]
    assert engine.list_groups() == [got]

    created, results = engine.create_group("Team", [f"{ANN}@s.whatsapp.net", "628444555666@s.whatsapp.net"])
    assert created == got
    assert calls[-1] == ("create_group", "Team", [jid(ANN), jid("628444555666")])
    assert results == [ParticipantResult(f"{ANN}@s.whatsapp.net", "ADDED"),
                       ParticipantResult("628444555666@s.whatsapp.net", "PRIVACY_REFUSED",
                                         "their privacy settings only let them join by invite")]

    calls.clear()
    assert engine.update_group(GROUP_ID, name="Team 2", description="Daily", announce=False,
                               locked=True) == got
    gjid = jid(GROUP_USER, "g.us")
    assert calls == [("set_group_name", gjid, "Team 2"), ("set_group_topic", gjid, "", "", "Daily"),
                     ("set_group_announce", gjid, False), ("set_group_locked", gjid, True),
                     ("get_group_info", gjid)]

    monkeypatch.setattr(client, "update_group_participants", record("update_group_participants", [
        member(ANN, lid="88"), member("628444555666", error=409), member("628777888999", error=404),
        member("628000111222", error=408)]))
    asked = [f"{ANN}@s.whatsapp.net", "628444555666@s.whatsapp.net", "628777888999@s.whatsapp.net",
             "628000111222@s.whatsapp.net", "628999999999@s.whatsapp.net"]
    assert [(r.status, r.error) for r in engine.update_participants(GROUP_ID, "add", asked)] == [
        ("ADDED", ""), ("ALREADY_MEMBER", "already in the group"), ("NOT_ON_WHATSAPP", "not on WhatsApp"),
        ("FAILED", "they left the group recently; WhatsApp does not let them be added again yet"),
        ("FAILED", "WhatsApp's answer did not mention them")]
    assert calls[-1][1:] == (gjid, [jid(user.partition("@")[0]) for user in asked], ParticipantChange.ADD)
    assert [r.status for r in engine.update_participants(GROUP_ID, "remove", asked[:3])] == [
        "REMOVED", "FAILED", "NOT_MEMBER"]

    assert engine.invite_link(GROUP_ID) == "AbC123"
    assert engine.invite_link(GROUP_ID, revoke=True) == "AbC123"
    assert calls[-1] == ("get_group_invite_link", gjid, True)
    engine.leave_group(GROUP_ID)
    assert calls[-1] == ("leave_group", gjid)


def test_calls_without_a_session_are_refused_before_go(tmp_path: Path) -> None:
    engine, _, _ = make_engine(f"sqlite:///{tmp_path / 'wagw.db'}")
    for call in not_connected_calls(engine):
        with pytest.raises(EngineError) as raised:
            call()
        # our refusal, not whatsmeow's "websocket not connected"
        assert (raised.value.code, raised.value.reason) == ("PROFILE_NOT_CONNECTED",
                                                            "the profile is not connected to WhatsApp")


def not_connected_calls(engine: WhatsmeowEngine) -> list[Callable[[], Any]]:
    return [
        lambda: engine.send(outgoing("text", {"text": "hi"})),
        lambda: engine.send(outgoing("image", {}, Media(png(), "image/png"))),
        lambda: engine.send(outgoing("poll", {"poll": {"question": "Q", "options": ["a", "b"]}})),
        lambda: engine.lookup([f"+{ANN}"]),
        engine.list_groups,
        lambda: engine.get_group(GROUP_ID),
        lambda: engine.create_group("Team", [f"{ANN}@s.whatsapp.net"]),
        lambda: engine.update_group(GROUP_ID, name="x"),
        lambda: engine.update_participants(GROUP_ID, "promote", [f"{ANN}@s.whatsapp.net"]),
        lambda: engine.leave_group(GROUP_ID),
        lambda: engine.invite_link(GROUP_ID, revoke=True),
    ]


# Real connection attempts, offline, in a child process


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_offline_connect_fails_cleanly_and_the_process_survives(backend: str, tmp_path: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    database_url = (f"sqlite:///{tmp_path / 'wagw.db'}" if backend == "sqlite"
                    else request.getfixturevalue("postgres_url"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen")])}
    child = subprocess.run([sys.executable, __file__, database_url], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.splitlines()[-1])

    assert report["refused_before"] == report["refused_after"] == ["PROFILE_NOT_CONNECTED"] * 11
    connect = report["connect"]
    assert connect["code"] == "ENGINE_ERROR" and "failed to dial whatsapp web websocket" in connect["reason"]
    assert connect["events"] == [[FAILED, connect["reason"]]]
    assert report["pairing"]["code"] == "ENGINE_ERROR" and "failed to dial" in report["pairing"]["reason"]
    # A remembered device that whatsmeow no longer holds is forgotten, not connected to (that crashes Go).
    assert report["stale"] == {"code": "ENGINE_ERROR", "store": None}
    # A stored device is connected to as it is (its marker kept); WhatsApp out of reach is no failure then, but a
    # reconnect for the host to schedule. A logout without a session removes both.
    assert report["stored"] == {"code": None, "store_kept": True, "rows_after_logout": 0, "store": None,
                                "event": LOGGED_OUT}
    assert report["stored_events"] == [[DISCONNECTED, True]]
    assert "WhatsApp was not told" in report["logout_reason"]

    # whatsmeow made its tables where the engine said: beside the gateway's SQLite file, or in its database.
    assert device_rows(session_database(database_url)) == []
    if backend == "sqlite":
        assert not (tmp_path / "wagw.db").exists()


def device_rows(database: str) -> list[tuple[str]]:
    """The JIDs in whatsmeow's device table (which must exist)."""
    if database.startswith("postgres"):
        with psycopg.connect(database) as db:
            return db.execute("SELECT jid FROM whatsmeow_device").fetchall()
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT jid FROM whatsmeow_device").fetchall()


def insert_device(database: str, jid_text: str) -> None:
    """A linked device row as whatsmeow stores one (random keys of the right sizes)."""
    columns = ("jid, registration_id, noise_key, identity_key, signed_pre_key, signed_pre_key_id, signed_pre_key_sig, "
               "adv_key, adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig")
    row = (jid_text, 1, os.urandom(32), os.urandom(32), os.urandom(32), 1, os.urandom(64), os.urandom(32),
           b"details", os.urandom(64), os.urandom(32), os.urandom(64))
    if database.startswith("postgres"):
        with psycopg.connect(database) as db:
            db.execute(f"INSERT INTO whatsmeow_device ({columns}) VALUES ({', '.join(['%s'] * 12)})", row)
    else:
        with closing(sqlite3.connect(database)) as db, db:
            db.execute(f"INSERT INTO whatsmeow_device ({columns}) VALUES ({', '.join('?' * 12)})", row)


def attempt(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except EngineError as exc:
        return {"code": exc.code, "reason": exc.reason}
    return {"code": None, "reason": ""}


def offline_session(database_url: str) -> dict[str, Any]:
    """The child process's part: real connection attempts through neonize and Go, without internet."""
    engine, store, events = make_engine(database_url)
    database = session_database(database_url)
    report: dict[str, Any] = {"refused_before": [attempt(call)["code"] for call in not_connected_calls(engine)]}

    connect = attempt(engine.connect)
    report["connect"] = {**connect, "events": [[event.type, event.data["reason"]] for event in events]}
    report["refused_after"] = [attempt(call)["code"] for call in not_connected_calls(engine)]
    report["pairing"] = attempt(lambda: engine.connect("+62 812-3456-789"))

    store.save({"jid": "628111222333:5@s.whatsapp.net", "phone_number": "+628111222333"})
    report["stale"] = {"code": attempt(engine.connect)["code"], "store": store.data}

    insert_device(database, "628222333444:7@s.whatsapp.net")
    store.save({"jid": "628222333444:7@s.whatsapp.net", "phone_number": "+628222333444"})
    events.clear()
    code = attempt(engine.connect)["code"]
    kept = store.data is not None
    stored_events = [[event.type, event.data["reconnect"]] for event in events]
    events.clear()
    engine.logout()
    report["stored"] = {"code": code, "store_kept": kept, "rows_after_logout": len(device_rows(database)),
                        "store": store.data, "event": events[-1].type}
    report["stored_events"] = stored_events
    report["logout_reason"] = events[-1].data["reason"]
    engine.close()
    return report


if __name__ == "__main__":
    print(json.dumps(offline_session(sys.argv[1])))

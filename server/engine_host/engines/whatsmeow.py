"""The `whatsmeow` engine: real WhatsApp multi-device through PyPI's neonize, which is whatsmeow built as a Go
shared library and driven over ctypes (DESIGN.md §4).

Go runs inside this process, so this module belongs in an engine-host process, never in the API server: a Go
panic ends the whole process, and importing the module already loads the library and starts Go's runtime. Two
panics are one careless call away, and the engine is built around both:

- Every neonize call that reaches whatsmeow (sends, lookups, groups, logout, pairing) looks its session up in a
  Go map and dereferences it unchecked: before the session exists, or after it was stopped, that is a SIGSEGV.
  So those calls go through `_session()`, which refuses with PROFILE_NOT_CONNECTED unless whatsmeow said
  CONNECTED, and `_retire()` waits for calls in flight before it stops a session. The one exception, asking for
  a pairing code (which comes before CONNECTED), is made inside connect(), once the attempt it started has shown
  its connection is up and while no other session call can stop it.
- Connecting to a device JID that whatsmeow's store does not hold panics in whatsmeow.NewClient. So a
  remembered JID is checked against whatsmeow's device table first, and forgotten if it is gone.

Session keys live where the gateway's data lives. With PostgreSQL, in the gateway's own database: whatsmeow
creates its `whatsmeow_*` tables beside ours. With SQLite, in a sibling file (`wagw.db` → `wagw-whatsmeow.db`):
whatsmeow writes key material on every message through go-sqlite3's deferred transactions and 5 s busy timeout,
at the very moments the gateway's processes write that message's rows; in WAL mode a deferred transaction that
must upgrade to a writer fails at once with SQLITE_BUSY instead of waiting, which the gateway avoids for itself
with IMMEDIATE transactions (server/db.py) but cannot impose on whatsmeow, and a failed key write there means an
undecryptable message or a broken Signal session. Each profile's device is its JID, remembered through the
SessionStore, so several profiles share one whatsmeow store.

Threads: neonize's connect blocks for the session's lifetime, so it runs on a thread of its own; whatsmeow's
events arrive on Go's callback thread and are mapped to EngineEvents there; the host calls the public methods
from its worker threads. `_lock` guards the state all of them share and is only held briefly.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from google.protobuf.message import Message as Proto
from neonize.builder import build_edit, build_revoke
from neonize.client import NewClient
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    GroupInfoEv,
    JoinedGroupEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import GetProfilePictureError, NeonizeError
from neonize.proto import Neonize_pb2 as neonize_proto
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
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
    PollVoteMessage,
    ProtocolMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.utils.enum import (
    BlocklistAction,
    ChatPresence,
    ChatPresenceMedia,
    MediaType,
    ParticipantChange,
    ReceiptType,
    VoteType,
)
from neonize.utils.jid import Jid2String, build_jid
from PIL import Image

from server.core import engine_specs
from server.core.engine_specs import (
    NotSupported,
    send_operation,
)
from server.core.errors import invalid
from server.engine_host.engines import whatsapp_media
from server.engine_host.engines.base import (
    BANNED,
    CONNECTED,
    DISCONNECTED,
    EDITED,
    FAILED,
    GROUP,
    LOGGED_OUT,
    MESSAGE,
    PAIRING,
    POLL_VOTE,
    QR,
    QR_TIMEOUT,
    REACTION,
    RECEIPT,
    REVOKED,
    Emit,
    Engine,
    EngineError,
    EngineEvent,
    GroupInfo,
    IncomingMessage,
    Media,
    MessageRef,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    Picture,
    Quote,
    SessionStore,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
JID = neonize_proto.JID

ENGINE = "whatsmeow"
# How long connect() waits for WhatsApp's first answer: a QR code, CONNECTED, or a refusal.
CONNECT_WAIT = 20.0
# How long a stopped session's thread gets to end; a healthy one ends at once (see _retire for the others).
STOP_WAIT = 2.0
# whatsmeow shows the first QR code of a batch for 60 s and each later one for 20 s.
FIRST_QR_TTL = dt.timedelta(seconds=60)
NEXT_QR_TTL = dt.timedelta(seconds=20)
THUMBNAIL_SIZE = 200
INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"
USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"  # a person addressed by a WhatsApp-internal id instead of a phone number

# What the phone lists under Linked devices; the browser also names the pairing-code client ("Chrome (Linux)").
_DEVICE_PROPS = DeviceProps(os="WA Gateway", platformType=DeviceProps.CHROME)
_MEDIA_TYPES = {"image": MediaType.MediaImage, "video": MediaType.MediaVideo, "document": MediaType.MediaDocument,
                "audio": MediaType.MediaAudio, "sticker": MediaType.MediaImage}
# What WhatsApp's apps play as a push-to-talk voice note.
VOICE_NOTE_MIMETYPE = "audio/ogg; codecs=opus"
_PRESENCE = {"typing": (ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
             "recording": (ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO),
             "paused": (ChatPresence.CHAT_PRESENCE_PAUSED, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)}
# whatsmeow's answers for a picture there is none of, or one hidden from us.
_NO_PICTURE = re.compile(r"not set|unauthorized|\b40[14]\b|item-not-found|not-authorized", re.I)
_POLL_FIELDS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3", "pollCreationMessageV5",
                "pollCreationMessageV6")
# whatsmeow's receipt types that move a sent message on; the others concern our own devices, retries or sync.
# (neonize writes SERVER_ERROR for whatsmeow's "played-self", and nothing at all for "server-error": _on_receipt.)
_RECEIPT_STATUS = {
    neonize_proto.Receipt.DELIVERED: "delivered",
    neonize_proto.Receipt.READ: "read",
    neonize_proto.Receipt.PLAYED: "read",  # a voice or video message played has been read
}
SERVER_ERROR_REASON = "WhatsApp's servers refused the message (a server-error receipt)"
_DONE = {"add": "ADDED", "remove": "REMOVED", "promote": "PROMOTED", "demote": "DEMOTED"}
# Per-participant codes WhatsApp gives without a status of ours to match.
_PARTICIPANT_FAILURES = {
    408: "they left the group recently; WhatsApp does not let them be added again yet",
    417: "they cannot be added to the community; send them the invite link",
    419: "the group is full",
}
# whatsmeow's error texts: IQ errors read "info query returned status 429: rate-overlimit"; its group helpers
# replace some with sentences ("that group does not exist").
_RATE_LIMITED = re.compile(r"rate-overlimit|\b429\b")
_NOT_CONNECTED = re.compile(r"websocket not connected|websocket disconnected|doesn't contain a device JID")
_NOT_ADMIN = re.compile(r"\bstatus 40[13]\b|forbidden|not-authorized|don't have the permission")
_GROUP_NOT_FOUND = re.compile(r"group does not exist|\bstatus 404\b")
# A device JID as whatsmeow writes it: user[.agent][:device]@server.
_AD_JID = re.compile(r"^(?P<user>[^.:@]+)(?:\.(?P<agent>\d+))?(?::(?P<device>\d+))?@(?P<server>.+)$")


def session_database(database_url: str) -> str:
    """Where whatsmeow keeps a profile's keys, as neonize takes it (its client name): a SQLite file path beside
    the gateway's file, or the gateway's PostgreSQL DSN (see the module docstring for why)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))  # the same reading as server/db.py
        return str(path.with_name(f"{path.stem}-whatsmeow{path.suffix or '.db'}"))
    if database_url.startswith(("postgres://", "postgresql://")):
        # neonize hands the DSN to lib/pq, whose default sslmode is "require"; libpq's (the gateway's) is
        # "prefer". Without this a server without TLS serves the gateway but refuses whatsmeow.
        if "sslmode=" not in database_url:
            database_url += ("&" if "?" in database_url else "?") + "sslmode=prefer"
        return database_url
    # Only the scheme: the rest may hold a password.
    raise ValueError(f"the whatsmeow engine needs a sqlite:/// or postgresql:// DATABASE_URL, not "
                     f"{database_url.split(':')[0]}")


def to_jid(chat_id: str) -> JID:
    """A neonize JID for one of our chat ids (`<digits>@s.whatsapp.net`, `<id>@g.us`) or an E.164 number."""
    user, _, server = chat_id.partition("@")
    return build_jid(user.removeprefix("+"), server if server and server != "c.us" else USER_SERVER)


def to_chat_id(jid: JID, alt: JID | None = None) -> str:
    """Our chat id for a neonize JID, without its device. For a person WhatsApp addresses by LID, whatsmeow sends
    the phone-number JID beside it as `alt`, which is used instead; without one the LID is all there is."""
    if jid.Server == LID_SERVER and alt is not None and alt.User and alt.Server == USER_SERVER:
        jid = alt
    return f"{jid.User}@{jid.Server}"


# The phone-number JID whatsmeow's LID map holds for a LID, or None (WhatsmeowEngine._phone_of).
PhoneOf = Callable[[JID], JID | None]


def _no_phones(_lid: JID) -> JID | None:
    return None


def person(jid: JID, alt: JID | None = None, phone_of: PhoneOf = _no_phones) -> tuple[str, str]:
    """(chat id, LID) of a person: by phone number when WhatsApp gave it beside a LID (`alt`) or whatsmeow's LID
    map knows it (`phone_of`); the LID itself otherwise. The LID is "" for a person addressed by number."""
    if jid.Server != LID_SERVER:
        return to_chat_id(jid), ""
    lid = f"{jid.User}@{LID_SERVER}"
    if alt is None or not alt.User or alt.Server != USER_SERVER:
        alt = phone_of(jid)
    return (to_chat_id(alt) if alt is not None else lid), lid


def parse_jid(text: str) -> JID:
    """The neonize JID of a device JID string (`628123:12@s.whatsapp.net`)."""
    match = _AD_JID.fullmatch(text)
    if match is None:
        raise ValueError(f"not a JID: {text!r}")
    return JID(User=match["user"], RawAgent=int(match["agent"] or 0), Device=int(match["device"] or 0),
               Integrator=0, Server=match["server"], IsEmpty=False)


# Outgoing messages


def build_message(client: NewClient, message: OutgoingMessage, context: ContextInfo | None = None) -> Message:
    """The WhatsApp protobuf of one outgoing message. Media is uploaded (encrypted) through `client`; a poll is
    built by whatsmeow, which adds the secret its votes are encrypted with. `context` (a reply, mentions) goes on
    whatever the message carries."""
    content = message.content
    if message.type == "text":
        text = content.get("text", "")
        # A plain `conversation` cannot carry a context; the extended form can.
        built = Message(extendedTextMessage=ExtendedTextMessage(text=text)) if context else Message(conversation=text)
    elif message.type in _MEDIA_TYPES:
        built = _media_message(client, message.type, message.media, content.get("caption", ""),
                               bool(content.get("voice_note")))
    elif message.type == "location":
        place = content.get("location") or {}
        built = Message(locationMessage=LocationMessage(
            degreesLatitude=float(place.get("latitude", 0)), degreesLongitude=float(place.get("longitude", 0)),
            name=place.get("name") or None, address=place.get("address") or None))
    elif message.type == "contact":
        card = content.get("contact") or {}
        built = Message(contactMessage=ContactMessage(
            displayName=card.get("full_name", ""),
            vcard=card.get("vcard") or vcard(card.get("full_name", ""), card.get("phone_number", ""),
                                             card.get("organization", ""))))
    elif message.type == "poll":
        poll = content.get("poll") or {}
        votes = VoteType.MULTIPLE if poll.get("allow_multiple_answers") else VoteType.SINGLE
        built = client.build_poll_vote_creation(poll.get("question", ""), list(poll.get("options", ())), votes)
    else:
        raise NotSupported(ENGINE, send_operation(message.type))
    if context is not None:
        _carried(built).contextInfo.MergeFrom(context)
    return built


def message_context(message: OutgoingMessage, own_chat_id: str) -> ContextInfo | None:
    """The reply and mentions of a message, as WhatsApp clients write them (neonize's `_make_quoted_message`): the
    quoted message's WhatsApp id, its sender (`own_chat_id` for the profile's own) and its content, rebuilt from
    the gateway's store, so the quote renders whether or not this process ever saw the message (after a restart
    too); `remoteJID` when it was in another chat (a private reply to a group message)."""
    if message.reply_to is None and not message.mentions:
        return None
    context = ContextInfo(mentionedJID=list(message.mentions))
    quote = message.reply_to
    if quote is not None:
        context.stanzaID = quote.wa_message_id
        context.participant = quote.sender or own_chat_id
        context.quotedMessage.CopyFrom(quoted_message(quote))
        if quote.chat_id != message.chat_id:
            context.remoteJID = quote.chat_id
    return context


def quoted_message(quote: Quote) -> Message:
    """The WhatsApp protobuf of a quoted message from its stored content (message_content's inverse). Media is
    described (its type, mimetype, caption, file name) but not carried: the quote shows its kind and caption."""
    content = quote.content
    if quote.type in _MEDIA_FIELDS:
        media = content.get("media") or {}
        fields: dict[str, Any] = {"mimetype": media.get("mimetype", "")}
        if quote.type in ("image", "video", "document") and content.get("caption"):
            fields["caption"] = content["caption"]
        if quote.type == "document":
            fields["fileName"] = media.get("filename", "")
        if quote.type == "audio":
            fields["PTT"] = bool(content.get("voice_note"))
        kinds = {"image": ImageMessage, "video": VideoMessage, "document": DocumentMessage, "audio": AudioMessage,
                 "sticker": StickerMessage}
        return Message(**{_MEDIA_FIELDS[quote.type]: kinds[quote.type](**fields)})
    if quote.type == "location":
        place = content.get("location") or {}
        return Message(locationMessage=LocationMessage(
            degreesLatitude=float(place.get("latitude", 0)), degreesLongitude=float(place.get("longitude", 0)),
            name=place.get("name") or None, address=place.get("address") or None))
    if quote.type == "contact":
        card = content.get("contact") or {}
        return Message(contactMessage=ContactMessage(displayName=card.get("full_name", ""),
                                                     vcard=card.get("vcard", "")))
    if quote.type == "poll":
        poll = content.get("poll") or {}
        return Message(pollCreationMessage=PollCreationMessage(
            name=poll.get("question", ""),
            options=[PollCreationMessage.Option(optionName=option) for option in poll.get("options", ())],
            selectableOptionsCount=0 if poll.get("allow_multiple_answers") else 1))
    return Message(conversation=content.get("text", ""))


def _audio_or_sticker(kind: str, fields: dict[str, Any], media: Media, voice_note: bool) -> Message:
    """An AudioMessage (a push-to-talk voice note with its length and waveform when `voice_note`) or a
    StickerMessage (WebP, with its size); neither carries a caption."""
    fields.pop("caption")
    if kind == "sticker":
        with Image.open(BytesIO(media.data)) as image:
            width, height = image.size
        return Message(stickerMessage=StickerMessage(**fields, width=width, height=height, isAnimated=False))
    if voice_note:
        fields["mimetype"] = VOICE_NOTE_MIMETYPE
        return Message(audioMessage=AudioMessage(**fields, PTT=True, seconds=media.seconds, waveform=media.waveform))
    return Message(audioMessage=AudioMessage(**fields, PTT=False, seconds=media.seconds or None))


def _media_message(client: NewClient, kind: str, media: Media | None, caption: str, voice_note: bool = False
                   ) -> Message:
    """An image, video, document, audio or sticker message. neonize's own builders are not used: its video and
    audio builders run ffmpeg themselves (the gateway converted voice notes already, with their waveform, in
    server/core/media_convert.py), its sticker builder converts again, and its image and document builders
    re-detect the mimetype and read @mentions out of the caption."""
    if media is None:
        raise invalid("content.media", f"is required for {kind} messages")
    upload = client.upload(media.data, _MEDIA_TYPES[kind])
    fields: dict[str, Any] = {
        "URL": upload.url, "directPath": upload.DirectPath, "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256, "fileSHA256": upload.FileSHA256, "fileLength": upload.FileLength,
        "mediaKeyTimestamp": int(time.time()), "mimetype": media.mimetype, "caption": caption or None,
    }
    if kind == "image":
        return Message(imageMessage=ImageMessage(**fields, **_image_preview(media.data)))
    if kind == "video":
        return Message(videoMessage=VideoMessage(**fields))
    if kind in ("audio", "sticker"):
        return _audio_or_sticker(kind, fields, media, voice_note)
    name = media.filename or "file"
    return Message(documentMessage=DocumentMessage(**fields, fileName=name, title=name))


def _image_preview(data: bytes) -> dict[str, Any]:
    """Size and a small JPEG: what the recipient sees before the image downloads. Bytes Pillow cannot read go
    without one (WhatsApp then shows a blank preview)."""
    try:
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
            image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            thumbnail = BytesIO()
            image.convert("RGB").save(thumbnail, format="JPEG", quality=60)
    except (OSError, ValueError, Image.DecompressionBombError):
        return {}
    return {"width": width, "height": height, "JPEGThumbnail": thumbnail.getvalue()}


def _carried(message: Message) -> Proto:
    """The part of a message that holds its content and context (imageMessage, pollCreationMessage, …)."""
    for field, value in message.ListFields():
        if field.message_type is not None and "contextInfo" in field.message_type.fields_by_name:
            return value
    raise ValueError("the message carries nothing that takes a context")


def vcard(full_name: str, phone_number: str, organization: str = "") -> str:
    """A vCard 3.0 as WhatsApp writes one: `waid` makes the number open a WhatsApp chat."""
    digits = re.sub(r"\D", "", phone_number)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:;{_escape(full_name)};;;", f"FN:{_escape(full_name)}"]
    if organization:
        lines.append(f"ORG:{_escape(organization)}")
    if digits:
        lines.append(f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return re.sub(r"([\\,;])", r"\\\1", text).replace("\n", "\\n")


# Incoming messages and events


def incoming_message(event: MessageEv, phone_of: PhoneOf = _no_phones) -> IncomingMessage | None:
    """Our IncomingMessage for a whatsmeow message event, or None for what the gateway does not carry: our own
    messages sent from the phone, status updates, newsletters and broadcasts, messages about other messages
    (conversation_event's), and kinds without a message type of ours, which are logged at debug level."""
    info = event.Info
    source = info.MessageSource
    if source.IsFromMe or source.Chat.Server not in (USER_SERVER, LID_SERVER, GROUP_SERVER):
        return None
    parsed = message_content(event.Message)
    if parsed is None:
        kinds = [field.name for field, _ in event.Message.ListFields() if field.name != "messageContextInfo"]
        log.debug("whatsmeow: skipping incoming message %s of kind %s", info.ID, ", ".join(kinds) or "empty")
        return None
    kind, content = parsed
    chat_id, sender, lid = _chat_and_sender(source, phone_of)
    return IncomingMessage(wa_message_id=info.ID, chat_id=chat_id, sender=sender, type=kind, content=content,
                           timestamp=_datetime(info.Timestamp), sender_name=info.Pushname,
                           media_ref=_media_ref(kind, event.Message), lid=lid)


def _chat_and_sender(source: neonize_proto.MessageSource, phone_of: PhoneOf) -> tuple[str, str, str]:
    """(chat id, sender, the sender's LID or "") of a received message: a direct chat is its sender's."""
    sender, lid = person(source.Sender, source.SenderAlt, phone_of)
    if source.Chat.Server == GROUP_SERVER:
        return to_chat_id(source.Chat), sender, lid
    return sender, sender, lid


# Where each kind of received media is in a WhatsApp message.
_MEDIA_FIELDS = {"image": "imageMessage", "video": "videoMessage", "document": "documentMessage",
                 "audio": "audioMessage", "sticker": "stickerMessage"}


def message_content(message: Message) -> tuple[str, dict[str, Any]] | None:
    """Our message type and content (wagw.v1.MessageContent with snake_case keys) of a WhatsApp message, or None
    for a kind the gateway has no type for. Media is described ({mimetype, size, filename, sha256}), not
    downloaded."""
    if message.HasField("conversation"):
        return "text", {"text": message.conversation}
    if message.HasField("extendedTextMessage"):
        return "text", {"text": message.extendedTextMessage.text}
    for kind, name in _MEDIA_FIELDS.items():
        if message.HasField(name):
            return kind, _media_content(kind, getattr(message, name))
    if message.HasField("locationMessage"):
        place = message.locationMessage
        return "location", {"location": {"latitude": place.degreesLatitude, "longitude": place.degreesLongitude,
                                         "name": place.name, "address": place.address}}
    if message.HasField("liveLocationMessage"):
        live = message.liveLocationMessage
        return "location", {"location": {"latitude": live.degreesLatitude, "longitude": live.degreesLongitude,
                                         "name": live.caption, "address": "", "live": True}}
    if message.HasField("contactMessage"):
        return "contact", {"contact": _card(message.contactMessage)}
    if message.HasField("contactsArrayMessage") and message.contactsArrayMessage.contacts:
        cards = [_card(card) for card in message.contactsArrayMessage.contacts]
        return "contact", {"contact": cards[0], "contacts": cards}
    for name in _POLL_FIELDS:
        if message.HasField(name):
            poll = getattr(message, name)
            return "poll", {"poll": {"question": poll.name, "options": [option.optionName for option in poll.options],
                                     "allow_multiple_answers": poll.selectableOptionsCount != 1}}
    return None


def _card(card: ContactMessage) -> dict[str, str]:
    return {"full_name": card.displayName, "phone_number": _vcard_phone(card.vcard), "vcard": card.vcard}


def _media_content(kind: str, media: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"mimetype": media.mimetype}
    if kind == "document":
        described["filename"] = media.fileName
    if media.fileLength:
        described["size"] = media.fileLength
    if media.fileSHA256:
        described["sha256"] = media.fileSHA256.hex()
    if kind == "audio" and media.seconds:
        described["seconds"] = media.seconds
    content: dict[str, Any] = {"media": described}
    if kind in ("image", "video", "document"):
        content["caption"] = media.caption
    if kind == "audio":
        content["voice_note"] = media.PTT
    return content


def _media_ref(kind: str, message: Message) -> dict[str, Any] | None:
    """How to download a received message's media again, when it has media WhatsApp lets be downloaded."""
    name = _MEDIA_FIELDS.get(kind)
    media = getattr(message, name) if name else None
    if media is None or not media.directPath or not media.mediaKey:
        return None
    return whatsapp_media.media_ref(kind, media)


def conversation_event(event: MessageEv, decrypt_vote: Callable[[MessageEv], PollVoteMessage],
                       phone_of: PhoneOf = _no_phones) -> EngineEvent | None:
    """The REACTION, EDITED, REVOKED or POLL_VOTE event a whatsmeow message carries, or None when it is no
    message about another message. Our own (sent from the phone) are left out, as incoming_message leaves them.
    Poll votes arrive encrypted: `decrypt_vote` is whatsmeow's DecryptPollVote, which finds the poll's secret in
    its store; the vote names each option by the SHA-256 of its text."""
    info, message = event.Info, event.Message
    source = info.MessageSource
    if source.IsFromMe or source.Chat.Server not in (USER_SERVER, LID_SERVER, GROUP_SERVER):
        return None
    chat_id, sender, _ = _chat_and_sender(source, phone_of)
    common = {"chat_id": chat_id, "timestamp": _datetime(info.Timestamp)}
    if message.HasField("editedMessage") and message.editedMessage.message.HasField("protocolMessage"):
        message = message.editedMessage.message  # an edit whatsmeow did not unwrap
    if message.HasField("reactionMessage"):
        reaction = message.reactionMessage
        return EngineEvent(REACTION, {**common, "target": reaction.key.ID, "sender": sender, "emoji": reaction.text})
    if message.HasField("protocolMessage"):
        protocol = message.protocolMessage
        if protocol.type == ProtocolMessage.REVOKE:
            return EngineEvent(REVOKED, {**common, "target": protocol.key.ID, "sender": sender})
        if protocol.type == ProtocolMessage.MESSAGE_EDIT:
            edited = message_content(protocol.editedMessage)
            text = edited[1].get("text", "") if edited and edited[0] == "text" else ""
            return EngineEvent(EDITED, {**common, "target": protocol.key.ID, "sender": sender, "text": text})
        return None
    if message.HasField("pollUpdateMessage"):
        vote = decrypt_vote(event)
        return EngineEvent(POLL_VOTE, {**common, "target": message.pollUpdateMessage.pollCreationMessageKey.ID,
                                       "voter": sender, "option_hashes": [o.hex() for o in vote.selectedOptions]})
    return None


def _sender_jid(message: MessageRef) -> JID:
    """The sender of a message to name in a reaction or revoke: empty for the profile's own (whatsmeow marks it
    fromMe), else the person (their participant in a group)."""
    return to_jid(message.sender) if message.sender else JID(User="", Server="", RawAgent=0, Device=0, Integrator=0,
                                                              IsEmpty=True)


def _vcard_phone(card: str) -> str:
    match = re.search(r"waid=(\d+)", card) or re.search(r"^(?:item\d+\.)?TEL[^:\n]*:([+\d][\d ()-]*)$", card, re.M)
    return "+" + re.sub(r"\D", "", match[1]) if match else ""


def group_info(info: neonize_proto.GroupInfo) -> GroupInfo:
    owner = info.OwnerPN if info.OwnerPN.User else info.OwnerJID
    return GroupInfo(
        group_id=to_chat_id(info.JID), name=info.GroupName.Name, description=info.GroupTopic.Topic,
        owner=to_chat_id(owner) if owner.User else "",
        created_at=_datetime(info.GroupCreated) if info.GroupCreated else None,
        participants=tuple(Participant(to_chat_id(member.JID, member.PhoneNumber), _role(member))
                           for member in info.Participants if not member.Error),
        announce=info.GroupAnnounce.IsAnnounce, locked=info.GroupLocked.isLocked)


def _role(member: neonize_proto.GroupParticipant) -> str:
    return "SUPERADMIN" if member.IsSuperAdmin else "ADMIN" if member.IsAdmin else "MEMBER"


def participant_results(action: str, requested: Iterable[str],
                        answered: Iterable[neonize_proto.GroupParticipant]) -> list[ParticipantResult]:
    """One result per requested chat id, in order. WhatsApp answers per participant, possibly by LID with the phone
    number beside it, and marks each refusal with a code."""
    by_user: dict[str, neonize_proto.GroupParticipant] = {}
    for member in answered:
        for jid in (member.JID, member.PhoneNumber, member.LID):
            if jid.User:
                by_user[jid.User] = member
    results = []
    for chat_id in requested:
        member = by_user.get(chat_id.partition("@")[0])
        if member is None:
            results.append(ParticipantResult(chat_id, "FAILED", "WhatsApp's answer did not mention them"))
        else:
            results.append(ParticipantResult(chat_id, *_participant_status(action, member.Error)))
    return results


def _participant_status(action: str, code: int) -> tuple[str, str]:
    if code in (0, 200):
        return _DONE[action], ""
    if action == "add" and code == 409:
        return "ALREADY_MEMBER", "already in the group"
    if action == "add" and code == 403:
        return "PRIVACY_REFUSED", "their privacy settings only let them join by invite"
    if code == 404:
        return ("NOT_ON_WHATSAPP", "not on WhatsApp") if action == "add" else ("NOT_MEMBER", "not in the group")
    if code in (401, 403):
        return "NOT_AUTHORIZED", f"WhatsApp refused ({code})"
    return "FAILED", _PARTICIPANT_FAILURES.get(code, f"WhatsApp refused ({code})")


def _datetime(value: float) -> dt.datetime:
    """An aware UTC datetime from neonize's epoch numbers: seconds in most events, milliseconds in message info."""
    return dt.datetime.fromtimestamp(value / 1000 if value > 10**11 else value, dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def engine_error(exc: Exception, *, group: bool = False, admin: bool = False) -> EngineError:
    """Our error for a whatsmeow error: RATE_LIMITED for rate-overlimit, PROFILE_NOT_CONNECTED when the websocket is
    down, NOT_GROUP_ADMIN when an admin-only group change is refused (`admin`), NOT_FOUND for a group that does not
    exist (`group`), ENGINE_ERROR with whatsmeow's words otherwise."""
    reason = str(exc)
    if _RATE_LIMITED.search(reason):
        code = "RATE_LIMITED"
    elif _NOT_CONNECTED.search(reason):
        code = "PROFILE_NOT_CONNECTED"
    elif admin and _NOT_ADMIN.search(reason):
        code = "NOT_GROUP_ADMIN"
    elif group and _GROUP_NOT_FOUND.search(reason):
        code = "NOT_FOUND"
    else:
        code = "ENGINE_ERROR"
    return EngineError(ENGINE, reason, code=code)


class _Client(NewClient):
    """neonize's client, plus the login-status hook neonize leaves as a print: whatsmeow's QR login reports
    "success", "timeout" or an error there, and a QR timeout is reported nowhere else."""

    def __init__(self, name: str, uuid: str, on_login_status: Callable[[NewClient, str], None]) -> None:
        super().__init__(name, uuid=uuid, props=_DEVICE_PROPS)
        self._on_login_status = on_login_status

    # neonize hands Go `self.__onLoginStatus`; overriding the mangled name is how a subclass replaces it.
    def _NewClient__onLoginStatus(self, uuid: int | None, status: int) -> None:
        self._on_login_status(self, ctypes.string_at(status).decode())


class _DeviceTable:
    """whatsmeow's device table (one row per linked device; its key tables cascade from it), read and pruned
    directly where neonize has no call that is safe without a session."""

    def __init__(self, database: str) -> None:
        self._database = database  # as session_database() gives it

    def holds(self, jid: str) -> bool:
        return bool(self._run("SELECT 1 FROM whatsmeow_device WHERE jid = ?", jid))

    def delete(self, jid: str) -> None:
        self._run("DELETE FROM whatsmeow_device WHERE jid = ?", jid)

    def _run(self, sql: str, jid: str) -> list[tuple[Any, ...]]:
        """Run one statement about `jid` and return its rows; a store whatsmeow never created has none."""
        if self._database.startswith("postgres"):
            try:
                with psycopg.connect(self._database, autocommit=True) as db:
                    cursor = db.execute(sql.replace("?", "%s"), (jid,))
                    return cursor.fetchall() if cursor.description else []
            except psycopg.errors.UndefinedTable:
                return []
        if not Path(self._database).exists():
            return []
        with closing(sqlite3.connect(self._database, timeout=10)) as db:
            db.execute("PRAGMA foreign_keys = ON")  # the cascade to whatsmeow's key tables
            try:
                with db:
                    return db.execute(sql, (jid,)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return []


class WhatsmeowEngine(Engine):
    """One profile's WhatsApp session through whatsmeow. See the module docstring for the process, storage and
    threading rules it keeps."""

    spec = engine_specs.WHATSMEOW

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit):
        super().__init__(profile_id, settings, store, emit)
        self._database = session_database(store.database_url)
        self._devices = _DeviceTable(self._database)
        self._connect_lock = threading.Lock()  # one connect, disconnect, logout or close at a time
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # signalled when a Go call in flight returns
        self._client: _Client | None = None
        self._thread: threading.Thread | None = None
        self._attempts = 0
        self._connected = False
        self._calls = 0  # Go calls in flight
        self._answered = threading.Event()  # WhatsApp answered the current attempt (see connect)
        self._failure = ""  # why the current attempt ended, when it did
        self._pairing = False
        self._qr_codes = 0
        self._parked: list[_Client] = []
        # Received media is fetched from WhatsApp's CDN (whatsapp_media.py); tests give it a mock transport.
        self._media_http = httpx.Client(timeout=whatsapp_media.TIMEOUT)

    @property
    def client(self) -> NewClient | None:
        """The neonize client of the current session attempt, if any."""
        return self._client

    # Session

    def connect(self, phone_number: str = "") -> str:
        with self._connect_lock:
            if self._connected:
                return ""
            self._retire()
            jid = self._stored_device()
            pairing = bool(phone_number) and jid is None
            client = self._start(jid, pairing)
            if not self._answered.wait(CONNECT_WAIT):
                if pairing:
                    raise EngineError(self.name, f"WhatsApp did not answer within {CONNECT_WAIT:.0f} s")
                return ""  # still connecting: the outcome follows as events
            if self._failure:
                raise EngineError(self.name, self._failure)
            if not pairing or self._connected:
                return ""
            # A QR code arrived, so the websocket is up: whatsmeow pairs by code over that connection.
            try:
                code = client.PairPhone(re.sub(r"\D", "", phone_number), show_push_notification=True)
            except NeonizeError as exc:
                raise engine_error(exc) from exc
        self.emit(EngineEvent(PAIRING, {"code": code}))
        return code

    def disconnect(self) -> None:
        with self._connect_lock:
            self._retire()
        self.emit(EngineEvent(DISCONNECTED, {"reason": "disconnected on request", "reconnect": False}))

    def logout(self) -> None:
        with self._connect_lock:
            try:
                self._call(lambda client: client.logout())  # unlinks on the phone and deletes whatsmeow's keys
                reason = "logged out on request"
            except EngineError as exc:
                reason = (f"logged out here, but WhatsApp was not told ({exc.reason}): the phone lists the device "
                          "until it is removed under Linked devices")
            self._retire()
            jid = (self.store.load() or {}).get("jid")
            if jid:
                self._devices.delete(jid)
            self.store.clear()
        self.emit(EngineEvent(LOGGED_OUT, {"reason": reason}))

    def close(self) -> None:
        with self._connect_lock:
            self._retire()

    def _close_client(self, client: NewClient) -> None:
        """Stop `client` if it is still the session's (a new attempt may have replaced it meanwhile)."""
        with self._connect_lock:
            if self._client is client:
                self._retire()

    def _stored_device(self) -> JID | None:
        """The device to restore, if this profile has one whatsmeow still holds. A remembered JID whose device is
        gone (logged out while nobody listened, a reset store) is forgotten: connecting to it would crash."""
        jid = (self.store.load() or {}).get("jid", "")
        if not jid:
            return None
        if self._devices.holds(jid):
            return parse_jid(jid)
        log.warning("whatsmeow %s: device %s is no longer in whatsmeow's store; starting a new login",
                    self.profile_id, jid)
        self.store.clear()
        return None

    def _start(self, jid: JID | None, pairing: bool) -> _Client:
        """Start a session attempt on its own thread: neonize's connect blocks until the session is stopped."""
        self._attempts += 1
        # A uuid of its own per attempt: a client left behind by an earlier attempt keeps its Go map key, and
        # neonize stops a client's uuid when the object is collected.
        client = _Client(self._database, f"wagw-{self.profile_id}-{self._attempts}", self._guard(self._on_login))
        # The device is set after construction because NewClient would take the uuid from a `jid` argument.
        client.jid = jid
        client.new_device = jid is None
        handlers: dict[type[Proto], Callable[[NewClient, Any], None]] = {
            PairStatusEv: self._on_pair_status, ConnectedEv: self._on_connected,
            DisconnectedEv: self._on_disconnected, LoggedOutEv: self._on_logged_out,
            TemporaryBanEv: self._on_temporary_ban, ConnectFailureEv: self._on_connect_failure,
            ClientOutdatedEv: self._on_client_outdated, StreamReplacedEv: self._on_stream_replaced,
            MessageEv: self._on_message, ReceiptEv: self._on_receipt, GroupInfoEv: self._on_group_info,
            JoinedGroupEv: self._on_joined_group,
        }
        for event_type, handler in handlers.items():
            client.event(event_type)(self._guard(handler))
        client.event.qr(self._guard(self._on_qr))
        thread = threading.Thread(target=self._run, args=(client, jid is not None), name=f"whatsmeow-{self.profile_id}",
                                  daemon=True)
        with self._lock:
            self._client, self._thread = client, thread
            self._failure, self._pairing, self._qr_codes = "", pairing, 0
            self._answered.clear()
        thread.start()
        return client

    def _run(self, client: _Client, restoring: bool) -> None:
        try:
            client.connect()
        except Exception as exc:  # a dial or store error from Go: never let it escape this thread
            if client is self._client:
                self._start_failed(str(exc), restoring)
        # A plain return means the session was stopped on request; whoever stopped it has said so.

    def _start_failed(self, error: str, restoring: bool) -> None:
        """whatsmeow retries a connection that dropped, but not a first dial that fails (neonize leaves its
        InitialAutoReconnect off), and neonize's connect then returns the error. With stored credentials nothing
        needs a person: the host retries with backoff (RECONNECTING). A new login fails; its caller tries again."""
        if restoring:
            self._end(DISCONNECTED, {"reason": f"cannot reach WhatsApp: {error}", "reconnect": True}, refused=False)
        else:
            self._end(FAILED, {"reason": error})

    def _retire(self) -> None:
        """Stop the current session attempt, if any, once no Go call is using it (a call into a stopped session
        crashes the process). A login that never completed does not stop: neonize's Go side waits for the
        device's JID forever, even after Stop. Its client is kept so that the callbacks Go holds stay valid."""
        with self._lock:
            client, thread = self._client, self._thread
            self._client, self._thread, self._connected = None, None, False
            while self._calls:
                self._idle.wait()
        if client is None or thread is None:
            return
        client.stop()
        thread.join(STOP_WAIT)
        if thread.is_alive():
            log.info("whatsmeow %s: an unfinished login stays parked until the process ends", self.profile_id)
            self._parked.append(client)

    @contextmanager
    def _session(self) -> Iterator[_Client]:
        """The connected client, held so that the session is not stopped under the caller."""
        with self._lock:
            client = self._client
            if client is None or not self._connected:
                raise EngineError(self.name, "the profile is not connected to WhatsApp", code="PROFILE_NOT_CONNECTED")
            self._calls += 1
        try:
            yield client
        finally:
            with self._lock:
                self._calls -= 1
                self._idle.notify_all()

    def _call(self, call: Callable[[_Client], T], *, group: bool = False, admin: bool = False) -> T:
        with self._session() as client:
            try:
                return call(client)
            except NeonizeError as exc:
                raise engine_error(exc, group=group, admin=admin) from exc

    # Events, on Go's callback thread

    def _guard(self, handler: Callable[[NewClient, Any], None]) -> Callable[[NewClient, Any], None]:
        """`handler` as neonize calls it: events of an earlier attempt's client are dropped, and an exception is
        logged here, since raised into Go's callback it would only reach stderr."""

        def dispatch(client: NewClient, payload: Any) -> None:
            if client is not self._client:
                return
            try:
                handler(client, payload)
            except Exception:
                log.exception("whatsmeow %s: handling %s failed", self.profile_id, type(payload).__name__)

        return dispatch

    def _end(self, event_type: str, data: dict[str, Any], *, refused: bool = True) -> None:
        """The attempt is over until something changes; connect() answers with the reason when WhatsApp `refused`
        (otherwise the host retries, and connect() answers as for an attempt still under way)."""
        with self._lock:
            self._connected = False
            self._failure = data["reason"] if refused else ""
        self.emit(EngineEvent(event_type, data))
        self._answered.set()

    def _remember(self, jid: JID) -> None:
        """Tell the host a session exists, and which device in whatsmeow's store is this profile's."""
        self.store.save({"jid": Jid2String(jid), "phone_number": "+" + jid.User})

    def _on_qr(self, _client: NewClient, code: bytes) -> None:
        with self._lock:
            first = self._qr_codes == 0
            self._qr_codes += 1
            pairing = self._pairing
        self._answered.set()
        if not pairing:  # with a pairing code, a QR code only shows that the connection is up
            expires = _now() + (FIRST_QR_TTL if first else NEXT_QR_TTL)
            self.emit(EngineEvent(QR, {"code": code.decode(), "expires_at": expires}))

    def _on_login(self, _client: NewClient, status: str) -> None:
        if status == "timeout":
            self.emit(EngineEvent(QR_TIMEOUT, {}))
        elif status != "success":  # success is followed by the device's CONNECTED
            self._end(FAILED, {"reason": f"login failed: {status}"})

    def _on_pair_status(self, _client: NewClient, event: PairStatusEv) -> None:
        if event.Status == PairStatusEv.SUCCESS:
            self._remember(event.ID)  # before the reconnect that follows pairing, in case it fails
        else:
            self._end(FAILED, {"reason": f"pairing failed: {event.Error}"})

    def _on_connected(self, client: NewClient, _event: ConnectedEv) -> None:
        me = client.me  # neonize's device event, which comes before every other event of a session
        data = {"phone_number": "+" + me.JID.User, "push_name": me.PushName}
        self._remember(me.JID)
        with self._lock:
            self._connected = True
        self.emit(EngineEvent(CONNECTED, data))
        self._answered.set()

    def _on_disconnected(self, _client: NewClient, _event: DisconnectedEv) -> None:
        # whatsmeow reports only drops it did not ask for, and reconnects by itself (its autoReconnect: after 0,
        # 2, 4, 6 … s, with no event per failed dial); the host only watches, and takes over after a while.
        with self._lock:
            self._connected = False
        self.emit(EngineEvent(DISCONNECTED, {"reason": "the connection to WhatsApp dropped", "reconnect": True,
                                             "engine_retries": True}))

    def _on_logged_out(self, client: NewClient, event: LoggedOutEv) -> None:
        self.store.clear()  # whatsmeow has deleted the device's keys itself
        cause = neonize_proto.ConnectFailureReason.Name(event.Reason) if event.HasField("Reason") else "LOGGED_OUT"
        self._end(LOGGED_OUT, {"reason": f"WhatsApp unlinked this device ({cause})"})
        # whatsmeow closed the socket, but neonize keeps the Go client and its event loop until they are stopped.
        # Not from here: this is that loop's thread, which stopping waits for.
        threading.Thread(target=self._close_client, args=(client,), name=f"whatsmeow-{self.profile_id}-close",
                         daemon=True).start()

    def _on_temporary_ban(self, _client: NewClient, event: TemporaryBanEv) -> None:
        cause = TemporaryBanEv.TempBanReason.Name(event.Code) if event.HasField("Code") else "UNKNOWN"
        until = _now() + dt.timedelta(seconds=event.Expire) if event.Expire > 0 else None
        self._end(BANNED, {"reason": f"temporarily banned ({cause.lower().replace('_', ' ')})", "until": until})

    def _on_connect_failure(self, _client: NewClient, event: ConnectFailureEv) -> None:
        # whatsmeow reports only the failures it does not retry (logouts and bans have events of their own).
        cause = neonize_proto.ConnectFailureReason.Name(event.Reason) if event.HasField("Reason") else "UNKNOWN"
        self._end(FAILED, {"reason": f"WhatsApp refused the connection ({cause}): {event.Message}"})

    def _on_client_outdated(self, _client: NewClient, _event: ClientOutdatedEv) -> None:
        self._end(FAILED, {"reason": "WhatsApp refused this client version as outdated: update neonize"})

    def _on_stream_replaced(self, _client: NewClient, _event: StreamReplacedEv) -> None:
        self._end(FAILED, {"reason": "another client opened this WhatsApp session (stream replaced)"})

    def _phone_of(self, lid: JID) -> JID | None:
        """The phone-number JID whatsmeow's LID map (its store, fed by WhatsApp) holds for a LID, if any."""
        try:
            found = self._call(lambda client: client.get_pn_from_lid(lid))
        except EngineError as exc:
            log.debug("whatsmeow %s: no phone number for %s: %s", self.profile_id, lid.User, exc.reason)
            return None
        return found if found.User else None

    def _person(self, jid: JID) -> str:
        return person(jid, phone_of=self._phone_of)[0]

    def _on_message(self, client: NewClient, event: MessageEv) -> None:
        about = conversation_event(event, client.decrypt_poll_vote, self._phone_of)
        if about is not None:
            self.emit(about)
            return
        incoming = incoming_message(event, self._phone_of)
        if incoming is not None:
            self.emit(EngineEvent(MESSAGE, incoming.as_dict()))

    def _on_receipt(self, _client: NewClient, event: ReceiptEv) -> None:
        extra = {}
        if not event.HasField("Type"):
            # neonize's encoder has no case for whatsmeow's "server-error" receipt and leaves the (required) type
            # unset, which protobuf would read as DELIVERED: WhatsApp's servers refused the message.
            status, extra["error"] = "failed", SERVER_ERROR_REASON
        else:
            status = _RECEIPT_STATUS.get(event.Type)
        if status is None:
            return
        chat_id = to_chat_id(event.MessageSource.Chat, event.MessageSource.SenderAlt)
        timestamp = _datetime(event.Timestamp)
        for wa_message_id in event.MessageIDs:
            self.emit(EngineEvent(RECEIPT, {"wa_message_id": wa_message_id, "chat_id": chat_id, "status": status,
                                            "timestamp": timestamp, **extra}))

    def _on_group_info(self, _client: NewClient, event: GroupInfoEv) -> None:
        group_id = to_chat_id(event.JID)
        by = self._person(event.Sender) if event.HasField("Sender") else ""
        for action, jids in (("join", event.Join), ("leave", event.Leave), ("promote", event.Promote),
                             ("demote", event.Demote)):
            if jids:
                self._group_event(group_id, action, [self._person(jid) for jid in jids], by)
        if event.HasField("Name"):
            self._group_event(group_id, "subject", [], by, name=event.Name.Name)
        if event.HasField("Topic"):
            self._group_event(group_id, "description", [], by, description=event.Topic.Topic)
        settings = {}
        if event.HasField("Announce"):
            settings["announce"] = event.Announce.IsAnnounce
        if event.HasField("Locked"):
            settings["locked"] = event.Locked.isLocked
        if settings:
            self._group_event(group_id, "settings", [], by, **settings)

    def _on_joined_group(self, client: NewClient, event: JoinedGroupEv) -> None:
        info = group_info(event.GroupInfo)
        if event.CreateKey:  # set when this device created the group
            self._group_event(info.group_id, "create", [member.chat_id for member in info.participants], "",
                              name=info.name)
        else:
            self._group_event(info.group_id, "join", [to_chat_id(client.me.JID)], "", name=info.name)

    def _group_event(self, group_id: str, action: str, participants: list[str], by: str, **extra: Any) -> None:
        self.emit(EngineEvent(GROUP, {"group_id": group_id, "action": action, "participants": participants,
                                      "by": by, **extra}))

    # Messages

    def send(self, message: OutgoingMessage) -> str:
        with self._session() as client:
            try:
                context = message_context(message, to_chat_id(client.me.JID) if message.reply_to else "")
                built = build_message(client, message, context)
                response = client.send_message(to_jid(message.chat_id), built)
            except NeonizeError as exc:
                raise engine_error(exc) from exc
        return response.ID

    # Conversations

    def react(self, message: MessageRef, emoji: str) -> None:
        chat = to_jid(message.chat_id)
        self._call(lambda client: client.send_message(chat, client.build_reaction(
            chat, _sender_jid(message), message.wa_message_id, emoji)))

    def edit(self, message: MessageRef, text: str) -> None:
        chat = to_jid(message.chat_id)
        self._call(lambda client: client.send_message(chat, build_edit(chat, message.wa_message_id,
                                                                       Message(conversation=text))))

    def revoke(self, message: MessageRef) -> None:
        chat = to_jid(message.chat_id)

        def revoke(client: _Client) -> None:
            me = client.me.JID
            sender = me if message.from_me else _sender_jid(message)
            client.send_message(chat, build_revoke(chat, sender, message.wa_message_id, me))

        self._call(revoke)

    def mark_read(self, chat_id: str, messages: list[MessageRef]) -> None:
        """One read receipt per sender (in a group, each member's messages go to them)."""
        chat = to_jid(chat_id)
        by_sender: dict[str, list[str]] = {}
        for message in messages:
            by_sender.setdefault(message.sender or chat_id, []).append(message.wa_message_id)
        for sender, ids in by_sender.items():
            self._call(lambda client, ids=ids, sender=sender: client.mark_read(
                *ids, chat=chat, sender=to_jid(sender), receipt=ReceiptType.READ))

    def send_presence(self, chat_id: str, presence: str, last_received: MessageRef | None = None) -> None:
        state, media = _PRESENCE[presence]
        self._call(lambda client: client.send_chat_presence(to_jid(chat_id), state, media))

    def contact_picture(self, chat_id: str) -> Picture | None:
        def picture(client: _Client) -> neonize_proto.ProfilePictureInfo | None:
            try:
                return client.get_profile_picture(to_jid(chat_id))
            except GetProfilePictureError as exc:
                if _NO_PICTURE.search(str(exc)):
                    return None
                raise

        info = self._call(picture)
        return Picture(url=info.URL, picture_id=info.ID) if info is not None and info.URL else None

    def update_blocklist(self, chat_ids: list[str], block: bool) -> None:
        action = BlocklistAction.BLOCK if block else BlocklistAction.UNBLOCK
        for chat_id in chat_ids:
            self._call(lambda client, chat_id=chat_id: client.update_blocklist(to_jid(chat_id), action))

    def download_media(self, media_ref: dict[str, Any]) -> bytes:
        return whatsapp_media.download(media_ref, self._media_http)

    def lookup(self, phone_numbers: list[str]) -> dict[str, str]:
        """whatsmeow's IsOnWhatsApp: each answer repeats the query and, for a number on WhatsApp, gives its JID,
        which may differ from the number asked (Brazil's and Mexico's extra mobile digit)."""
        if not phone_numbers:
            return {}
        answers = self._call(lambda client: client.is_on_whatsapp(*phone_numbers))
        found = {re.sub(r"\D", "", answer.Query): to_chat_id(answer.JID) if answer.IsIn and answer.JID.User else ""
                 for answer in answers}
        return {number: found.get(re.sub(r"\D", "", number), "") for number in phone_numbers}

    # Groups

    def list_groups(self) -> list[GroupInfo]:
        return [group_info(info) for info in self._call(lambda client: client.get_joined_groups(), group=True)]

    def get_group(self, group_id: str) -> GroupInfo:
        return group_info(self._call(lambda client: client.get_group_info(to_jid(group_id)), group=True))

    def create_group(self, name: str, participants: list[str]) -> tuple[GroupInfo, list[ParticipantResult]]:
        jids = [to_jid(chat_id) for chat_id in participants]
        info = self._call(lambda client: client.create_group(name, jids), group=True)
        return group_info(info), participant_results("add", participants, info.Participants)

    def update_group(self, group_id: str, *, name: str | None = None, description: str | None = None,
                     announce: bool | None = None, locked: bool | None = None) -> GroupInfo:
        jid = to_jid(group_id)

        def update(client: _Client) -> neonize_proto.GroupInfo:
            if name is not None:
                client.set_group_name(jid, name)
            if description is not None:
                client.set_group_topic(jid, "", "", description)  # whatsmeow looks up the previous topic id
            if announce is not None:
                client.set_group_announce(jid, announce)
            if locked is not None:
                client.set_group_locked(jid, locked)
            return client.get_group_info(jid)

        return group_info(self._call(update, group=True, admin=True))

    def update_participants(self, group_id: str, action: str, participants: list[str]) -> list[ParticipantResult]:
        change = ParticipantChange(action)
        jids = [to_jid(chat_id) for chat_id in participants]
        answered = self._call(lambda client: client.update_group_participants(to_jid(group_id), jids, change),
                              group=True, admin=True)
        return participant_results(action, participants, answered)

    def leave_group(self, group_id: str) -> None:
        self._call(lambda client: client.leave_group(to_jid(group_id)), group=True)

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        link = self._call(lambda client: client.get_group_invite_link(to_jid(group_id), revoke),
                          group=True, admin=True)
        return link.removeprefix(INVITE_LINK_PREFIX)

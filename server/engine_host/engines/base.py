"""The one interface every engine implements (DESIGN.md §4).

An engine holds one profile's live WhatsApp session inside an engine host process. The host calls its
methods from worker threads and receives everything that happens on the session as EngineEvents through
the `emit` callback; the host, not the engine, turns events into profile statuses and event-log rows.

What an engine can do is its `spec` (server/core/engine_specs.py, which the API server reads too); every
operation it lacks raises NotSupported, which the API answers as 501 NOT_SUPPORTED naming the engine and the
operation — never a silent no-op.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from server.core.engine_specs import (
    BLOCK,
    CONTACT_PICTURE,
    DELETE_FOR_ME,
    DOWNLOAD_MEDIA,
    EDIT,
    LIST_TEMPLATES,
    LOOKUP,
    MARK_READ,
    PRESENCE,
    REACT,
    REVOKE,
    UNBLOCK,
    EngineSpec,
    NotSupported,
    send_operation,
)
from server.core.errors import ApiError

# Event types an engine emits, and their `data`:
QR = "qr"                    # {"code": str, "expires_at": datetime}: a QR string to show; each replaces the last
QR_TIMEOUT = "qr_timeout"    # {}: no scan before the last QR code expired
PAIRING = "pairing"          # {"code": "XXXX-XXXX"}
CONNECTED = "connected"      # {"phone_number": "+62…", "push_name": str}
DISCONNECTED = "disconnected"  # {"reason": str, "reconnect": bool, "engine_retries": bool}: the connection dropped
                               # or could not be made (reconnect=True; engine_retries=True when the engine's
                               # library reconnects by itself) or was closed on request (reconnect=False)
LOGGED_OUT = "logged_out"    # {"reason": str}: the device was unlinked; credentials are gone
BANNED = "banned"            # {"reason": str, "until": datetime | None}: a temporary or permanent ban
MESSAGE = "message"          # IncomingMessage.as_dict(): an incoming message of any type
RECEIPT = "receipt"          # {"wa_message_id", "chat_id", "status": "server"|"delivered"|"read"|"failed",
                             #  "timestamp", "error" (why it failed)}
GROUP = "group"              # {"group_id", "action": "join"|"leave"|"promote"|"demote"|"subject"|"description"|
                             #  "settings"|"create", "participants": [chat ids], "by": chat id, ...}
FAILED = "failed"            # {"reason": str}: the session cannot work until something changes
# What WhatsApp carries as messages about other messages (`target`: the WhatsApp id of the message concerned):
REACTION = "reaction"        # {"target", "chat_id", "sender", "emoji" ("" removes), "timestamp"}
EDITED = "edited"            # {"target", "chat_id", "sender", "text", "timestamp"}
REVOKED = "revoked"          # {"target", "chat_id", "sender", "timestamp"}: deleted for everyone
POLL_VOTE = "poll_vote"      # {"target" (the poll), "chat_id", "voter", "option_hashes": [hex SHA-256 of each
                             #  option chosen; none: the vote was withdrawn], "timestamp"}


@dataclass(frozen=True)
class EngineEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    # Tells WhatsApp the event is recorded, for an engine whose network keeps an event until then (the
    # simulator's durable events): the host calls it once the event is in the database, never before.
    ack: Callable[[], None] | None = field(default=None, compare=False)


Emit = Callable[[EngineEvent], None]


class SessionStore(Protocol):
    """Where an engine keeps its credentials, in the gateway's own database, so a restart or another host
    restores the session without a new scan."""

    profile_id: str
    # The gateway's DATABASE_URL, for engines whose library keeps its own tables (whatsmeow).
    database_url: str

    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


@dataclass(frozen=True)
class Media:
    """Media ready to send: the bytes (downloaded or decoded by the caller), their type and file name; a voice
    note's length and waveform (server/core/media_convert.py)."""

    data: bytes
    mimetype: str
    filename: str = ""
    seconds: int = 0
    waveform: bytes = b""


@dataclass(frozen=True)
class MessageRef:
    """A message as WhatsApp knows it, to act on: its id, its chat, who sent it (our chat id; "" for the profile
    itself) and its type."""

    wa_message_id: str
    chat_id: str
    sender: str = ""
    type: str = "text"

    @property
    def from_me(self) -> bool:
        return not self.sender


@dataclass(frozen=True)
class Quote(MessageRef):
    """The message a reply quotes, as the gateway stored it: WhatsApp's id for it, its chat, its sender and its
    content (wagw.v1.MessageContent with snake_case keys, media described but not carried), so that an engine can
    show the quote even for a message it never saw itself (whatsmeow sends the quoted content along)."""

    content: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Picture:
    url: str
    picture_id: str


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send. `content` follows wagw.v1.MessageContent with snake_case keys (text, caption,
    location{latitude, longitude, name, address}, contact{full_name, phone_number, organization, vcard},
    poll{question, options, allow_multiple_answers}); media arrives resolved in `media`."""

    chat_id: str
    type: str
    content: dict[str, Any]
    media: Media | None = None
    # The message this one replies to (server/engine_host/conversations.py `quote`); None for no reply.
    reply_to: Quote | None = None
    mentions: tuple[str, ...] = ()
    # The gateway's id for the message. A send repeated with the same id (a retry after a crash, when the
    # outcome of the first attempt is unknown) must not reach the recipient twice: engines that can choose
    # WhatsApp's message id derive it from this one, so WhatsApp itself recognises the repeat.
    id: str = ""


@dataclass(frozen=True)
class IncomingMessage:
    """A received message. Media is described in `content.media` ({mimetype, size, filename, sha256}); how to
    download it again is `media_ref` (the engine's own keys, never shown to callers)."""

    wa_message_id: str
    chat_id: str
    sender: str
    type: str
    content: dict[str, Any]
    timestamp: dt.datetime
    sender_name: str = ""
    media_ref: dict[str, Any] | None = None
    # The sender's LID (`<digits>@lid`) when WhatsApp addressed them by one; `sender` is then their phone-number
    # chat id when it is known, else the LID too.
    lid: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = {"wa_message_id": self.wa_message_id, "chat_id": self.chat_id, "sender": self.sender,
                "type": self.type, "content": self.content, "timestamp": self.timestamp}
        if self.sender_name:
            data["sender_name"] = self.sender_name
        if self.lid:
            data["lid"] = self.lid
        if self.media_ref is not None:
            data["media_ref"] = self.media_ref
        return data


@dataclass(frozen=True)
class Participant:
    chat_id: str
    role: str = "MEMBER"  # MEMBER, ADMIN or SUPERADMIN (wagw.v1.Participant.Role names)


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    name: str
    description: str = ""
    owner: str = ""
    created_at: dt.datetime | None = None
    participants: tuple[Participant, ...] = ()
    announce: bool = False
    locked: bool = False
    # A group Meta is still creating (the Cloud API creates groups asynchronously): its request id, which the
    # GROUP "create" event that follows carries with the group id. Empty when the group exists.
    request_id: str = ""


@dataclass(frozen=True)
class ParticipantResult:
    chat_id: str
    status: str  # a wagw.v1.ParticipantResult.Status name: ADDED, ALREADY_MEMBER, NOT_ON_WHATSAPP, ...
    error: str = ""


class EngineError(ApiError):
    """WhatsApp (or the engine) refused. `code` is ENGINE_ERROR by default; RATE_LIMITED for rate-overlimit,
    PROFILE_NOT_CONNECTED when there is no session, NOT_GROUP_ADMIN for admin-only group changes."""

    def __init__(self, engine: str, reason: str, code: str = "ENGINE_ERROR", **metadata: str):
        super().__init__(code, f"{engine}: {reason}", engine=engine, **metadata)
        self.reason = reason




class Engine(ABC):
    """One profile's session. Methods block until WhatsApp answers (or a timeout) and raise EngineError or
    NotSupported; they are called from several threads, so implementations guard their own state."""

    spec: ClassVar[EngineSpec]

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit):
        self.profile_id = profile_id
        self.settings = settings
        self.store = store
        self.emit = emit

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def recognises_repeats(self) -> bool:
        """Whether WhatsApp, through this engine, recognises a message sent again (delivery_guarantee.py)."""
        return self.spec.recognises_repeats

    def require(self, operation: str) -> None:
        if operation not in self.spec.supports:
            raise NotSupported(self.name, operation)

    # Session

    @abstractmethod
    def connect(self, phone_number: str = "") -> str:
        """Open the session: with stored credentials, log straight in (CONNECTED event); without, start a login
        that emits QR events or, given a phone number, returns a pairing code (also emitted as PAIRING).
        Returns the pairing code or ""."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the session, keeping the credentials; emits DISCONNECTED with reconnect=False."""

    @abstractmethod
    def logout(self) -> None:
        """Unlink the device and forget the credentials; emits LOGGED_OUT."""

    def close(self) -> None:
        """Release everything (the profile is deleted or the host stops); no events needed."""
        self.disconnect()

    # Messages

    def send(self, message: OutgoingMessage) -> str:
        """Send one message; returns WhatsApp's message id. Receipts follow as RECEIPT events."""
        raise NotSupported(self.name, send_operation(message.type))

    def lookup(self, phone_numbers: list[str]) -> dict[str, str]:
        """For each of these E.164 numbers, the chat id WhatsApp knows it by, or "" when it is not on WhatsApp."""
        raise NotSupported(self.name, LOOKUP)

    # Conversations

    def react(self, message: MessageRef, emoji: str) -> None:
        """React to the message with one emoji; "" removes the profile's reaction."""
        raise NotSupported(self.name, REACT)

    def edit(self, message: MessageRef, text: str) -> None:
        """Replace the text of a text message the profile sent."""
        raise NotSupported(self.name, EDIT)

    def revoke(self, message: MessageRef) -> None:
        """Delete a message the profile sent, for everyone."""
        raise NotSupported(self.name, REVOKE)

    def delete_for_me(self, message: MessageRef) -> None:
        """Delete a message from the profile's own devices only."""
        raise NotSupported(self.name, DELETE_FOR_ME)

    def mark_read(self, chat_id: str, messages: list[MessageRef]) -> None:
        """Send read receipts for received messages of one chat."""
        raise NotSupported(self.name, MARK_READ)

    def send_presence(self, chat_id: str, presence: str, last_received: MessageRef | None = None) -> None:
        """Show the profile `typing`, `recording` or `paused` in the chat. `last_received` is the chat's newest
        received message, for engines whose typing indicator hangs on one (the Cloud API)."""
        raise NotSupported(self.name, PRESENCE)

    def contact_picture(self, chat_id: str) -> Picture | None:
        """The picture the contact or group shows to the profile; None when there is none (or it is hidden)."""
        raise NotSupported(self.name, CONTACT_PICTURE)

    def update_blocklist(self, chat_ids: list[str], block: bool) -> None:
        """Block (or unblock) these people."""
        raise NotSupported(self.name, BLOCK if block else UNBLOCK)

    def download_media(self, media_ref: dict[str, Any]) -> bytes:
        """The bytes of received media, by the `media_ref` the engine gave with the message. Raises NOT_FOUND when
        WhatsApp no longer has the file."""
        raise NotSupported(self.name, DOWNLOAD_MEDIA)

    def list_templates(self) -> list[dict[str, Any]]:
        """The approved message templates, each as wagw.v1.ApprovedTemplate's fields (snake_case): id, name,
        language, category, status, parameter_format, components (Meta's own descriptions)."""
        raise NotSupported(self.name, LIST_TEMPLATES)

    # Groups

    def list_groups(self) -> list[GroupInfo]:
        raise NotSupported(self.name, "list_groups")

    def get_group(self, group_id: str) -> GroupInfo:
        raise NotSupported(self.name, "get_group")

    def create_group(self, name: str, participants: list[str]) -> tuple[GroupInfo, list[ParticipantResult]]:
        raise NotSupported(self.name, "create_group")

    def update_group(self, group_id: str, *, name: str | None = None, description: str | None = None,
                     announce: bool | None = None, locked: bool | None = None) -> GroupInfo:
        raise NotSupported(self.name, "update_group")

    def update_participants(self, group_id: str, action: str, participants: list[str]) -> list[ParticipantResult]:
        """action: add, remove, promote or demote."""
        raise NotSupported(self.name, f"{action}_participants")

    def leave_group(self, group_id: str) -> None:
        raise NotSupported(self.name, "leave_group")

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        """The invite code (the part after https://chat.whatsapp.com/); a new one when revoke is True."""
        raise NotSupported(self.name, "revoke_invite_link" if revoke else "invite_link")

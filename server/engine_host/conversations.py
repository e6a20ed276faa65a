"""Conversations on an engine host: acting on messages and chats through a profile's live engine (ChatCall), reading
a message's media (DownloadMedia), and recording what the other side did (reactions, edits, revokes, poll votes).

Every change to a stored message goes through server/core/lifecycle.py, after the engine has done it on WhatsApp:
what the gateway shows never runs ahead of what WhatsApp has. The API server checked the request (the message is
the caller's, the emoji is one, the edit window is open) before calling; the same lifecycle checks run here again,
since time has passed and another call may have changed the message.

Media: an outbound message's inline file is in its stored content; a file sent from a URL, or a received one
downloaded from WhatsApp, is kept in the media store (server/core/media_store.py) until the message's media
retention ends. A file evicted from the store (its size cap) is fetched again: from WhatsApp for received media,
from its URL for sent media.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.core import engine_specs, lifecycle, urls
from server.core.db import database, utcnow
from server.core.errors import ApiError, invalid, not_found
from server.core.media_store import MediaStore
from server.core.models import Message, Profile
from server.core.phones import phone_to_chat_id
from server.engine_host.engines import base
from server.engine_host.media import resolve as resolve_media

if TYPE_CHECKING:
    from server.engine_host.sessions import SessionManager


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    mimetype: str
    filename: str


class Conversations:
    def __init__(self, sessions: SessionManager, media: MediaStore, retention: dt.timedelta, guard: urls.Guard):
        self.sessions = sessions
        self.media = media
        self.retention = retention
        self.guard = guard

    # ChatCall

    def call(self, profile_id: str, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One CHAT_OPERATIONS operation of the profile's live engine; the result as ChatCallResponse says."""
        if operation not in engine_specs.CHAT_OPERATIONS:
            raise invalid("operation", f"'{operation}' is not one of " + ", ".join(engine_specs.CHAT_OPERATIONS))
        engine = self.sessions.engine(profile_id)
        engine.require(operation)

        def argument(name: str) -> Any:
            if name not in arguments:
                raise invalid(f"arguments.{name}", f"is required for {operation}")
            return arguments[name]

        now = utcnow()
        if operation in (engine_specs.REACT, engine_specs.EDIT, engine_specs.REVOKE, engine_specs.DELETE_FOR_ME):
            return self._on_message(engine, operation, _message(profile_id, argument("message_id")), arguments, now)
        if operation == engine_specs.MARK_READ:
            return {"message_ids": self._mark_read(engine, profile_id, argument("chat_id"),
                                                   arguments.get("message_ids") or None, now)}
        if operation == engine_specs.PRESENCE:
            chat_id = argument("chat_id")
            with database.connection_context():
                newest = lifecycle.unread(profile_id, chat_id).order_by(Message.created_at.desc()).first() or (
                    Message.select().where((Message.profile == profile_id) & (Message.chat_id == chat_id)
                                           & (Message.direction == "INBOUND"))
                    .order_by(Message.created_at.desc()).first())
            engine.send_presence(chat_id, argument("presence"), _ref(newest) if newest is not None else None)
            return {}
        if operation == engine_specs.LIST_TEMPLATES:
            return {"templates": engine.list_templates()}
        if operation == engine_specs.LOOKUP:
            return {"chat_ids": engine.lookup(list(argument("phone_numbers")))}
        if operation == engine_specs.CONTACT_PICTURE:
            chat_id = argument("chat_id")
            picture = engine.contact_picture(chat_id)
            if picture is None:
                raise ApiError("NOT_FOUND", f"{chat_id} has no profile picture, or hides it from this profile")
            return {"chat_id": chat_id, "url": picture.url, "picture_id": picture.picture_id}
        chat_ids = list(argument("chat_ids"))  # block, unblock
        engine.update_blocklist(chat_ids, block=operation == engine_specs.BLOCK)
        return {"chat_ids": chat_ids}

    def _on_message(self, engine: base.Engine, operation: str, message: Message, arguments: dict[str, Any],
                    now: dt.datetime) -> dict[str, Any]:
        ref = _ref(message)
        if operation == engine_specs.REACT:
            lifecycle.check_reactable(message)
            emoji = str(arguments.get("emoji", ""))
            engine.react(ref, emoji)
            with database.connection_context():
                lifecycle.reacted(message.profile_id, wa_message_id=ref.wa_message_id, chat_id=message.chat_id,
                                  sender=_own_chat_id(message.profile_id), emoji=emoji, from_me=True, now=now)
        elif operation == engine_specs.EDIT:
            lifecycle.check_editable(message, now)
            text = str(arguments.get("text", ""))
            engine.edit(ref, text)
            with database.connection_context():
                lifecycle.edited(message.profile_id, wa_message_id=ref.wa_message_id, chat_id=message.chat_id,
                                 sender=_own_chat_id(message.profile_id), text=text, from_me=True, now=now)
        elif operation == engine_specs.REVOKE:
            lifecycle.check_revocable(message, now)
            engine.revoke(ref)
            with database.connection_context():
                lifecycle.revoked(message.profile_id, wa_message_id=ref.wa_message_id, chat_id=message.chat_id,
                                  sender=_own_chat_id(message.profile_id), from_me=True, now=now)
        else:  # delete_for_me
            lifecycle.check_on_whatsapp(message)
            engine.delete_for_me(ref)
            with database.connection_context():
                lifecycle.deleted_for_me(message, now)
        return {}

    def _mark_read(self, engine: base.Engine, profile_id: str, chat_id: str, message_ids: list[str] | None,
                   now: dt.datetime) -> list[str]:
        with database.connection_context():
            query = lifecycle.unread(profile_id, chat_id)
            if message_ids is not None:
                query = query.where(Message.id.in_(message_ids))
            rows = list(query.order_by(Message.created_at))
        if not rows:
            return []
        engine.mark_read(chat_id, [_ref(row) for row in rows])
        with database.connection_context():
            return lifecycle.marked_read(profile_id, chat_id, [row.id for row in rows], now)

    # Media

    def download(self, message_id: str) -> MediaFile:
        """The file of a message: inline (sent), kept, or fetched again and kept."""
        with database.connection_context():
            message = Message.get_or_none(Message.id == message_id)
        if message is None:
            raise not_found("message", message_id)
        media = message.content.get("media")
        if not media:
            raise ApiError("NOT_FOUND", f"message '{message_id}' ({message.type}) has no media")
        filename = media.get("filename") or _filename(message.id, media.get("mimetype", ""))
        if "data" in media:
            return MediaFile(base64.b64decode(media["data"]), media.get("mimetype", ""), filename)
        kept = self.media.get(message.id)
        if kept is not None:
            return MediaFile(kept.data, kept.mimetype, kept.filename)
        if message.direction == "OUTBOUND":
            resolved = resolve_media(message.type, media, self.guard,
                                     voice_note=bool(message.content.get("voice_note")))
            data, mimetype = resolved.data, resolved.mimetype
        else:
            if not message.media_ref:
                raise ApiError("NOT_FOUND", f"message '{message_id}': the engine gave no way to download its media")
            engine = self.sessions.engine(message.profile_id)
            engine.require(engine_specs.DOWNLOAD_MEDIA)
            data, mimetype = engine.download_media(message.media_ref), media.get("mimetype", "")
        self.keep(message, data, mimetype, filename)
        return MediaFile(data, mimetype, filename)

    def keep(self, message: Message, data: bytes, mimetype: str, filename: str = "") -> None:
        """Keep a message's file in the media store until its retention ends."""
        filename = filename or _filename(message.id, mimetype)
        self.media.put(message.id, data, mimetype, filename, message.created_at + self.retention)

    # What the other side did

    def record(self, profile_id: str, event: base.EngineEvent) -> bool:
        """Record a REACTION, EDITED, REVOKED or POLL_VOTE event (in the caller's transaction); False for other
        events."""
        data, now = event.data, utcnow()
        common = {"wa_message_id": data["target"], "chat_id": data.get("chat_id", ""),
                  "sender": data.get("sender", ""), "from_me": False, "now": now}
        if event.type == base.REACTION:
            lifecycle.reacted(profile_id, emoji=data.get("emoji", ""), **common)
        elif event.type == base.EDITED:
            lifecycle.edited(profile_id, text=data.get("text", ""), **common)
        elif event.type == base.REVOKED:
            lifecycle.revoked(profile_id, **common)
        elif event.type == base.POLL_VOTE:
            lifecycle.poll_voted(profile_id, poll_wa_id=data["target"], chat_id=data.get("chat_id", ""),
                                 voter=data.get("voter", ""), option_hashes=list(data.get("option_hashes", ())),
                                 now=now)
        else:
            return False
        return True


def _message(profile_id: str, message_id: str) -> Message:
    with database.connection_context():
        message = Message.get_or_none((Message.id == message_id) & (Message.profile == profile_id))
    if message is None:
        raise not_found("message", message_id)
    return message


def quote(profile_id: str, message_id: str) -> base.Quote:
    """The message a reply quotes, by the gateway's id: WhatsApp's id for it and its content, from the store (the one
    place our ids become WhatsApp's for a reply). The API checked the id when it accepted the reply; a target that
    failed since, so that WhatsApp never had it, fails the reply (VALIDATION_ERROR naming `replyTo`)."""
    with database.connection_context():
        target = Message.get_or_none((Message.id == message_id) & (Message.profile == profile_id))
    if target is None or not lifecycle.sent_to_whatsapp(target):
        state = "gone" if target is None else target.status
        raise invalid("replyTo", f"message '{message_id}' is {state}: WhatsApp does not have it, so it cannot be "
                                 "quoted")
    ref = _ref(target)
    content = dict(target.content)
    if "media" in content:  # described, not carried: the quote shows the kind and caption
        content["media"] = {key: value for key, value in content["media"].items() if key != "data"}
    return base.Quote(wa_message_id=ref.wa_message_id, chat_id=ref.chat_id, sender=ref.sender, type=ref.type,
                      content=content)


def _ref(message: Message) -> base.MessageRef:
    return base.MessageRef(wa_message_id=message.wa_message_id or "", chat_id=message.chat_id,
                           sender="" if message.direction == "OUTBOUND" else message.sender,
                           type=message.type.lower())


def _own_chat_id(profile_id: str) -> str:
    with database.connection_context():
        profile = Profile.get_or_none(Profile.id == profile_id)
    return phone_to_chat_id(profile.phone_number) if profile is not None and profile.phone_number else ""


def _filename(message_id: str, mimetype: str) -> str:
    extension = {"audio/ogg": ".ogg", "image/webp": ".webp", "image/jpeg": ".jpg"}.get(
        mimetype.split(";")[0], mimetypes.guess_extension(mimetype.split(";")[0]) or "")
    return f"{message_id}{extension}"

"""MessageService: the sends (stored first, delivered by the workers), reading messages back, and acting on sent
and received messages through the profile's engine (reactions, edits, deletions, media)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format

from server.api.auth import current_principal, get_visible
from server.api.services.chat_calls import chat_call, download_media
from server.api.services.profiles import acting_profile, get_profile
from server.core import content, engine_specs, lids, lifecycle
from server.core.config import Settings, load
from server.core.convert import from_timestamp, to_timestamp
from server.core.db import utcnow
from server.core.engine_specs import send_operation
from server.core.errors import ApiError, invalid
from server.core.models import Message
from server.core.pagination import paginate
from server.core.phones import is_group, normalize_chat_id
from server.core.rpc import add_response_header
from wagw.v1 import messages_pb2, messages_pb2_grpc

MAX_MENTIONS = 50


def to_proto(row: Message) -> messages_pb2.Message:
    stored = dict(row.content)
    if "media" in stored:
        # The file itself is not echoed back: it can be megabytes, and the caller has it.
        stored["media"] = {key: value for key, value in stored["media"].items() if key != "data"}
    if row.type == "POLL" and "poll" in stored:
        stored["poll"] = {**stored["poll"], "results": lifecycle.poll_results(stored["poll"], row.poll_votes)}
    message = messages_pb2.Message(
        id=row.id, profile_id=row.profile_id, chat_id=row.chat_id,
        direction=messages_pb2.Message.Direction.Value(row.direction),
        type=messages_pb2.MessageType.Value(row.type),
        content=_content(stored),
        status=messages_pb2.Message.Status.Value(row.status), error=row.error,
        wa_message_id=row.wa_message_id or "", batch_id=row.batch_id or "", reply_to=row.reply_to,
        mentions=row.mentions, sender=row.sender,
        create_time=to_timestamp(row.created_at), sent_time=to_timestamp(row.sent_at),
        delivered_time=to_timestamp(row.delivered_at), read_time=to_timestamp(row.read_at),
        update_time=to_timestamp(row.updated_at), sender_name=row.sender_name or "",
        edit_time=to_timestamp(row.edited_at), revoke_time=to_timestamp(row.revoked_at),
        delete_time=to_timestamp(row.deleted_at),
    )
    for reaction in row.reactions or ():
        message.reactions.add(sender=reaction["sender"], emoji=reaction["emoji"], from_me=reaction["from_me"],
                              time=to_timestamp(_when(reaction["time"])))
    for edit in row.edits or ():
        message.edit_history.add(text=edit["text"], replace_time=to_timestamp(_when(edit["replaced_at"])))
    return message


# The content's plain fields, by the Python type they are stored as.
_SCALARS = {"text": str, "caption": str, "voice_note": bool}


def _content(stored: dict[str, Any]) -> messages_pb2.MessageContent:
    """Stored content (protobuf's JSON, field names as in the proto) as MessageContent. Plain fields are set
    directly: ParseDict costs 10 µs even for a text alone, a quarter of a send's answer. The rest (media, location,
    poll...) goes through ParseDict, which also skips keys an older version stored."""
    plain = {key: value for key, value in stored.items() if isinstance(value, _SCALARS.get(key, ()))}
    message = messages_pb2.MessageContent(**plain)
    if len(plain) < len(stored):
        rest = {key: value for key, value in stored.items() if key not in plain}
        json_format.ParseDict(rest, message, ignore_unknown_fields=True)
    return message


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.removesuffix("Z"))


def idempotency_key(request: Any, context: grpc.ServicerContext) -> str:
    """The request's idempotencyKey, or the Idempotency-Key header (which arrives as gRPC metadata)."""
    header = next((value for key, value in context.invocation_metadata() if key == "idempotency-key"), "")
    key = (request.idempotency_key or header).strip()
    if len(key) > 200:
        raise invalid("idempotencyKey", "must be at most 200 characters")
    return key


class MessageServicer(messages_pb2_grpc.MessageServiceServicer):
    def __init__(self, settings: Settings | None = None):
        self.media_retention = dt.timedelta(days=(settings or load()).media_retention_days)

    def _send(self, type_name: str, request: Any, context: grpc.ServicerContext,
              message_content: messages_pb2.MessageContent, *, mentions: list[str] | None = None
              ) -> messages_pb2.Message:
        if not request.chat_id.strip():
            raise invalid("chatId", "is required")
        chat_id = normalize_chat_id(request.chat_id, "chatId")
        checked = content.check(type_name, message_content)
        reply_to = getattr(request, "reply_to", "").strip()
        mentioned = [normalize_chat_id(item, "mentions") for item in mentions or []]
        if len(mentioned) > MAX_MENTIONS or any(is_group(item) for item in mentioned):
            raise invalid("mentions", f"at most {MAX_MENTIONS} people (not groups)")
        key = idempotency_key(request, context)
        profile = acting_profile(request.profile_id, send_operation(type_name.lower()), recent=True)
        chat_id = lids.phone_chat_id(profile.id, chat_id)  # one person, one conversation
        if reply_to:
            lifecycle.check_reply_target(profile.id, reply_to)
        row = lifecycle.accept_message(profile, chat_id=chat_id, type_name=type_name, content=checked,
                                       reply_to=reply_to, mentions=mentioned,
                                       idempotency_key=key)
        return to_proto(row)

    def SendText(self, request: messages_pb2.SendTextRequest, context: grpc.ServicerContext) -> messages_pb2.Message:
        return self._send("TEXT", request, context, messages_pb2.MessageContent(text=request.text),
                          mentions=list(request.mentions))

    def SendImage(self, request: messages_pb2.SendImageRequest, context: grpc.ServicerContext
                  ) -> messages_pb2.Message:
        return self._send("IMAGE", request, context, _media_content(request))

    def SendVideo(self, request: messages_pb2.SendVideoRequest, context: grpc.ServicerContext
                  ) -> messages_pb2.Message:
        return self._send("VIDEO", request, context, _media_content(request))

    def SendDocument(self, request: messages_pb2.SendDocumentRequest, context: grpc.ServicerContext
                     ) -> messages_pb2.Message:
        return self._send("DOCUMENT", request, context, _media_content(request))

    def SendLocation(self, request: messages_pb2.SendLocationRequest, context: grpc.ServicerContext
                     ) -> messages_pb2.Message:
        return self._send("LOCATION", request, context, _carried(request, "location"))

    def SendContact(self, request: messages_pb2.SendContactRequest, context: grpc.ServicerContext
                    ) -> messages_pb2.Message:
        return self._send("CONTACT", request, context, _carried(request, "contact"))

    def SendPoll(self, request: messages_pb2.SendPollRequest, context: grpc.ServicerContext) -> messages_pb2.Message:
        return self._send("POLL", request, context, _carried(request, "poll"))

    def SendAudio(self, request: messages_pb2.SendAudioRequest, context: grpc.ServicerContext
                  ) -> messages_pb2.Message:
        return self._send("AUDIO", request, context,
                          _carried(request, "media", messages_pb2.MessageContent(voice_note=request.voice_note)))

    def SendSticker(self, request: messages_pb2.SendStickerRequest, context: grpc.ServicerContext
                    ) -> messages_pb2.Message:
        return self._send("STICKER", request, context, _carried(request, "media"))

    def SendTemplate(self, request: messages_pb2.SendTemplateRequest, context: grpc.ServicerContext
                     ) -> messages_pb2.Message:
        return self._send("TEMPLATE", request, context, _carried(request, "template"))

    def ReactToMessage(self, request: messages_pb2.ReactToMessageRequest, context: grpc.ServicerContext
                       ) -> messages_pb2.Message:
        emoji = content.check_emoji(request.emoji)
        message = _visible(request.id)
        profile = acting_profile(message.profile_id, engine_specs.REACT)
        lifecycle.check_reactable(message)
        chat_call(profile, engine_specs.REACT, message_id=message.id, emoji=emoji)
        return to_proto(Message.get_by_id(message.id))

    def EditMessage(self, request: messages_pb2.EditMessageRequest, context: grpc.ServicerContext
                    ) -> messages_pb2.Message:
        text = content.check_text(request.text)
        message = _visible(request.id)
        profile = acting_profile(message.profile_id, engine_specs.EDIT)
        lifecycle.check_editable(message, utcnow())
        chat_call(profile, engine_specs.EDIT, message_id=message.id, text=text)
        return to_proto(Message.get_by_id(message.id))

    def DeleteMessage(self, request: messages_pb2.DeleteMessageRequest, context: grpc.ServicerContext
                      ) -> messages_pb2.Message:
        message = _visible(request.id)
        operation = engine_specs.DELETE_FOR_ME if request.for_me else engine_specs.REVOKE
        profile = acting_profile(message.profile_id, operation)
        if request.for_me:
            lifecycle.check_on_whatsapp(message)
        else:
            lifecycle.check_revocable(message, utcnow())
        chat_call(profile, operation, message_id=message.id)
        return to_proto(Message.get_by_id(message.id))

    def GetMessageMedia(self, request: messages_pb2.GetMessageMediaRequest, context: grpc.ServicerContext
                        ) -> httpbody_pb2.HttpBody:
        message = _visible(request.id)
        if not message.content.get("media"):
            raise ApiError("NOT_FOUND", f"message '{message.id}' ({message.type}) has no media")
        if utcnow() - message.created_at > self.media_retention:
            raise ApiError("GONE", f"the media of message '{message.id}' is past its retention of "
                                   f"{self.media_retention.days} days and is no longer kept")
        media = download_media(get_profile(message.profile_id), message.id)
        add_response_header("content-disposition", _attachment(media.filename))
        return httpbody_pb2.HttpBody(content_type=media.mimetype or "application/octet-stream", data=media.data)

    def GetMessage(self, request: messages_pb2.GetMessageRequest, context: grpc.ServicerContext
                   ) -> messages_pb2.Message:
        return to_proto(_visible(request.id))

    def ListMessages(self, request: messages_pb2.ListMessagesRequest, context: grpc.ServicerContext
                     ) -> messages_pb2.ListMessagesResponse:
        principal = current_principal()
        query = Message.select()
        if request.profile_id:
            principal.require_profile(request.profile_id)
            query = query.where(Message.profile == request.profile_id)
        elif principal.profile_ids is not None:
            query = query.where(Message.profile.in_(sorted(principal.profile_ids)))
        if request.chat_id:
            query = query.where(Message.chat_id == normalize_chat_id(request.chat_id, "chatId"))
        if request.direction:
            query = query.where(Message.direction == messages_pb2.Message.Direction.Name(request.direction))
        if request.status:
            query = query.where(Message.status == messages_pb2.Message.Status.Name(request.status))
        start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
        if start:
            query = query.where(Message.created_at >= start)
        if end:
            query = query.where(Message.created_at < end)
        rows, token, total = paginate(query, Message.id, request.page_size, request.page_token, newest_first=True)
        return messages_pb2.ListMessagesResponse(messages=[to_proto(row) for row in rows], next_page_token=token,
                                                 total_size=total)


def _visible(message_id: str) -> Message:
    """The caller's message by id (NOT_FOUND for an unknown id and for another's message alike)."""
    if not message_id.strip():
        raise invalid("id", "is required")
    return get_visible(Message.get_or_none(Message.id == message_id), "message", message_id)


def _attachment(filename: str) -> str:
    """A Content-Disposition naming the file: plain ASCII, and RFC 5987's UTF-8 form for any other name."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "file"
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(filename)}'


def _media_content(request: Any) -> messages_pb2.MessageContent:
    return _carried(request, "media", messages_pb2.MessageContent(caption=request.caption))


def _carried(request: Any, field: str, body: messages_pb2.MessageContent | None = None
             ) -> messages_pb2.MessageContent:
    """The message's content: `body` (empty by default) with the request's `field` copied in when it was given
    (left unset otherwise, so validation names it as missing)."""
    body = body if body is not None else messages_pb2.MessageContent()
    if request.HasField(field):
        getattr(body, field).CopyFrom(getattr(request, field))
    return body



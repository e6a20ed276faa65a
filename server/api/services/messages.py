"""MessageService: the seven sends (stored first, delivered by the workers) and reading messages back."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from server.api.auth import current_principal, get_visible
from server.api.services.profiles import acting_profile
from server.core import content, lifecycle
from server.core.convert import from_timestamp, to_timestamp
from server.core.engine_specs import send_operation
from server.core.errors import invalid
from server.core.models import Message
from server.core.pagination import paginate
from server.core.phones import is_group, normalize_chat_id
from wagw.v1 import messages_pb2, messages_pb2_grpc

MAX_MENTIONS = 50


def to_proto(row: Message) -> messages_pb2.Message:
    stored = dict(row.content)
    if "media" in stored:
        # The file itself is not echoed back: it can be megabytes, and the caller has it.
        stored["media"] = {key: value for key, value in stored["media"].items() if key != "data"}
    return messages_pb2.Message(
        id=row.id, profile_id=row.profile_id, chat_id=row.chat_id,
        direction=messages_pb2.Message.Direction.Value(row.direction),
        type=messages_pb2.MessageType.Value(row.type),
        content=json_format.ParseDict(stored, messages_pb2.MessageContent(), ignore_unknown_fields=True),
        status=messages_pb2.Message.Status.Value(row.status), error=row.error,
        wa_message_id=row.wa_message_id or "", batch_id=row.batch_id or "", reply_to=row.reply_to,
        mentions=row.mentions, sender=row.sender,
        create_time=to_timestamp(row.created_at), sent_time=to_timestamp(row.sent_at),
        delivered_time=to_timestamp(row.delivered_at), read_time=to_timestamp(row.read_at),
        update_time=to_timestamp(row.updated_at),
    )


def idempotency_key(request: Any, context: grpc.ServicerContext) -> str:
    """The request's idempotencyKey, or the Idempotency-Key header (which arrives as gRPC metadata)."""
    header = next((value for key, value in context.invocation_metadata() if key == "idempotency-key"), "")
    key = (request.idempotency_key or header).strip()
    if len(key) > 200:
        raise invalid("idempotencyKey", "must be at most 200 characters")
    return key


class MessageServicer(messages_pb2_grpc.MessageServiceServicer):
    def _send(self, type_name: str, request: Any, context: grpc.ServicerContext,
              message_content: messages_pb2.MessageContent, *, mentions: list[str] | None = None
              ) -> messages_pb2.Message:
        if not request.chat_id.strip():
            raise invalid("chatId", "is required")
        chat_id = normalize_chat_id(request.chat_id, "chatId")
        checked = content.check(type_name, message_content)
        if len(getattr(request, "reply_to", "")) > 128:
            raise invalid("replyTo", "must be at most 128 characters")
        mentioned = [normalize_chat_id(item, "mentions") for item in mentions or []]
        if len(mentioned) > MAX_MENTIONS or any(is_group(item) for item in mentioned):
            raise invalid("mentions", f"at most {MAX_MENTIONS} people (not groups)")
        key = idempotency_key(request, context)
        profile = acting_profile(request.profile_id, send_operation(type_name.lower()))
        row = lifecycle.accept_message(profile, chat_id=chat_id, type_name=type_name, content=checked,
                                       reply_to=getattr(request, "reply_to", ""), mentions=mentioned,
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
        body = messages_pb2.MessageContent()
        if request.HasField("location"):
            body.location.CopyFrom(request.location)
        return self._send("LOCATION", request, context, body)

    def SendContact(self, request: messages_pb2.SendContactRequest, context: grpc.ServicerContext
                    ) -> messages_pb2.Message:
        body = messages_pb2.MessageContent()
        if request.HasField("contact"):
            body.contact.CopyFrom(request.contact)
        return self._send("CONTACT", request, context, body)

    def SendPoll(self, request: messages_pb2.SendPollRequest, context: grpc.ServicerContext) -> messages_pb2.Message:
        body = messages_pb2.MessageContent()
        if request.HasField("poll"):
            body.poll.CopyFrom(request.poll)
        return self._send("POLL", request, context, body)

    def GetMessage(self, request: messages_pb2.GetMessageRequest, context: grpc.ServicerContext
                   ) -> messages_pb2.Message:
        return to_proto(get_visible(Message.get_or_none(Message.id == request.id), "message", request.id))

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


def _media_content(request: Any) -> messages_pb2.MessageContent:
    body = messages_pb2.MessageContent(caption=request.caption)
    if request.HasField("media"):
        body.media.CopyFrom(request.media)
    return body



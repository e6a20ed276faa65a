"""ChatService: a profile's conversations, made from the gateway's own message log; marking them read and showing
the profile typing or recording in them (through its engine: server/engine_host/conversations.py).

A chat is every message of a profile with one chat id. Its name comes from the profile's contacts, else from the
push name of the person's latest message; its unread count is the received messages not marked read (MarkChatRead,
which also sends WhatsApp's read receipts). Pages of chats go by offset: chats reorder as messages arrive, so no
cursor stays put, and a chat that became active between two pages moves to the first one.
"""

from __future__ import annotations

import base64
from typing import Any

import grpc
import peewee

from server.api.services.chat_calls import chat_call
from server.api.services.messages import to_proto as message_proto
from server.api.services.profiles import acting_profile, get_profile
from server.core import engine_specs, lids, lifecycle
from server.core.convert import to_timestamp
from server.core.errors import ApiError, invalid
from server.core.models import Contact, Message
from server.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate
from server.core.phones import is_group, normalize_chat_id
from wagw.v1 import chats_pb2, chats_pb2_grpc

MAX_READ_IDS = 500


class ChatServicer(chats_pb2_grpc.ChatServiceServicer):
    def ListChats(self, request: chats_pb2.ListChatsRequest, context: grpc.ServicerContext
                  ) -> chats_pb2.ListChatsResponse:
        profile = get_profile(_profile_id(request.profile_id))
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
        offset = _offset(request.page_token)
        last = peewee.fn.MAX(Message.created_at)
        chats = (Message.select(Message.chat_id, last.alias("last"))
                 .where(Message.profile == profile.id).group_by(Message.chat_id))
        total = chats.count()
        page = list(chats.order_by(last.desc(), Message.chat_id).offset(offset).limit(size).tuples())
        token = _token(offset + size) if offset + size < total else ""
        return chats_pb2.ListChatsResponse(chats=[_chat(profile.id, chat_id) for chat_id, _ in page],
                                           next_page_token=token, total_size=total)

    def ListChatMessages(self, request: chats_pb2.ListChatMessagesRequest, context: grpc.ServicerContext
                         ) -> chats_pb2.ListChatMessagesResponse:
        profile = get_profile(_profile_id(request.profile_id))
        chat_id = _chat_id(request.chat_id, profile.id)
        query = Message.select().where((Message.profile == profile.id) & (Message.chat_id == chat_id))
        rows, token, total = paginate(query, Message.id, request.page_size, request.page_token, newest_first=True)
        return chats_pb2.ListChatMessagesResponse(messages=[message_proto(row) for row in rows],
                                                  next_page_token=token, total_size=total)

    def MarkChatRead(self, request: chats_pb2.MarkChatReadRequest, context: grpc.ServicerContext
                     ) -> chats_pb2.MarkChatReadResponse:
        profile_id = _profile_id(request.profile_id)
        chat_id = _chat_id(request.chat_id, profile_id)
        ids = list(dict.fromkeys(request.message_ids))
        if len(ids) > MAX_READ_IDS:
            raise invalid("messageIds", f"give at most {MAX_READ_IDS} message ids")
        profile = acting_profile(profile_id, engine_specs.MARK_READ)
        if ids:
            found = {row.id for row in Message.select(Message.id).where(
                (Message.profile == profile.id) & (Message.chat_id == chat_id) & (Message.direction == "INBOUND")
                & Message.id.in_(ids))}
            missing = [message_id for message_id in ids if message_id not in found]
            if missing:
                raise ApiError("NOT_FOUND", f"messageIds: '{missing[0]}' is no received message of chat {chat_id}",
                               field="messageIds")
        arguments: dict[str, Any] = {"chat_id": chat_id}
        if ids:
            arguments["message_ids"] = ids
        answer = chat_call(profile, engine_specs.MARK_READ, **arguments)
        return chats_pb2.MarkChatReadResponse(message_ids=answer.get("message_ids", []),
                                              unread_count=lifecycle.unread(profile.id, chat_id).count())

    def SendChatPresence(self, request: chats_pb2.SendChatPresenceRequest, context: grpc.ServicerContext
                         ) -> chats_pb2.SendChatPresenceResponse:
        profile_id = _profile_id(request.profile_id)
        chat_id = _chat_id(request.chat_id, profile_id)
        if not request.presence:
            raise invalid("presence", "must be typing, recording or paused")
        presence = chats_pb2.SendChatPresenceRequest.Presence.Name(request.presence).lower()
        profile = acting_profile(profile_id, engine_specs.PRESENCE)
        chat_call(profile, engine_specs.PRESENCE, chat_id=chat_id, presence=presence)
        return chats_pb2.SendChatPresenceResponse()


def _chat(profile_id: str, chat_id: str) -> chats_pb2.Chat:
    newest = (Message.select().where((Message.profile == profile_id) & (Message.chat_id == chat_id))
              .order_by(Message.created_at.desc(), Message.id.desc()).first())
    return chats_pb2.Chat(id=chat_id, profile_id=profile_id, name=_name(profile_id, chat_id),
                          is_group=is_group(chat_id), last_message=message_proto(newest),
                          unread_count=lifecycle.unread(profile_id, chat_id).count(),
                          last_message_time=to_timestamp(newest.created_at))


def _name(profile_id: str, chat_id: str) -> str:
    """The contact's name, else the push name of the person's latest message that had one."""
    if is_group(chat_id):
        return ""
    contact = Contact.get_or_none((Contact.profile == profile_id)
                                  & (Contact.phone_number == "+" + chat_id.partition("@")[0]))
    if contact is not None and contact.name:
        return contact.name
    named = (Message.select(Message.sender_name)
             .where((Message.profile == profile_id) & (Message.chat_id == chat_id)
                    & Message.sender_name.is_null(False) & (Message.sender_name != ""))
             .order_by(Message.created_at.desc()).first())
    return named.sender_name if named is not None else ""


def _profile_id(raw: str) -> str:
    if not raw.strip():
        raise invalid("profileId", "is required")
    return raw


def _chat_id(raw: str, profile_id: str) -> str:
    """The chat id given, as the profile files it: a LID whose phone number it knows is that number's chat (one
    person, one conversation: server/core/lids.py)."""
    if not raw.strip():
        raise invalid("chatId", "is required")
    return lids.phone_chat_id(profile_id, normalize_chat_id(raw, "chatId"))


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise invalid("pageToken", "is not a token of this list") from None
    if offset < 0:
        raise invalid("pageToken", "is not a token of this list")
    return offset


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()

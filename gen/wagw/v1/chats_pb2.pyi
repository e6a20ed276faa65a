import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wagw.v1 import messages_pb2 as _messages_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Chat(_message.Message):
    __slots__ = ("id", "profile_id", "name", "is_group", "last_message", "unread_count", "last_message_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_GROUP_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    profile_id: str
    name: str
    is_group: bool
    last_message: _messages_pb2.Message
    unread_count: int
    last_message_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., profile_id: _Optional[str] = ..., name: _Optional[str] = ..., is_group: _Optional[bool] = ..., last_message: _Optional[_Union[_messages_pb2.Message, _Mapping]] = ..., unread_count: _Optional[int] = ..., last_message_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListChatsRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChatsResponse(_message.Message):
    __slots__ = ("chats", "next_page_token", "total_size")
    CHATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    chats: _containers.RepeatedCompositeFieldContainer[Chat]
    next_page_token: str
    total_size: int
    def __init__(self, chats: _Optional[_Iterable[_Union[Chat, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListChatMessagesRequest(_message.Message):
    __slots__ = ("chat_id", "profile_id", "page_size", "page_token")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, chat_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChatMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token", "total_size")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_messages_pb2.Message]
    next_page_token: str
    total_size: int
    def __init__(self, messages: _Optional[_Iterable[_Union[_messages_pb2.Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class MarkChatReadRequest(_message.Message):
    __slots__ = ("chat_id", "profile_id", "message_ids")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    profile_id: str
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chat_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., message_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MarkChatReadResponse(_message.Message):
    __slots__ = ("message_ids", "unread_count")
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    unread_count: int
    def __init__(self, message_ids: _Optional[_Iterable[str]] = ..., unread_count: _Optional[int] = ...) -> None: ...

class SendChatPresenceRequest(_message.Message):
    __slots__ = ("chat_id", "profile_id", "presence")
    class Presence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRESENCE_UNSPECIFIED: _ClassVar[SendChatPresenceRequest.Presence]
        TYPING: _ClassVar[SendChatPresenceRequest.Presence]
        RECORDING: _ClassVar[SendChatPresenceRequest.Presence]
        PAUSED: _ClassVar[SendChatPresenceRequest.Presence]
    PRESENCE_UNSPECIFIED: SendChatPresenceRequest.Presence
    TYPING: SendChatPresenceRequest.Presence
    RECORDING: SendChatPresenceRequest.Presence
    PAUSED: SendChatPresenceRequest.Presence
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    profile_id: str
    presence: SendChatPresenceRequest.Presence
    def __init__(self, chat_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., presence: _Optional[_Union[SendChatPresenceRequest.Presence, str]] = ...) -> None: ...

class SendChatPresenceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

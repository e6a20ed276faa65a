import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wagw.v1 import templates_pb2 as _templates_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_TYPE_UNSPECIFIED: _ClassVar[MessageType]
    TEXT: _ClassVar[MessageType]
    IMAGE: _ClassVar[MessageType]
    VIDEO: _ClassVar[MessageType]
    DOCUMENT: _ClassVar[MessageType]
    LOCATION: _ClassVar[MessageType]
    CONTACT: _ClassVar[MessageType]
    POLL: _ClassVar[MessageType]
    AUDIO: _ClassVar[MessageType]
    STICKER: _ClassVar[MessageType]
    TEMPLATE: _ClassVar[MessageType]
MESSAGE_TYPE_UNSPECIFIED: MessageType
TEXT: MessageType
IMAGE: MessageType
VIDEO: MessageType
DOCUMENT: MessageType
LOCATION: MessageType
CONTACT: MessageType
POLL: MessageType
AUDIO: MessageType
STICKER: MessageType
TEMPLATE: MessageType

class Media(_message.Message):
    __slots__ = ("url", "data", "mimetype", "filename", "size", "sha256", "seconds", "waveform")
    URL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    WAVEFORM_FIELD_NUMBER: _ClassVar[int]
    url: str
    data: bytes
    mimetype: str
    filename: str
    size: int
    sha256: str
    seconds: int
    waveform: bytes
    def __init__(self, url: _Optional[str] = ..., data: _Optional[bytes] = ..., mimetype: _Optional[str] = ..., filename: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., seconds: _Optional[int] = ..., waveform: _Optional[bytes] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("latitude", "longitude", "name", "address", "live")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    name: str
    address: str
    live: bool
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., live: _Optional[bool] = ...) -> None: ...

class ContactCard(_message.Message):
    __slots__ = ("full_name", "phone_number", "organization", "vcard")
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    VCARD_FIELD_NUMBER: _ClassVar[int]
    full_name: str
    phone_number: str
    organization: str
    vcard: str
    def __init__(self, full_name: _Optional[str] = ..., phone_number: _Optional[str] = ..., organization: _Optional[str] = ..., vcard: _Optional[str] = ...) -> None: ...

class Poll(_message.Message):
    __slots__ = ("question", "options", "allow_multiple_answers", "results")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MULTIPLE_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    question: str
    options: _containers.RepeatedScalarFieldContainer[str]
    allow_multiple_answers: bool
    results: _containers.RepeatedCompositeFieldContainer[PollResult]
    def __init__(self, question: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., allow_multiple_answers: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[PollResult, _Mapping]]] = ...) -> None: ...

class PollResult(_message.Message):
    __slots__ = ("option", "votes", "voters")
    OPTION_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    option: str
    votes: int
    voters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, option: _Optional[str] = ..., votes: _Optional[int] = ..., voters: _Optional[_Iterable[str]] = ...) -> None: ...

class Reaction(_message.Message):
    __slots__ = ("sender", "emoji", "from_me", "time")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    FROM_ME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    sender: str
    emoji: str
    from_me: bool
    time: _timestamp_pb2.Timestamp
    def __init__(self, sender: _Optional[str] = ..., emoji: _Optional[str] = ..., from_me: _Optional[bool] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MessageEdit(_message.Message):
    __slots__ = ("text", "replace_time")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLACE_TIME_FIELD_NUMBER: _ClassVar[int]
    text: str
    replace_time: _timestamp_pb2.Timestamp
    def __init__(self, text: _Optional[str] = ..., replace_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MessageContent(_message.Message):
    __slots__ = ("text", "media", "caption", "location", "contact", "poll", "voice_note", "contacts", "template")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    POLL_FIELD_NUMBER: _ClassVar[int]
    VOICE_NOTE_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    text: str
    media: Media
    caption: str
    location: Location
    contact: ContactCard
    poll: Poll
    voice_note: bool
    contacts: _containers.RepeatedCompositeFieldContainer[ContactCard]
    template: _templates_pb2.Template
    def __init__(self, text: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., caption: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., contact: _Optional[_Union[ContactCard, _Mapping]] = ..., poll: _Optional[_Union[Poll, _Mapping]] = ..., voice_note: _Optional[bool] = ..., contacts: _Optional[_Iterable[_Union[ContactCard, _Mapping]]] = ..., template: _Optional[_Union[_templates_pb2.Template, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "profile_id", "chat_id", "direction", "type", "content", "status", "error", "wa_message_id", "batch_id", "reply_to", "mentions", "sender", "create_time", "sent_time", "delivered_time", "read_time", "update_time", "reactions", "edit_history", "edit_time", "revoke_time", "delete_time", "sender_name")
    class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DIRECTION_UNSPECIFIED: _ClassVar[Message.Direction]
        OUTBOUND: _ClassVar[Message.Direction]
        INBOUND: _ClassVar[Message.Direction]
    DIRECTION_UNSPECIFIED: Message.Direction
    OUTBOUND: Message.Direction
    INBOUND: Message.Direction
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Message.Status]
        PENDING: _ClassVar[Message.Status]
        SENT: _ClassVar[Message.Status]
        DELIVERED: _ClassVar[Message.Status]
        READ: _ClassVar[Message.Status]
        FAILED: _ClassVar[Message.Status]
        CANCELLED: _ClassVar[Message.Status]
        RECEIVED: _ClassVar[Message.Status]
    STATUS_UNSPECIFIED: Message.Status
    PENDING: Message.Status
    SENT: Message.Status
    DELIVERED: Message.Status
    READ: Message.Status
    FAILED: Message.Status
    CANCELLED: Message.Status
    RECEIVED: Message.Status
    ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TIME_FIELD_NUMBER: _ClassVar[int]
    READ_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REACTIONS_FIELD_NUMBER: _ClassVar[int]
    EDIT_HISTORY_FIELD_NUMBER: _ClassVar[int]
    EDIT_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    profile_id: str
    chat_id: str
    direction: Message.Direction
    type: MessageType
    content: MessageContent
    status: Message.Status
    error: str
    wa_message_id: str
    batch_id: str
    reply_to: str
    mentions: _containers.RepeatedScalarFieldContainer[str]
    sender: str
    create_time: _timestamp_pb2.Timestamp
    sent_time: _timestamp_pb2.Timestamp
    delivered_time: _timestamp_pb2.Timestamp
    read_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    reactions: _containers.RepeatedCompositeFieldContainer[Reaction]
    edit_history: _containers.RepeatedCompositeFieldContainer[MessageEdit]
    edit_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    sender_name: str
    def __init__(self, id: _Optional[str] = ..., profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., direction: _Optional[_Union[Message.Direction, str]] = ..., type: _Optional[_Union[MessageType, str]] = ..., content: _Optional[_Union[MessageContent, _Mapping]] = ..., status: _Optional[_Union[Message.Status, str]] = ..., error: _Optional[str] = ..., wa_message_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., reply_to: _Optional[str] = ..., mentions: _Optional[_Iterable[str]] = ..., sender: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reactions: _Optional[_Iterable[_Union[Reaction, _Mapping]]] = ..., edit_history: _Optional[_Iterable[_Union[MessageEdit, _Mapping]]] = ..., edit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender_name: _Optional[str] = ...) -> None: ...

class SendTextRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "text", "reply_to", "mentions", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    text: str
    reply_to: str
    mentions: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., text: _Optional[str] = ..., reply_to: _Optional[str] = ..., mentions: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendImageRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "media", "caption", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    media: Media
    caption: str
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., caption: _Optional[str] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendVideoRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "media", "caption", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    media: Media
    caption: str
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., caption: _Optional[str] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendDocumentRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "media", "caption", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    media: Media
    caption: str
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., caption: _Optional[str] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendLocationRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "location", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    location: Location
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendContactRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "contact", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    contact: ContactCard
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., contact: _Optional[_Union[ContactCard, _Mapping]] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendPollRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "poll", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    POLL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    poll: Poll
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., poll: _Optional[_Union[Poll, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendAudioRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "media", "voice_note", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    VOICE_NOTE_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    media: Media
    voice_note: bool
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., voice_note: _Optional[bool] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendStickerRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "media", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    media: Media
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendTemplateRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "template", "reply_to", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    template: _templates_pb2.Template
    reply_to: str
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., template: _Optional[_Union[_templates_pb2.Template, _Mapping]] = ..., reply_to: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ReactToMessageRequest(_message.Message):
    __slots__ = ("id", "emoji")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    id: str
    emoji: str
    def __init__(self, id: _Optional[str] = ..., emoji: _Optional[str] = ...) -> None: ...

class EditMessageRequest(_message.Message):
    __slots__ = ("id", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class DeleteMessageRequest(_message.Message):
    __slots__ = ("id", "for_me")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOR_ME_FIELD_NUMBER: _ClassVar[int]
    id: str
    for_me: bool
    def __init__(self, id: _Optional[str] = ..., for_me: _Optional[bool] = ...) -> None: ...

class GetMessageMediaRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("profile_id", "chat_id", "direction", "status", "start_time", "end_time", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    chat_id: str
    direction: Message.Direction
    status: Message.Status
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., direction: _Optional[_Union[Message.Direction, str]] = ..., status: _Optional[_Union[Message.Status, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token", "total_size")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_page_token: str
    total_size: int
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

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

class BulkMessage(_message.Message):
    __slots__ = ("chat_id", "type", "content", "variables")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    type: _messages_pb2.MessageType
    content: _messages_pb2.MessageContent
    variables: _containers.ScalarMap[str, str]
    def __init__(self, chat_id: _Optional[str] = ..., type: _Optional[_Union[_messages_pb2.MessageType, str]] = ..., content: _Optional[_Union[_messages_pb2.MessageContent, _Mapping]] = ..., variables: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BulkOptions(_message.Message):
    __slots__ = ("delay_between_messages", "randomize_delay", "stop_on_error", "start_time")
    DELAY_BETWEEN_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    RANDOMIZE_DELAY_FIELD_NUMBER: _ClassVar[int]
    STOP_ON_ERROR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    delay_between_messages: int
    randomize_delay: bool
    stop_on_error: bool
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, delay_between_messages: _Optional[int] = ..., randomize_delay: _Optional[bool] = ..., stop_on_error: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SendBulkRequest(_message.Message):
    __slots__ = ("profile_id", "messages", "options", "idempotency_key")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    messages: _containers.RepeatedCompositeFieldContainer[BulkMessage]
    options: BulkOptions
    idempotency_key: str
    def __init__(self, profile_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[BulkMessage, _Mapping]]] = ..., options: _Optional[_Union[BulkOptions, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class BatchProgress(_message.Message):
    __slots__ = ("total", "sent", "failed", "pending", "cancelled", "delivered", "read")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    total: int
    sent: int
    failed: int
    pending: int
    cancelled: int
    delivered: int
    read: int
    def __init__(self, total: _Optional[int] = ..., sent: _Optional[int] = ..., failed: _Optional[int] = ..., pending: _Optional[int] = ..., cancelled: _Optional[int] = ..., delivered: _Optional[int] = ..., read: _Optional[int] = ...) -> None: ...

class BatchItem(_message.Message):
    __slots__ = ("index", "chat_id", "message_id", "status", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    chat_id: str
    message_id: str
    status: _messages_pb2.Message.Status
    error: str
    def __init__(self, index: _Optional[int] = ..., chat_id: _Optional[str] = ..., message_id: _Optional[str] = ..., status: _Optional[_Union[_messages_pb2.Message.Status, str]] = ..., error: _Optional[str] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_id", "profile_id", "status", "progress", "options", "create_time", "start_time", "estimated_end_time", "end_time", "items", "next_items_page_token", "id")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Batch.Status]
        QUEUED: _ClassVar[Batch.Status]
        PROCESSING: _ClassVar[Batch.Status]
        COMPLETED: _ClassVar[Batch.Status]
        CANCELLED: _ClassVar[Batch.Status]
        FAILED: _ClassVar[Batch.Status]
    STATUS_UNSPECIFIED: Batch.Status
    QUEUED: Batch.Status
    PROCESSING: Batch.Status
    COMPLETED: Batch.Status
    CANCELLED: Batch.Status
    FAILED: Batch.Status
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_END_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ITEMS_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    profile_id: str
    status: Batch.Status
    progress: BatchProgress
    options: BulkOptions
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    estimated_end_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    items: _containers.RepeatedCompositeFieldContainer[BatchItem]
    next_items_page_token: str
    id: str
    def __init__(self, batch_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., status: _Optional[_Union[Batch.Status, str]] = ..., progress: _Optional[_Union[BatchProgress, _Mapping]] = ..., options: _Optional[_Union[BulkOptions, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items: _Optional[_Iterable[_Union[BatchItem, _Mapping]]] = ..., next_items_page_token: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
    __slots__ = ("profile_id", "status", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    status: Batch.Status
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., status: _Optional[_Union[Batch.Status, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches", "next_page_token", "total_size")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    next_page_token: str
    total_size: int
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("batch_id", "items_page_size", "items_page_token")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    items_page_size: int
    items_page_token: str
    def __init__(self, batch_id: _Optional[str] = ..., items_page_size: _Optional[int] = ..., items_page_token: _Optional[str] = ...) -> None: ...

class CancelBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class WatchBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

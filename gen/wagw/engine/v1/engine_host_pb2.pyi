from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectRequest(_message.Message):
    __slots__ = ("profile_id", "phone_number")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    phone_number: str
    def __init__(self, profile_id: _Optional[str] = ..., phone_number: _Optional[str] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("pairing_code",)
    PAIRING_CODE_FIELD_NUMBER: _ClassVar[int]
    pairing_code: str
    def __init__(self, pairing_code: _Optional[str] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class DisconnectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ForgetRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class ForgetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendRequest(_message.Message):
    __slots__ = ("message_id", "profile_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    profile_id: str
    def __init__(self, message_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class SendResponse(_message.Message):
    __slots__ = ("wa_message_id",)
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    def __init__(self, wa_message_id: _Optional[str] = ...) -> None: ...

class ControlRequest(_message.Message):
    __slots__ = ("operation", "arguments")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    operation: str
    arguments: _struct_pb2.Struct
    def __init__(self, operation: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ControlResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Value
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class DeliverWebhookRequest(_message.Message):
    __slots__ = ("profile_id", "payload")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    payload: bytes
    def __init__(self, profile_id: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...

class DeliverWebhookResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: int
    def __init__(self, events: _Optional[int] = ...) -> None: ...

class GroupCallRequest(_message.Message):
    __slots__ = ("profile_id", "operation", "arguments")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    operation: str
    arguments: _struct_pb2.Struct
    def __init__(self, profile_id: _Optional[str] = ..., operation: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GroupCallResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Struct
    def __init__(self, result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ChatCallRequest(_message.Message):
    __slots__ = ("profile_id", "operation", "arguments")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    operation: str
    arguments: _struct_pb2.Struct
    def __init__(self, profile_id: _Optional[str] = ..., operation: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ChatCallResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Struct
    def __init__(self, result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DownloadMediaRequest(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    def __init__(self, message_id: _Optional[str] = ...) -> None: ...

class DownloadMediaResponse(_message.Message):
    __slots__ = ("data", "mimetype", "filename")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mimetype: str
    filename: str
    def __init__(self, data: _Optional[bytes] = ..., mimetype: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

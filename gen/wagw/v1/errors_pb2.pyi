from google.rpc import error_details_pb2 as _error_details_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    VALIDATION_ERROR: _ClassVar[ErrorReason]
    UNAUTHORIZED: _ClassVar[ErrorReason]
    FORBIDDEN: _ClassVar[ErrorReason]
    NOT_FOUND: _ClassVar[ErrorReason]
    CONFLICT: _ClassVar[ErrorReason]
    PROFILE_NOT_CONNECTED: _ClassVar[ErrorReason]
    PAYLOAD_TOO_LARGE: _ClassVar[ErrorReason]
    RATE_LIMITED: _ClassVar[ErrorReason]
    NOT_SUPPORTED: _ClassVar[ErrorReason]
    ENGINE_ERROR: _ClassVar[ErrorReason]
    UNAVAILABLE: _ClassVar[ErrorReason]
    INTERNAL: _ClassVar[ErrorReason]
    NOT_IMPLEMENTED: _ClassVar[ErrorReason]
    NOT_GROUP_ADMIN: _ClassVar[ErrorReason]
    METHOD_NOT_ALLOWED: _ClassVar[ErrorReason]
    HEADERS_TOO_LARGE: _ClassVar[ErrorReason]
    GONE: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
VALIDATION_ERROR: ErrorReason
UNAUTHORIZED: ErrorReason
FORBIDDEN: ErrorReason
NOT_FOUND: ErrorReason
CONFLICT: ErrorReason
PROFILE_NOT_CONNECTED: ErrorReason
PAYLOAD_TOO_LARGE: ErrorReason
RATE_LIMITED: ErrorReason
NOT_SUPPORTED: ErrorReason
ENGINE_ERROR: ErrorReason
UNAVAILABLE: ErrorReason
INTERNAL: ErrorReason
NOT_IMPLEMENTED: ErrorReason
NOT_GROUP_ADMIN: ErrorReason
METHOD_NOT_ALLOWED: ErrorReason
HEADERS_TOO_LARGE: ErrorReason
GONE: ErrorReason

class ErrorDetailTypes(_message.Message):
    __slots__ = ("status", "error_info")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_INFO_FIELD_NUMBER: _ClassVar[int]
    status: _status_pb2.Status
    error_info: _error_details_pb2.ErrorInfo
    def __init__(self, status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., error_info: _Optional[_Union[_error_details_pb2.ErrorInfo, _Mapping]] = ...) -> None: ...

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifyCloudApiWebhookRequest(_message.Message):
    __slots__ = ("profile_id", "hub")
    class Hub(_message.Message):
        __slots__ = ("mode", "verify_token", "challenge")
        MODE_FIELD_NUMBER: _ClassVar[int]
        VERIFY_TOKEN_FIELD_NUMBER: _ClassVar[int]
        CHALLENGE_FIELD_NUMBER: _ClassVar[int]
        mode: str
        verify_token: str
        challenge: str
        def __init__(self, mode: _Optional[str] = ..., verify_token: _Optional[str] = ..., challenge: _Optional[str] = ...) -> None: ...
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    hub: VerifyCloudApiWebhookRequest.Hub
    def __init__(self, profile_id: _Optional[str] = ..., hub: _Optional[_Union[VerifyCloudApiWebhookRequest.Hub, _Mapping]] = ...) -> None: ...

class ReceiveCloudApiWebhookRequest(_message.Message):
    __slots__ = ("profile_id", "payload")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    payload: _httpbody_pb2.HttpBody
    def __init__(self, profile_id: _Optional[str] = ..., payload: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactPicture(_message.Message):
    __slots__ = ("chat_id", "url", "picture_id")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PICTURE_ID_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    url: str
    picture_id: str
    def __init__(self, chat_id: _Optional[str] = ..., url: _Optional[str] = ..., picture_id: _Optional[str] = ...) -> None: ...

class GetContactPictureRequest(_message.Message):
    __slots__ = ("id", "chat_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    chat_id: str
    def __init__(self, id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class BlockContactsRequest(_message.Message):
    __slots__ = ("id", "chat_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    chat_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., chat_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BlockContactsResponse(_message.Message):
    __slots__ = ("chat_ids",)
    CHAT_IDS_FIELD_NUMBER: _ClassVar[int]
    chat_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chat_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UnblockContactsRequest(_message.Message):
    __slots__ = ("id", "chat_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    chat_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., chat_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UnblockContactsResponse(_message.Message):
    __slots__ = ("chat_ids",)
    CHAT_IDS_FIELD_NUMBER: _ClassVar[int]
    chat_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chat_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckNumbersRequest(_message.Message):
    __slots__ = ("id", "phone_numbers")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    phone_numbers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., phone_numbers: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckNumbersResponse(_message.Message):
    __slots__ = ("numbers",)
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    numbers: _containers.RepeatedCompositeFieldContainer[NumberCheck]
    def __init__(self, numbers: _Optional[_Iterable[_Union[NumberCheck, _Mapping]]] = ...) -> None: ...

class NumberCheck(_message.Message):
    __slots__ = ("phone_number", "on_whats_app", "chat_id")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ON_WHATS_APP_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    on_whats_app: bool
    chat_id: str
    def __init__(self, phone_number: _Optional[str] = ..., on_whats_app: _Optional[bool] = ..., chat_id: _Optional[str] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("id", "name", "engine", "status", "phone_number", "last_error", "send_limits", "labels", "create_time", "update_time", "has_session", "delivery_guarantee")
    class Engine(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENGINE_UNSPECIFIED: _ClassVar[Profile.Engine]
        WHATSMEOW: _ClassVar[Profile.Engine]
        CLOUDAPI: _ClassVar[Profile.Engine]
        SIMULATOR: _ClassVar[Profile.Engine]
    ENGINE_UNSPECIFIED: Profile.Engine
    WHATSMEOW: Profile.Engine
    CLOUDAPI: Profile.Engine
    SIMULATOR: Profile.Engine
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Profile.Status]
        DISCONNECTED: _ClassVar[Profile.Status]
        CONNECTING: _ClassVar[Profile.Status]
        QR_READY: _ClassVar[Profile.Status]
        CONNECTED: _ClassVar[Profile.Status]
        RECONNECTING: _ClassVar[Profile.Status]
        LOGGED_OUT: _ClassVar[Profile.Status]
        BANNED: _ClassVar[Profile.Status]
        FAILED: _ClassVar[Profile.Status]
    STATUS_UNSPECIFIED: Profile.Status
    DISCONNECTED: Profile.Status
    CONNECTING: Profile.Status
    QR_READY: Profile.Status
    CONNECTED: Profile.Status
    RECONNECTING: Profile.Status
    LOGGED_OUT: Profile.Status
    BANNED: Profile.Status
    FAILED: Profile.Status
    class DeliveryGuarantee(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DELIVERY_GUARANTEE_UNSPECIFIED: _ClassVar[Profile.DeliveryGuarantee]
        AT_MOST_ONCE: _ClassVar[Profile.DeliveryGuarantee]
        AT_LEAST_ONCE: _ClassVar[Profile.DeliveryGuarantee]
    DELIVERY_GUARANTEE_UNSPECIFIED: Profile.DeliveryGuarantee
    AT_MOST_ONCE: Profile.DeliveryGuarantee
    AT_LEAST_ONCE: Profile.DeliveryGuarantee
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SEND_LIMITS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    HAS_SESSION_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    engine: Profile.Engine
    status: Profile.Status
    phone_number: str
    last_error: str
    send_limits: SendLimits
    labels: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    has_session: bool
    delivery_guarantee: Profile.DeliveryGuarantee
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., engine: _Optional[_Union[Profile.Engine, str]] = ..., status: _Optional[_Union[Profile.Status, str]] = ..., phone_number: _Optional[str] = ..., last_error: _Optional[str] = ..., send_limits: _Optional[_Union[SendLimits, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., has_session: _Optional[bool] = ..., delivery_guarantee: _Optional[_Union[Profile.DeliveryGuarantee, str]] = ...) -> None: ...

class SendLimits(_message.Message):
    __slots__ = ("min_gap_ms", "jitter_ms", "daily_cap")
    MIN_GAP_MS_FIELD_NUMBER: _ClassVar[int]
    JITTER_MS_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAP_FIELD_NUMBER: _ClassVar[int]
    min_gap_ms: int
    jitter_ms: int
    daily_cap: int
    def __init__(self, min_gap_ms: _Optional[int] = ..., jitter_ms: _Optional[int] = ..., daily_cap: _Optional[int] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: Profile.Status
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[Profile.Status, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token", "total_size")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    next_page_token: str
    total_size: int
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class CreateProfileRequest(_message.Message):
    __slots__ = ("id", "name", "engine", "phone_number", "engine_settings", "send_limits", "labels", "delivery_guarantee")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ENGINE_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SEND_LIMITS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    engine: Profile.Engine
    phone_number: str
    engine_settings: _struct_pb2.Struct
    send_limits: SendLimits
    labels: _containers.ScalarMap[str, str]
    delivery_guarantee: Profile.DeliveryGuarantee
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., engine: _Optional[_Union[Profile.Engine, str]] = ..., phone_number: _Optional[str] = ..., engine_settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., send_limits: _Optional[_Union[SendLimits, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., delivery_guarantee: _Optional[_Union[Profile.DeliveryGuarantee, str]] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("id", "name", "delivery_guarantee")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    delivery_guarantee: Profile.DeliveryGuarantee
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., delivery_guarantee: _Optional[_Union[Profile.DeliveryGuarantee, str]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ConnectProfileRequest(_message.Message):
    __slots__ = ("id", "phone_number")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    id: str
    phone_number: str
    def __init__(self, id: _Optional[str] = ..., phone_number: _Optional[str] = ...) -> None: ...

class ConnectProfileResponse(_message.Message):
    __slots__ = ("profile", "pairing_code")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAIRING_CODE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    pairing_code: str
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ..., pairing_code: _Optional[str] = ...) -> None: ...

class GetProfileQrRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ProfileQr(_message.Message):
    __slots__ = ("qr", "png_data_url", "expire_time")
    QR_FIELD_NUMBER: _ClassVar[int]
    PNG_DATA_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    qr: str
    png_data_url: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, qr: _Optional[str] = ..., png_data_url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DisconnectProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LogoutProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SimulateIncomingMessageRequest(_message.Message):
    __slots__ = ("id", "phone_number", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    phone_number: str
    text: str
    def __init__(self, id: _Optional[str] = ..., phone_number: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class SimulateIncomingMessageResponse(_message.Message):
    __slots__ = ("wa_message_id",)
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    def __init__(self, wa_message_id: _Optional[str] = ...) -> None: ...

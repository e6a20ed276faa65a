import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Device(_message.Message):
    __slots__ = ("connection_id", "attachment_id", "profile_id")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    attachment_id: str
    profile_id: str
    def __init__(self, connection_id: _Optional[str] = ..., attachment_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeviceEvent(_message.Message):
    __slots__ = ("attachment_id", "profile_id", "seq", "opened", "credentials", "qr_code", "pairing_code", "qr_timeout", "connected", "disconnected", "logged_out", "banned", "message", "receipt", "group_change", "replaced")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    PAIRING_CODE_FIELD_NUMBER: _ClassVar[int]
    QR_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DISCONNECTED_FIELD_NUMBER: _ClassVar[int]
    LOGGED_OUT_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    GROUP_CHANGE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    profile_id: str
    seq: int
    opened: Opened
    credentials: Credentials
    qr_code: QrCode
    pairing_code: PairingCode
    qr_timeout: QrTimeout
    connected: Connected
    disconnected: Disconnected
    logged_out: LoggedOut
    banned: Banned
    message: IncomingMessage
    receipt: Receipt
    group_change: GroupChange
    replaced: Replaced
    def __init__(self, attachment_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., seq: _Optional[int] = ..., opened: _Optional[_Union[Opened, _Mapping]] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ..., qr_code: _Optional[_Union[QrCode, _Mapping]] = ..., pairing_code: _Optional[_Union[PairingCode, _Mapping]] = ..., qr_timeout: _Optional[_Union[QrTimeout, _Mapping]] = ..., connected: _Optional[_Union[Connected, _Mapping]] = ..., disconnected: _Optional[_Union[Disconnected, _Mapping]] = ..., logged_out: _Optional[_Union[LoggedOut, _Mapping]] = ..., banned: _Optional[_Union[Banned, _Mapping]] = ..., message: _Optional[_Union[IncomingMessage, _Mapping]] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., group_change: _Optional[_Union[GroupChange, _Mapping]] = ..., replaced: _Optional[_Union[Replaced, _Mapping]] = ...) -> None: ...

class Opened(_message.Message):
    __slots__ = ("connection_id",)
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    def __init__(self, connection_id: _Optional[str] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("phone_number", "push_name", "device_id", "token")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PUSH_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    push_name: str
    device_id: int
    token: str
    def __init__(self, phone_number: _Optional[str] = ..., push_name: _Optional[str] = ..., device_id: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class QrCode(_message.Message):
    __slots__ = ("code", "expires_at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, code: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PairingCode(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class QrTimeout(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Connected(_message.Message):
    __slots__ = ("phone_number", "push_name")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PUSH_NAME_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    push_name: str
    def __init__(self, phone_number: _Optional[str] = ..., push_name: _Optional[str] = ...) -> None: ...

class Disconnected(_message.Message):
    __slots__ = ("reason", "reconnect")
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    reconnect: bool
    def __init__(self, reason: _Optional[str] = ..., reconnect: _Optional[bool] = ...) -> None: ...

class LoggedOut(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Banned(_message.Message):
    __slots__ = ("reason", "until")
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    until: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IncomingMessage(_message.Message):
    __slots__ = ("wa_message_id", "chat_id", "sender", "type", "content", "timestamp", "sender_name")
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    chat_id: str
    sender: str
    type: str
    content: str
    timestamp: _timestamp_pb2.Timestamp
    sender_name: str
    def __init__(self, wa_message_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., sender: _Optional[str] = ..., type: _Optional[str] = ..., content: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender_name: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("wa_message_id", "chat_id", "status", "timestamp")
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    chat_id: str
    status: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, wa_message_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., status: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GroupChange(_message.Message):
    __slots__ = ("group_id", "action", "participants", "by", "name", "description", "announce", "locked", "invite_link_revoked")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    INVITE_LINK_REVOKED_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    action: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    by: str
    name: str
    description: str
    announce: bool
    locked: bool
    invite_link_revoked: bool
    def __init__(self, group_id: _Optional[str] = ..., action: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ..., by: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., announce: _Optional[bool] = ..., locked: _Optional[bool] = ..., invite_link_revoked: _Optional[bool] = ...) -> None: ...

class Replaced(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AcknowledgeRequest(_message.Message):
    __slots__ = ("seqs",)
    SEQS_FIELD_NUMBER: _ClassVar[int]
    seqs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, seqs: _Optional[_Iterable[int]] = ...) -> None: ...

class AcknowledgeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AutoPair(_message.Message):
    __slots__ = ("phone_number", "delay_seconds")
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    phone_number: str
    delay_seconds: float
    def __init__(self, phone_number: _Optional[str] = ..., delay_seconds: _Optional[float] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("device", "credentials", "phone_number", "auto_pair")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AUTO_PAIR_FIELD_NUMBER: _ClassVar[int]
    device: Device
    credentials: Credentials
    phone_number: str
    auto_pair: AutoPair
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ..., phone_number: _Optional[str] = ..., auto_pair: _Optional[_Union[AutoPair, _Mapping]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("pairing_code",)
    PAIRING_CODE_FIELD_NUMBER: _ClassVar[int]
    pairing_code: str
    def __init__(self, pairing_code: _Optional[str] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class DisconnectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Media(_message.Message):
    __slots__ = ("mimetype", "filename", "size", "sha256", "data")
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    mimetype: str
    filename: str
    size: int
    sha256: str
    data: bytes
    def __init__(self, mimetype: _Optional[str] = ..., filename: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class SendRequest(_message.Message):
    __slots__ = ("device", "chat_id", "type", "content", "media", "id", "reply_to")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    device: Device
    chat_id: str
    type: str
    content: str
    media: Media
    id: str
    reply_to: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., chat_id: _Optional[str] = ..., type: _Optional[str] = ..., content: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., id: _Optional[str] = ..., reply_to: _Optional[str] = ...) -> None: ...

class SendResponse(_message.Message):
    __slots__ = ("wa_message_id",)
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    def __init__(self, wa_message_id: _Optional[str] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, templates: _Optional[_Iterable[str]] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("device", "phone_numbers")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    phone_numbers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., phone_numbers: _Optional[_Iterable[str]] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("registered",)
    class RegisteredEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: _containers.ScalarMap[str, bool]
    def __init__(self, registered: _Optional[_Mapping[str, bool]] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("chat_id", "role")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    role: str
    def __init__(self, chat_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("group_id", "name", "description", "owner", "created_at", "participants", "announce", "locked")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    name: str
    description: str
    owner: str
    created_at: _timestamp_pb2.Timestamp
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    announce: bool
    locked: bool
    def __init__(self, group_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., announce: _Optional[bool] = ..., locked: _Optional[bool] = ...) -> None: ...

class ParticipantResult(_message.Message):
    __slots__ = ("chat_id", "status", "error")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    status: str
    error: str
    def __init__(self, chat_id: _Optional[str] = ..., status: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("device", "group_id")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    device: Device
    group_id: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., group_id: _Optional[str] = ...) -> None: ...

class CreateGroupRequest(_message.Message):
    __slots__ = ("device", "name", "participants")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    name: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., name: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGroupResponse(_message.Message):
    __slots__ = ("group", "results")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    group: Group
    results: _containers.RepeatedCompositeFieldContainer[ParticipantResult]
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ParticipantResult, _Mapping]]] = ...) -> None: ...

class UpdateGroupRequest(_message.Message):
    __slots__ = ("device", "group_id", "name", "description", "announce", "locked")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    device: Device
    group_id: str
    name: str
    description: str
    announce: bool
    locked: bool
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., group_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., announce: _Optional[bool] = ..., locked: _Optional[bool] = ...) -> None: ...

class UpdateParticipantsRequest(_message.Message):
    __slots__ = ("device", "group_id", "action", "participants")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    group_id: str
    action: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., group_id: _Optional[str] = ..., action: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateParticipantsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ParticipantResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ParticipantResult, _Mapping]]] = ...) -> None: ...

class LeaveGroupRequest(_message.Message):
    __slots__ = ("device", "group_id")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    device: Device
    group_id: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., group_id: _Optional[str] = ...) -> None: ...

class LeaveGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InviteLinkRequest(_message.Message):
    __slots__ = ("device", "group_id", "revoke")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    group_id: str
    revoke: bool
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., group_id: _Optional[str] = ..., revoke: _Optional[bool] = ...) -> None: ...

class InviteLinkResponse(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("qr_code", "phone")
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    qr_code: str
    phone: str
    def __init__(self, qr_code: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnterPairingCodeRequest(_message.Message):
    __slots__ = ("phone", "code")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    code: str
    def __init__(self, phone: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class EnterPairingCodeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendFromRequest(_message.Message):
    __slots__ = ("phone", "to", "type", "content", "media")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    phone: str
    to: str
    type: str
    content: str
    media: Media
    def __init__(self, phone: _Optional[str] = ..., to: _Optional[str] = ..., type: _Optional[str] = ..., content: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ...) -> None: ...

class SendFromResponse(_message.Message):
    __slots__ = ("wa_message_id",)
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    wa_message_id: str
    def __init__(self, wa_message_id: _Optional[str] = ...) -> None: ...

class JoinByInviteRequest(_message.Message):
    __slots__ = ("phone", "code")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    code: str
    def __init__(self, phone: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class JoinByInviteResponse(_message.Message):
    __slots__ = ("group_id",)
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    def __init__(self, group_id: _Optional[str] = ...) -> None: ...

class InboxRequest(_message.Message):
    __slots__ = ("phone_or_chat_id",)
    PHONE_OR_CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    phone_or_chat_id: str
    def __init__(self, phone_or_chat_id: _Optional[str] = ...) -> None: ...

class InboxResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[IncomingMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[IncomingMessage, _Mapping]]] = ...) -> None: ...

class InjectRequest(_message.Message):
    __slots__ = ("profile_id", "fault", "n", "seconds", "operation", "reason")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    fault: str
    n: int
    seconds: float
    operation: str
    reason: str
    def __init__(self, profile_id: _Optional[str] = ..., fault: _Optional[str] = ..., n: _Optional[int] = ..., seconds: _Optional[float] = ..., operation: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class InjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IsRegisteredRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class IsRegisteredResponse(_message.Message):
    __slots__ = ("registered",)
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: bool
    def __init__(self, registered: _Optional[bool] = ...) -> None: ...

class UnregisterRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class UnregisterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetPrivacyRequest(_message.Message):
    __slots__ = ("phone", "refuse_group_add")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    REFUSE_GROUP_ADD_FIELD_NUMBER: _ClassVar[int]
    phone: str
    refuse_group_add: bool
    def __init__(self, phone: _Optional[str] = ..., refuse_group_add: _Optional[bool] = ...) -> None: ...

class SetPrivacyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetOnlineRequest(_message.Message):
    __slots__ = ("phone", "online")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    online: bool
    def __init__(self, phone: _Optional[str] = ..., online: _Optional[bool] = ...) -> None: ...

class SetOnlineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetReadsRequest(_message.Message):
    __slots__ = ("phone", "reads", "delay")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    phone: str
    reads: bool
    delay: float
    def __init__(self, phone: _Optional[str] = ..., reads: _Optional[bool] = ..., delay: _Optional[float] = ...) -> None: ...

class SetReadsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetPushNameRequest(_message.Message):
    __slots__ = ("phone", "name")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    phone: str
    name: str
    def __init__(self, phone: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SetPushNameResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteForMeRequest(_message.Message):
    __slots__ = ("device", "chat_id", "wa_message_id")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    WA_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    device: Device
    chat_id: str
    wa_message_id: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., chat_id: _Optional[str] = ..., wa_message_id: _Optional[str] = ...) -> None: ...

class DeleteForMeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarkReadRequest(_message.Message):
    __slots__ = ("device", "chat_id", "wa_message_ids")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    WA_MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    chat_id: str
    wa_message_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., chat_id: _Optional[str] = ..., wa_message_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MarkReadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendPresenceRequest(_message.Message):
    __slots__ = ("device", "chat_id", "presence")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    chat_id: str
    presence: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., chat_id: _Optional[str] = ..., presence: _Optional[str] = ...) -> None: ...

class SendPresenceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPictureRequest(_message.Message):
    __slots__ = ("device", "chat_id")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    device: Device
    chat_id: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., chat_id: _Optional[str] = ...) -> None: ...

class GetPictureResponse(_message.Message):
    __slots__ = ("url", "picture_id")
    URL_FIELD_NUMBER: _ClassVar[int]
    PICTURE_ID_FIELD_NUMBER: _ClassVar[int]
    url: str
    picture_id: str
    def __init__(self, url: _Optional[str] = ..., picture_id: _Optional[str] = ...) -> None: ...

class UpdateBlocklistRequest(_message.Message):
    __slots__ = ("device", "action", "chat_ids")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHAT_IDS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    action: str
    chat_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., action: _Optional[str] = ..., chat_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateBlocklistResponse(_message.Message):
    __slots__ = ("blocked",)
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, blocked: _Optional[_Iterable[str]] = ...) -> None: ...

class DownloadMediaRequest(_message.Message):
    __slots__ = ("device", "sha256")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    device: Device
    sha256: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., sha256: _Optional[str] = ...) -> None: ...

class DownloadMediaResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class SetPictureRequest(_message.Message):
    __slots__ = ("phone", "picture_id")
    PHONE_FIELD_NUMBER: _ClassVar[int]
    PICTURE_ID_FIELD_NUMBER: _ClassVar[int]
    phone: str
    picture_id: str
    def __init__(self, phone: _Optional[str] = ..., picture_id: _Optional[str] = ...) -> None: ...

class SetPictureResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExpireMediaRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class ExpireMediaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PresencesRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class PresencesResponse(_message.Message):
    __slots__ = ("presences",)
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    presences: _containers.RepeatedCompositeFieldContainer[Presence]
    def __init__(self, presences: _Optional[_Iterable[_Union[Presence, _Mapping]]] = ...) -> None: ...

class Presence(_message.Message):
    __slots__ = ("sender", "chat_id", "presence", "timestamp")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    sender: str
    chat_id: str
    presence: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, sender: _Optional[str] = ..., chat_id: _Optional[str] = ..., presence: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReadByRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class ReadByResponse(_message.Message):
    __slots__ = ("wa_message_ids",)
    WA_MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    wa_message_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, wa_message_ids: _Optional[_Iterable[str]] = ...) -> None: ...

import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Participant(_message.Message):
    __slots__ = ("chat_id", "role")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROLE_UNSPECIFIED: _ClassVar[Participant.Role]
        MEMBER: _ClassVar[Participant.Role]
        ADMIN: _ClassVar[Participant.Role]
        SUPERADMIN: _ClassVar[Participant.Role]
    ROLE_UNSPECIFIED: Participant.Role
    MEMBER: Participant.Role
    ADMIN: Participant.Role
    SUPERADMIN: Participant.Role
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    role: Participant.Role
    def __init__(self, chat_id: _Optional[str] = ..., role: _Optional[_Union[Participant.Role, str]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("group_id", "profile_id", "name", "description", "owner", "create_time", "participants", "announce", "locked", "id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    name: str
    description: str
    owner: str
    create_time: _timestamp_pb2.Timestamp
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    announce: bool
    locked: bool
    id: str
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., announce: _Optional[bool] = ..., locked: _Optional[bool] = ..., id: _Optional[str] = ...) -> None: ...

class ParticipantResult(_message.Message):
    __slots__ = ("chat_id", "status", "error")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[ParticipantResult.Status]
        ADDED: _ClassVar[ParticipantResult.Status]
        REMOVED: _ClassVar[ParticipantResult.Status]
        PROMOTED: _ClassVar[ParticipantResult.Status]
        DEMOTED: _ClassVar[ParticipantResult.Status]
        ALREADY_MEMBER: _ClassVar[ParticipantResult.Status]
        NOT_MEMBER: _ClassVar[ParticipantResult.Status]
        NOT_ON_WHATSAPP: _ClassVar[ParticipantResult.Status]
        PRIVACY_REFUSED: _ClassVar[ParticipantResult.Status]
        NOT_AUTHORIZED: _ClassVar[ParticipantResult.Status]
        FAILED: _ClassVar[ParticipantResult.Status]
        INVITED: _ClassVar[ParticipantResult.Status]
    STATUS_UNSPECIFIED: ParticipantResult.Status
    ADDED: ParticipantResult.Status
    REMOVED: ParticipantResult.Status
    PROMOTED: ParticipantResult.Status
    DEMOTED: ParticipantResult.Status
    ALREADY_MEMBER: ParticipantResult.Status
    NOT_MEMBER: ParticipantResult.Status
    NOT_ON_WHATSAPP: ParticipantResult.Status
    PRIVACY_REFUSED: ParticipantResult.Status
    NOT_AUTHORIZED: ParticipantResult.Status
    FAILED: ParticipantResult.Status
    INVITED: ParticipantResult.Status
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    status: ParticipantResult.Status
    error: str
    def __init__(self, chat_id: _Optional[str] = ..., status: _Optional[_Union[ParticipantResult.Status, str]] = ..., error: _Optional[str] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token", "total_size")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    next_page_token: str
    total_size: int
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("group_id", "profile_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class CreateGroupRequest(_message.Message):
    __slots__ = ("profile_id", "name", "participants")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    name: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, profile_id: _Optional[str] = ..., name: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateGroupResponse(_message.Message):
    __slots__ = ("group", "results", "request_id")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    group: Group
    results: _containers.RepeatedCompositeFieldContainer[ParticipantResult]
    request_id: str
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ParticipantResult, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateGroupRequest(_message.Message):
    __slots__ = ("group_id", "profile_id", "name", "description", "announce", "locked")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    name: str
    description: str
    announce: bool
    locked: bool
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., announce: _Optional[bool] = ..., locked: _Optional[bool] = ...) -> None: ...

class AddParticipantsRequest(_message.Message):
    __slots__ = ("group_id", "profile_id", "participants")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveParticipantsRequest(_message.Message):
    __slots__ = ("group_id", "profile_id", "participants")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class PromoteParticipantsRequest(_message.Message):
    __slots__ = ("group_id", "profile_id", "participants")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class DemoteParticipantsRequest(_message.Message):
    __slots__ = ("group_id", "profile_id", "participants")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class ParticipantsResponse(_message.Message):
    __slots__ = ("group_id", "results")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    results: _containers.RepeatedCompositeFieldContainer[ParticipantResult]
    def __init__(self, group_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[ParticipantResult, _Mapping]]] = ...) -> None: ...

class LeaveGroupRequest(_message.Message):
    __slots__ = ("group_id", "profile_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class LeaveGroupResponse(_message.Message):
    __slots__ = ("group_id",)
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    def __init__(self, group_id: _Optional[str] = ...) -> None: ...

class GetInviteLinkRequest(_message.Message):
    __slots__ = ("group_id", "profile_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class RevokeInviteLinkRequest(_message.Message):
    __slots__ = ("group_id", "profile_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    profile_id: str
    def __init__(self, group_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class InviteLink(_message.Message):
    __slots__ = ("group_id", "link", "code")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    link: str
    code: str
    def __init__(self, group_id: _Optional[str] = ..., link: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

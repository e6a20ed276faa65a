"""GroupService: WhatsApp groups through one of the caller's profiles.

The profile's live engine does the work, on the engine host that holds its session (EngineHostService.GroupCall);
this servicer checks the caller and the fields, decides NOT_SUPPORTED and PROFILE_NOT_CONNECTED before calling,
and turns the engine's answer (the JSON of GroupCallResponse) into the contract's messages. WhatsApp's
own refusals come back with the engine's reason: NOT_GROUP_ADMIN (403) for admin-only changes, NOT_FOUND for a
group the profile does not see, ENGINE_ERROR otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

import grpc
from google.protobuf import json_format, struct_pb2

from server.api.services.profiles import acting_profile, get_profile
from server.core.convert import to_timestamp
from server.core.engine_specs import NotSupported, supports
from server.core.errors import ApiError, invalid
from server.core.models import Profile
from server.core.pagination import paginate_items
from server.core.phones import is_group, normalize_chat_id, normalize_group_id
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2
from wagw.v1 import groups_pb2, groups_pb2_grpc

INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"
# WhatsApp's own limits: a group's size, its name (subject) and its description.
MAX_PARTICIPANTS = 1024
MAX_NAME = 100
MAX_DESCRIPTION = 2048

Role = groups_pb2.Participant.Role
Status = groups_pb2.ParticipantResult.Status


# Fields


def group_id_field(raw: str) -> str:
    """The path's group id as `<id>@g.us`: bare ids get the suffix, and a percent-encoded `@` (%40, as some
    clients write it in a path) is accepted."""
    if not raw.strip():
        raise invalid("groupId", "is required")
    return normalize_group_id(unquote(raw), "groupId")


def participants_field(values: list[str]) -> list[str]:
    """People as canonical chat ids, each once, in the order given; any chat id form is accepted, groups are not."""
    if not values:
        raise invalid("participants", "give at least one participant")
    chat_ids: list[str] = []
    for raw in values:
        chat_id = normalize_chat_id(raw, "participants")
        if is_group(chat_id):
            raise invalid("participants", f"'{raw}' is a group; participants are people")
        if chat_id not in chat_ids:
            chat_ids.append(chat_id)
    if len(chat_ids) > MAX_PARTICIPANTS:
        raise invalid("participants", f"at most {MAX_PARTICIPANTS} (a WhatsApp group's size)")
    return chat_ids


def name_field(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise invalid("name", "must not be empty")
    if len(name) > MAX_NAME:
        raise invalid("name", f"must be at most {MAX_NAME} characters")
    return name


def description_field(raw: str) -> str:
    if len(raw) > MAX_DESCRIPTION:
        raise invalid("description", f"must be at most {MAX_DESCRIPTION} characters")
    return raw


# The acting profile and its engine


def group_call(profile: Profile, operation: str, **arguments: Any) -> dict[str, Any]:
    """Run the operation on the profile's engine host; its answer as JSON (engine_host.proto GroupCallResponse)."""
    struct = struct_pb2.Struct()
    json_format.ParseDict(arguments, struct)
    request = engine_host_pb2.GroupCallRequest(profile_id=profile.id, operation=operation, arguments=struct)
    try:
        reply = engine_client.call(profile, lambda stub: stub.GroupCall, request)
    except ApiError as error:
        if error.code == "FORBIDDEN":
            # WhatsApp's "not a participant of this group". Our FORBIDDEN speaks of the caller's credentials;
            # to this profile, a group it is not in is a group it cannot see.
            raise ApiError("NOT_FOUND", f"group not found for profile '{profile.id}' ({error.message})") from error
        raise
    return json_format.MessageToDict(reply.result)


# Conversions


def to_proto(profile_id: str, data: dict[str, Any]) -> groups_pb2.Group:
    """A group as the engine host answered it (the fields of base.GroupInfo, in JSON); `group_id` repeats `id` for
    callers of the seed's API (proto/wagw/v1/groups.proto)."""
    created = data.get("created_at")
    return groups_pb2.Group(
        id=data["group_id"], group_id=data["group_id"], profile_id=profile_id, name=data.get("name", ""),
        description=data.get("description", ""), owner=data.get("owner", ""),
        create_time=to_timestamp(dt.datetime.fromisoformat(created) if created else None),
        participants=[groups_pb2.Participant(chat_id=member["chat_id"], role=_enum(Role, member.get("role", "MEMBER")))
                      for member in data.get("participants", ())],
        announce=bool(data.get("announce")), locked=bool(data.get("locked")))


def results_to_proto(data: list[dict[str, Any]]) -> list[groups_pb2.ParticipantResult]:
    """Per-participant results as the engine host answered them (base.ParticipantResult, in JSON)."""
    return [groups_pb2.ParticipantResult(chat_id=item["chat_id"], status=_enum(Status, item["status"]),
                                         error=item.get("error", "")) for item in data]


def _enum(enum: Any, name: str) -> int:
    """The enum value of a name an engine gave; UNSPECIFIED (0) for one the contract does not know."""
    value = enum.DESCRIPTOR.values_by_name.get(name)
    return value.number if value is not None else 0


# The service


class GroupServicer(groups_pb2_grpc.GroupServiceServicer):
    def ListGroups(self, request: groups_pb2.ListGroupsRequest, context: grpc.ServicerContext
                   ) -> groups_pb2.ListGroupsResponse:
        profile = acting_profile(request.profile_id, "list_groups")
        groups = list(group_call(profile, "list_groups").get("groups", ()))
        page, token, total = paginate_items(groups, lambda data: data["group_id"], request.page_size,
                                            request.page_token)
        return groups_pb2.ListGroupsResponse(groups=[to_proto(profile.id, data) for data in page],
                                             next_page_token=token, total_size=total)

    def GetGroup(self, request: groups_pb2.GetGroupRequest, context: grpc.ServicerContext) -> groups_pb2.Group:
        group_id = group_id_field(request.group_id)
        profile = acting_profile(request.profile_id, "get_group")
        return to_proto(profile.id, group_call(profile, "get_group", group_id=group_id)["group"])

    def CreateGroup(self, request: groups_pb2.CreateGroupRequest, context: grpc.ServicerContext
                    ) -> groups_pb2.CreateGroupResponse:
        if not request.name.strip():
            raise invalid("name", "is required")
        name = name_field(request.name)
        if not request.profile_id.strip():
            raise invalid("profileId", "is required")
        engine = get_profile(request.profile_id).engine
        if supports(engine, "add_participants"):
            participants = participants_field(list(request.participants))
        elif request.participants:  # invite-only groups (the Cloud API): members join by the invite link
            raise NotSupported(engine, "add_participants")
        else:
            participants = []
        profile = acting_profile(request.profile_id, "create_group")
        answer = group_call(profile, "create_group", name=name, participants=participants)
        return groups_pb2.CreateGroupResponse(
            group=to_proto(profile.id, answer["group"]), results=results_to_proto(answer.get("results", [])),
            request_id=answer["group"].get("request_id", ""))

    def UpdateGroup(self, request: groups_pb2.UpdateGroupRequest, context: grpc.ServicerContext
                    ) -> groups_pb2.Group:
        """Only the fields present change (proto3 `optional`: JSON fields left out are not present)."""
        group_id = group_id_field(request.group_id)
        changes: dict[str, Any] = {}
        if request.HasField("name"):
            changes["name"] = name_field(request.name)
        if request.HasField("description"):
            changes["description"] = description_field(request.description)
        if request.HasField("announce"):
            changes["announce"] = request.announce
        if request.HasField("locked"):
            changes["locked"] = request.locked
        profile = acting_profile(request.profile_id, "update_group")
        answer = group_call(profile, "update_group", group_id=group_id, **changes)
        return to_proto(profile.id, answer["group"])

    def AddParticipants(self, request: groups_pb2.AddParticipantsRequest, context: grpc.ServicerContext
                        ) -> groups_pb2.ParticipantsResponse:
        return self._participants("add", request)

    def RemoveParticipants(self, request: groups_pb2.RemoveParticipantsRequest, context: grpc.ServicerContext
                           ) -> groups_pb2.ParticipantsResponse:
        return self._participants("remove", request)

    def PromoteParticipants(self, request: groups_pb2.PromoteParticipantsRequest, context: grpc.ServicerContext
                            ) -> groups_pb2.ParticipantsResponse:
        return self._participants("promote", request)

    def DemoteParticipants(self, request: groups_pb2.DemoteParticipantsRequest, context: grpc.ServicerContext
                           ) -> groups_pb2.ParticipantsResponse:
        return self._participants("demote", request)

    def LeaveGroup(self, request: groups_pb2.LeaveGroupRequest, context: grpc.ServicerContext
                   ) -> groups_pb2.LeaveGroupResponse:
        group_id = group_id_field(request.group_id)
        profile = acting_profile(request.profile_id, "leave_group")
        group_call(profile, "leave_group", group_id=group_id)
        return groups_pb2.LeaveGroupResponse(group_id=group_id)

    def GetInviteLink(self, request: groups_pb2.GetInviteLinkRequest, context: grpc.ServicerContext
                      ) -> groups_pb2.InviteLink:
        return self._invite_link("invite_link", request)

    def RevokeInviteLink(self, request: groups_pb2.RevokeInviteLinkRequest, context: grpc.ServicerContext
                         ) -> groups_pb2.InviteLink:
        return self._invite_link("revoke_invite_link", request)

    @staticmethod
    def _participants(action: str, request: Any) -> groups_pb2.ParticipantsResponse:
        group_id = group_id_field(request.group_id)
        participants = participants_field(list(request.participants))
        operation = f"{action}_participants"
        profile = acting_profile(request.profile_id, operation)
        answer = group_call(profile, operation, group_id=group_id, participants=participants)
        return groups_pb2.ParticipantsResponse(
            group_id=group_id, results=results_to_proto(answer.get("results", [])))

    @staticmethod
    def _invite_link(operation: str, request: Any) -> groups_pb2.InviteLink:
        group_id = group_id_field(request.group_id)
        profile = acting_profile(request.profile_id, operation)
        code = group_call(profile, operation, group_id=group_id)["code"]
        return groups_pb2.InviteLink(group_id=group_id, link=INVITE_LINK_PREFIX + code, code=code)

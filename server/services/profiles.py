"""ProfileService: the WhatsApp numbers the gateway drives. Session control arrives with the engines."""

from __future__ import annotations

import grpc
import peewee
from google.protobuf import empty_pb2, json_format

from server import validation
from server.auth import current_principal
from server.config import Settings
from server.convert import to_timestamp
from server.db import write_transaction
from server.errors import conflict, forbidden, invalid, not_found
from server.ids import new_id
from server.models import Profile
from server.pagination import paginate
from server.phones import normalize_phone
from wagw.v1 import profiles_pb2, profiles_pb2_grpc

Engine = profiles_pb2.Profile.Engine
ENGINE_NAMES = {Engine.WHATSMEOW: "whatsmeow", Engine.CLOUDAPI: "cloudapi", Engine.SIMULATOR: "simulator"}
ENGINES_BY_NAME = {name: value for value, name in ENGINE_NAMES.items()}
MAX_GAP_MS = 3_600_000


def get_profile(profile_id: str) -> Profile:
    """The profile, if the caller may touch it: FORBIDDEN before NOT_FOUND, so ids of others don't leak."""
    current_principal().require_profile(profile_id)
    profile = Profile.get_or_none(Profile.id == profile_id)
    if profile is None:
        raise not_found("profile", profile_id)
    return profile


def to_proto(row: Profile) -> profiles_pb2.Profile:
    return profiles_pb2.Profile(
        id=row.id,
        name=row.name,
        engine=ENGINES_BY_NAME[row.engine],
        status=profiles_pb2.Profile.Status.Value(row.status),
        phone_number=row.phone_number,
        last_error=row.last_error,
        send_limits=profiles_pb2.SendLimits(
            min_gap_ms=row.min_gap_ms, jitter_ms=row.jitter_ms, daily_cap=row.daily_cap
        ),
        labels=row.labels,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


class ProfileServicer(profiles_pb2_grpc.ProfileServiceServicer):
    def __init__(self, settings: Settings):
        self.settings = settings

    def ListProfiles(self, request: profiles_pb2.ListProfilesRequest, context: grpc.ServicerContext
                     ) -> profiles_pb2.ListProfilesResponse:
        query = Profile.select()
        allowed = current_principal().profile_ids
        if allowed is not None:
            query = query.where(Profile.id.in_(sorted(allowed)))
        if request.status:
            query = query.where(Profile.status == profiles_pb2.Profile.Status.Name(request.status))
        rows, token, total = paginate(query, Profile.id, request.page_size, request.page_token)
        return profiles_pb2.ListProfilesResponse(
            profiles=[to_proto(row) for row in rows], next_page_token=token, total_size=total
        )

    def CreateProfile(self, request: profiles_pb2.CreateProfileRequest, context: grpc.ServicerContext
                      ) -> profiles_pb2.Profile:
        principal = current_principal()
        if request.id:
            profile_id = validation.resource_id(request.id, "id")
        elif principal.profile_ids is not None:
            raise forbidden("a key limited to profiles can only create those profiles: give their id")
        else:
            profile_id = new_id("prf")
        principal.require_profile(profile_id)
        engine = ENGINE_NAMES.get(request.engine) if request.engine else self.settings.default_engine
        if engine is None:
            raise invalid("engine", "must be one of whatsmeow, cloudapi, simulator")
        limits = request.send_limits
        fields = {
            "id": profile_id,
            "name": validation.text(request.name, "name", required=True),
            "engine": engine,
            "phone_number": normalize_phone(request.phone_number, "phoneNumber") if request.phone_number else "",
            "engine_settings": json_format.MessageToDict(request.engine_settings),
            "min_gap_ms": validation.int_range(limits.min_gap_ms, "sendLimits.minGapMs", 0, MAX_GAP_MS),
            "jitter_ms": validation.int_range(limits.jitter_ms, "sendLimits.jitterMs", 0, MAX_GAP_MS),
            "daily_cap": validation.int_range(limits.daily_cap, "sendLimits.dailyCap", 0, 1_000_000),
            "labels": validation.string_map(dict(request.labels), "labels"),
        }
        try:
            with write_transaction():
                row = Profile.create(**fields)
        except peewee.IntegrityError as exc:
            raise conflict(f"profile '{profile_id}' already exists") from exc
        return to_proto(row)

    def GetProfile(self, request: profiles_pb2.GetProfileRequest, context: grpc.ServicerContext
                   ) -> profiles_pb2.Profile:
        return to_proto(get_profile(request.id))

    def DeleteProfile(self, request: profiles_pb2.DeleteProfileRequest, context: grpc.ServicerContext
                      ) -> empty_pb2.Empty:
        profile = get_profile(request.id)
        with write_transaction():
            profile.delete_instance(recursive=True)
        return empty_pb2.Empty()


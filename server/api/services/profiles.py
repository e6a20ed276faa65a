"""ProfileService: the WhatsApp numbers the gateway drives, their sessions, what a number decides about others
(contact pictures, blocking), and (simulator profiles only) messages from simulated contacts."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import grpc
import peewee
import segno
from google.protobuf import empty_pb2, json_format

from server.api import simulated_phones
from server.api.auth import current_principal
from server.api.services.chat_calls import chat_call
from server.core import content, delivery_guarantee, engine_specs, rows, validation
from server.core.config import Settings
from server.core.convert import to_timestamp
from server.core.db import Prepared, utcnow, write_transaction
from server.core.engine_specs import SIMULATED_INCOMING, NotSupported, simulator_phone, supports, validate_settings
from server.core.errors import ApiError, conflict, forbidden, invalid, not_found
from server.core.hosts import VIEW_S, alive_hosts, effective_status
from server.core.ids import new_id
from server.core.models import EngineSession, Profile
from server.core.pagination import paginate
from server.core.phones import is_group, normalize_chat_id, normalize_phone
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2
from wagw.v1 import messages_pb2, profiles_pb2, profiles_pb2_grpc

Engine = profiles_pb2.Profile.Engine
Guarantee = profiles_pb2.Profile.DeliveryGuarantee
ENGINE_NAMES = {Engine.WHATSMEOW: "whatsmeow", Engine.CLOUDAPI: "cloudapi", Engine.SIMULATOR: "simulator"}
ENGINES_BY_NAME = {name: value for value, name in ENGINE_NAMES.items()}
MAX_GAP_MS = 3_600_000
# GET /qr of a profile still CONNECTING waits this long for its first code, looking every QR_POLL_S.
QR_WAIT_S, QR_POLL_S = 10.0, 0.1
# Read on nearly every request: its SQL is built once (server/core/db.py).
_SESSION = Prepared(lambda profile_id: EngineSession.select(EngineSession.profile)
                    .where(EngineSession.profile == profile_id).limit(1))
# Who writes to a simulator profile when SimulateIncomingMessage names no one.
SIMULATED_CONTACT = "+628987654321"


class RecentProfiles:
    """Profiles as this API server last read them. A send takes a view of its profile up to VIEW_S old, as of the
    live hosts (server/core/hosts.py), instead of a query each: on PostgreSQL that query was two of every three
    statements of an accepted send. What a send reads of the row cannot be wrong for long: its
    engine and daily cap are set when the profile is made, and its status follows the hosts' view, which is as old.
    Every fresh read of the profile here (showing it, connecting, disconnecting it) renews the view, and deleting it
    here forgets it; a profile deleted through another server meanwhile fails the send's write (NOT_FOUND)."""

    KEEP = 10_000  # entries past which the expired ones are dropped (profiles deleted elsewhere are never read again)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rows: dict[str, tuple[float, Profile]] = {}

    def get(self, profile_id: str) -> Profile | None:
        entry = self._rows.get(profile_id)
        return entry[1] if entry is not None and self._clock() - entry[0] < VIEW_S else None

    def put(self, profile: Profile) -> None:
        now = self._clock()
        if len(self._rows) >= self.KEEP:
            self._rows = {key: entry for key, entry in self._rows.items() if now - entry[0] < VIEW_S}
        self._rows[profile.id] = (now, profile)

    def forget(self, profile_id: str) -> None:
        self._rows.pop(profile_id, None)


_recent = RecentProfiles()


def get_profile(profile_id: str) -> Profile:
    """The profile as it is now, if the caller may touch it: FORBIDDEN before NOT_FOUND, so ids of others don't
    leak."""
    current_principal().require_profile(profile_id)
    profile = rows.profile(profile_id)
    if profile is None:
        _recent.forget(profile_id)
        raise not_found("profile", profile_id)
    _recent.put(profile)
    return profile


def acting_profile(profile_id: str, operation: str, *, recent: bool = False) -> Profile:
    """The profile a send or a group call goes through: the caller's, with an engine that can do `operation`
    (`send_text`, a base.GROUP_OPERATIONS name, ...), and connected. NOT_SUPPORTED is decided first: it holds
    whatever the status. With `recent` (a send, which only stores the message) the call goes through on a view of the
    row up to VIEW_S old (RecentProfiles); it is refused only on the row as it is now, so a profile that has just
    connected is never refused on an older view. A call that goes on to the profile's engine host reads the row,
    since the host it names may have handed the session over. The row is not to be changed."""
    if not profile_id.strip():
        raise invalid("profileId", "is required")
    current_principal().require_profile(profile_id)
    hosts = alive_hosts(max_age_s=VIEW_S)
    profile = _recent.get(profile_id) if recent else None
    if profile is None or effective_status(profile, hosts) != "CONNECTED":
        profile = get_profile(profile_id)
    if not supports(profile.engine, operation):
        raise NotSupported(profile.engine, operation)
    status = effective_status(profile, hosts)
    if status != "CONNECTED":
        raise ApiError("PROFILE_NOT_CONNECTED", f"profile '{profile_id}' is {status}, not CONNECTED: connect it "
                                                "first")
    return profile


def to_proto(row: Profile, hosts: Collection[str] | None = None, sessions: Collection[str] | None = None
             ) -> profiles_pb2.Profile:
    """`hosts` (live engine host ids) and `sessions` (profile ids with stored credentials) are looked up when
    not given; a list passes them in once for all its rows."""
    hosts = alive_hosts(max_age_s=VIEW_S) if hosts is None else hosts
    if sessions is None:
        stored = row.has_session if row.has_session is not None else _SESSION.first(row.id) is not None
        sessions = {row.id} if stored else set()
    return profiles_pb2.Profile(
        id=row.id,
        name=row.name,
        engine=ENGINES_BY_NAME[row.engine],
        status=profiles_pb2.Profile.Status.Value(effective_status(row, hosts)),
        has_session=row.id in sessions,
        phone_number=row.phone_number,
        last_error=row.last_error,
        send_limits=profiles_pb2.SendLimits(
            min_gap_ms=row.min_gap_ms, jitter_ms=row.jitter_ms, daily_cap=row.daily_cap
        ),
        labels=row.labels,
        delivery_guarantee=Guarantee.Value(row.delivery_guarantee),
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
        hosts = alive_hosts(max_age_s=VIEW_S)
        sessions = {row.profile_id for row in EngineSession.select(EngineSession.profile)
                    .where(EngineSession.profile.in_([row.id for row in rows]))}
        return profiles_pb2.ListProfilesResponse(
            profiles=[to_proto(row, hosts, sessions) for row in rows], next_page_token=token, total_size=total
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
            "engine_settings": validate_settings(engine, json_format.MessageToDict(request.engine_settings)),
            "min_gap_ms": validation.int_range(limits.min_gap_ms, "sendLimits.minGapMs", 0, MAX_GAP_MS),
            "jitter_ms": validation.int_range(limits.jitter_ms, "sendLimits.jitterMs", 0, MAX_GAP_MS),
            "daily_cap": validation.int_range(limits.daily_cap, "sendLimits.dailyCap", 0, 1_000_000),
            "labels": validation.string_map(dict(request.labels), "labels"),
            "delivery_guarantee": _guarantee(request.delivery_guarantee) or delivery_guarantee.DEFAULT,
        }
        try:
            with write_transaction(savepoint=True):
                row = Profile.create(**fields)
        except peewee.IntegrityError as exc:
            raise conflict(f"profile '{profile_id}' already exists") from exc
        return to_proto(row)

    def GetProfile(self, request: profiles_pb2.GetProfileRequest, context: grpc.ServicerContext
                   ) -> profiles_pb2.Profile:
        return to_proto(get_profile(request.id))

    def UpdateProfile(self, request: profiles_pb2.UpdateProfileRequest, context: grpc.ServicerContext
                      ) -> profiles_pb2.Profile:
        profile = get_profile(request.id)
        changes: dict[Any, Any] = {}
        if request.HasField("name"):
            changes[Profile.name] = validation.text(request.name, "name", required=True)
        if request.delivery_guarantee:
            changes[Profile.delivery_guarantee] = _guarantee(request.delivery_guarantee)
        if changes:
            with write_transaction():
                Profile.update({**changes, Profile.updated_at: utcnow()}).where(Profile.id == profile.id).execute()
        return to_proto(get_profile(profile.id))

    def DeleteProfile(self, request: profiles_pb2.DeleteProfileRequest, context: grpc.ServicerContext
                      ) -> empty_pb2.Empty:
        profile = get_profile(request.id)
        if profile.host_id in alive_hosts():
            # Stop the live session and unlink the device first; the stored keys go with the row below.
            engine_client.call(profile, lambda host: host.Forget, engine_host_pb2.ForgetRequest(profile_id=profile.id))
        with write_transaction():
            profile.delete_instance(recursive=True)
        _recent.forget(profile.id)
        return empty_pb2.Empty()

    def ConnectProfile(self, request: profiles_pb2.ConnectProfileRequest, context: grpc.ServicerContext
                       ) -> profiles_pb2.ConnectProfileResponse:
        profile = get_profile(request.id)
        phone_number = normalize_phone(request.phone_number, "phoneNumber") if request.phone_number else ""
        reply = engine_client.call(profile, lambda host: host.Connect,
                                   engine_host_pb2.ConnectRequest(profile_id=profile.id, phone_number=phone_number))
        return profiles_pb2.ConnectProfileResponse(profile=to_proto(get_profile(profile.id)),
                                                   pairing_code=reply.pairing_code)

    def GetProfileQr(self, request: profiles_pb2.GetProfileQrRequest, context: grpc.ServicerContext
                     ) -> profiles_pb2.ProfileQr:
        profile = get_profile(request.id)
        status = effective_status(profile, alive_hosts())
        waited_until = time.monotonic() + QR_WAIT_S
        while status == "CONNECTING" and time.monotonic() < waited_until:
            # Just connected: the first code is on its way from WhatsApp (an event), so the README's "connect,
            # then GET /qr" works as written instead of answering CONFLICT for the next moment.
            time.sleep(QR_POLL_S)
            profile = get_profile(request.id)
            status = effective_status(profile, alive_hosts())
        if status != "QR_READY" or not profile.qr_code or (profile.qr_expires_at or utcnow()) < utcnow():
            raise conflict(f"profile '{profile.id}' is not waiting for a QR scan (status {status}); "
                           "connect it first", state=True)
        png = segno.make(profile.qr_code, error="l").png_data_uri(scale=6, border=2)
        return profiles_pb2.ProfileQr(qr=profile.qr_code, png_data_url=png,
                                      expire_time=to_timestamp(profile.qr_expires_at))

    def DisconnectProfile(self, request: profiles_pb2.DisconnectProfileRequest, context: grpc.ServicerContext
                          ) -> profiles_pb2.Profile:
        profile = get_profile(request.id)
        if profile.host_id in alive_hosts():
            engine_client.call(profile, lambda host: host.Disconnect,
                               engine_host_pb2.DisconnectRequest(profile_id=profile.id))
        else:
            # No live session anywhere: only the wish to be connected has to go.
            with write_transaction():
                Profile.update(desired_state="disconnected", status="DISCONNECTED", updated_at=utcnow()) \
                    .where(Profile.id == profile.id).execute()
        return to_proto(get_profile(profile.id))

    def LogoutProfile(self, request: profiles_pb2.LogoutProfileRequest, context: grpc.ServicerContext
                      ) -> profiles_pb2.Profile:
        profile = get_profile(request.id)
        engine_client.call(profile, lambda host: host.Logout, engine_host_pb2.LogoutRequest(profile_id=profile.id))
        return to_proto(get_profile(profile.id))

    def GetContactPicture(self, request: profiles_pb2.GetContactPictureRequest, context: grpc.ServicerContext
                          ) -> profiles_pb2.ContactPicture:
        if not request.chat_id.strip():
            raise invalid("chatId", "is required")
        chat_id = normalize_chat_id(request.chat_id, "chatId")
        profile = acting_profile(request.id, engine_specs.CONTACT_PICTURE)
        answer = chat_call(profile, engine_specs.CONTACT_PICTURE, chat_id=chat_id)
        return profiles_pb2.ContactPicture(chat_id=chat_id, url=answer.get("url", ""),
                                           picture_id=answer.get("picture_id", ""))

    def BlockContacts(self, request: profiles_pb2.BlockContactsRequest, context: grpc.ServicerContext
                      ) -> profiles_pb2.BlockContactsResponse:
        return profiles_pb2.BlockContactsResponse(chat_ids=_blocklist(request, engine_specs.BLOCK))

    def UnblockContacts(self, request: profiles_pb2.UnblockContactsRequest, context: grpc.ServicerContext
                        ) -> profiles_pb2.UnblockContactsResponse:
        return profiles_pb2.UnblockContactsResponse(chat_ids=_blocklist(request, engine_specs.UNBLOCK))

    def CheckNumbers(self, request: profiles_pb2.CheckNumbersRequest, context: grpc.ServicerContext
                     ) -> profiles_pb2.CheckNumbersResponse:
        if not 1 <= len(request.phone_numbers) <= MAX_CHECK:
            raise invalid("phoneNumbers", f"give 1 to {MAX_CHECK} phone numbers")
        phones = [normalize_phone(raw, f"phoneNumbers[{index}]") for index, raw in enumerate(request.phone_numbers)]
        profile = acting_profile(request.id, engine_specs.LOOKUP)
        chat_ids = chat_call(profile, engine_specs.LOOKUP, phone_numbers=list(dict.fromkeys(phones)))["chat_ids"]
        return profiles_pb2.CheckNumbersResponse(numbers=[
            profiles_pb2.NumberCheck(phone_number=phone, on_whats_app=bool(chat_ids.get(phone)),
                                     chat_id=chat_ids.get(phone, "")) for phone in phones])


    def SimulateIncomingMessage(self, request: profiles_pb2.SimulateIncomingMessageRequest,
                                context: grpc.ServicerContext) -> profiles_pb2.SimulateIncomingMessageResponse:
        checked = content.check("TEXT", messages_pb2.MessageContent(text=request.text))
        phone = simulator_phone(request.phone_number or SIMULATED_CONTACT, "phoneNumber")
        profile = acting_profile(request.id, SIMULATED_INCOMING)
        return profiles_pb2.SimulateIncomingMessageResponse(
            wa_message_id=simulated_phones.send_from(self.settings, phone, profile.phone_number, checked))


def _guarantee(value: int) -> str:
    """The stored name of a DeliveryGuarantee ("" when not set); VALIDATION_ERROR for a number no value has."""
    if not value:
        return ""
    if value not in Guarantee.values():
        raise invalid("deliveryGuarantee", "must be AT_MOST_ONCE or AT_LEAST_ONCE")
    return Guarantee.Name(value)


MAX_BLOCK = 100
# Numbers per CheckNumbers call: whatsmeow asks WhatsApp about all of them in one usync query.
MAX_CHECK = 500


def _blocklist(request: Any, operation: str) -> list[str]:
    """Block or unblock the request's people through the profile's engine; their canonical chat ids."""
    if not 1 <= len(request.chat_ids) <= MAX_BLOCK:
        raise invalid("chatIds", f"give 1 to {MAX_BLOCK} chat ids")
    chat_ids = list(dict.fromkeys(normalize_chat_id(raw, "chatIds") for raw in request.chat_ids))
    if any(is_group(chat_id) for chat_id in chat_ids):
        raise invalid("chatIds", "groups cannot be blocked: leave the group instead")
    profile = acting_profile(request.id, operation)
    return list(chat_call(profile, operation, chat_ids=chat_ids).get("chat_ids", chat_ids))


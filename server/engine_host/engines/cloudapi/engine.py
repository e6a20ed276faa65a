"""The `cloudapi` engine: the official WhatsApp Cloud API through PyPI's `pywa` (DESIGN.md §4).

There is no device to link: a profile is a Meta access token plus the phone number id it sends from, both in the
profile's engine settings. Connecting checks them with one Graph call; sending is one Graph call per message (two
with media: upload, then send by media id). Everything WhatsApp reports later — delivery and read receipts,
incoming messages, group changes — reaches the gateway as Meta's webhook POSTs, which `events_from_webhook` turns
into EngineEvents (webhooks.py).

Conversations: reactions and read receipts are Graph calls too (a read receipt marks the message and every earlier
one read), typing is the Cloud API's typing indicator (which hangs on the chat's last received message and stops
by itself), blocking is Meta's block list, and received media is downloaded by its Meta media id. Meta cannot edit
or delete a sent message, nor show a user's profile picture: those answer NOT_SUPPORTED.

Groups are Meta's Groups API (official business accounts only, invite-only). Its group ids are opaque strings
(`Y2FwaV9ncm91cDox…`), not `<digits>@g.us` JIDs: this engine writes them as `<Meta group id>@g.us` so the
gateway still sees a group chat id, and strips the suffix on the way back.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pywa import WhatsApp
from pywa import errors as wa_errors

from server.core import engine_specs
from server.core.engine_specs import PAIRING_CODE, NotSupported, send_operation
from server.core.errors import ApiError, conflict, invalid
from server.core.phones import USER_SUFFIXES, is_group, phone_to_chat_id
from server.engine_host.engines.base import (
    CONNECTED,
    DISCONNECTED,
    FAILED,
    LOGGED_OUT,
    Emit,
    Engine,
    EngineError,
    EngineEvent,
    GroupInfo,
    MessageRef,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    SessionStore,
)
from server.engine_host.engines.cloudapi.errors import engine_error, is_transient
from server.engine_host.engines.cloudapi.values import chat_ids, digits, group_chat_id, meta_group_id, timestamp

# Media uploads of up to 100 MB documents need far longer than httpx's 5 s default.
_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

# The one field set `connect` asks for: enough to prove the token can read this phone number.
_VERIFY_FIELDS = ("display_phone_number", "verified_name")
_GROUP_FIELDS = ("subject", "description", "creation_timestamp", "participants")
_TEMPLATE_FIELDS = ("id", "name", "language", "category", "status", "parameter_format", "components")

_MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")
# Meta's Groups API carries text and media only (its docs list location, contacts and interactive as unsupported).
_GROUP_SEND_TYPES = ("text", "image", "video", "document")
# Graph errors meaning a media id is unknown or its file gone (Meta keeps received media 30 days).
_MEDIA_GONE = (100, 131052)


T = TypeVar("T")


class CloudApiEngine(Engine):
    """One Cloud API phone number. Stateless on Meta's side: "connected" only means the token was verified and
    the profile has not been disconnected since, so sends are refused after `disconnect()` as on other engines."""

    spec = engine_specs.CLOUDAPI

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit, *,
                 transport: httpx.BaseTransport | None = None):
        """`transport` replaces httpx's network transport (tests pass an `httpx.MockTransport`)."""
        super().__init__(profile_id, settings, store, emit)
        self._phone_id = settings["phoneNumberId"]
        self._lock = threading.Lock()
        self._connected = False
        self._own_chat_id = ""
        version = settings.get("apiVersion") or engine_specs.CLOUDAPI_DEFAULT_API_VERSION
        self._http = httpx.Client(transport=transport, timeout=_TIMEOUT)
        self._wa = WhatsApp(phone_id=self._phone_id, token=settings["token"], session=self._http,
                            api_version=version.removeprefix("v"))
        if base_url := settings.get("baseUrl"):
            # pywa always aims its session at graph.facebook.com; a proxy replaces the host, not the version.
            self._http.base_url = f"{base_url}/{version}"

    # Session

    def connect(self, phone_number: str = "") -> str:
        """Verify the token and phone number id with one Graph call; CONNECTED carries the display number (E.164)
        and the verified business name. A refused token or a wrong id emits FAILED: nothing changes until the
        settings do. An unreachable Graph API (or a 5xx) emits DISCONNECTED with reconnect=True: the credentials
        may be fine, so the host retries later as it would after a dropped socket. Both raise EngineError."""
        if phone_number:
            raise NotSupported(self.name, PAIRING_CODE)
        try:
            info = self._wa.api.get_business_phone_number(phone_id=self._phone_id, fields=_VERIFY_FIELDS)
        except httpx.TransportError as exc:
            self._set_connected(False)
            reason = f"cannot reach the Graph API: {exc}"
            self.emit(EngineEvent(DISCONNECTED, {"reason": reason, "reconnect": True}))
            raise EngineError(self.name, reason) from exc
        except wa_errors.WhatsAppError as exc:
            self._set_connected(False)
            error = engine_error(exc)
            if is_transient(exc):
                self.emit(EngineEvent(DISCONNECTED, {"reason": error.reason, "reconnect": True}))
            else:
                self.emit(EngineEvent(FAILED, {"reason": error.reason}))
            raise error from exc
        phone_number = "+" + digits(info.get("display_phone_number", ""))
        with self._lock:
            self._connected = True
            self._own_chat_id = phone_to_chat_id(phone_number)
        self.emit(EngineEvent(CONNECTED, {"phone_number": phone_number, "push_name": info.get("verified_name", "")}))
        return ""

    def disconnect(self) -> None:
        self._set_connected(False)
        self.emit(EngineEvent(DISCONNECTED, {"reason": "disconnected on request", "reconnect": False}))

    def logout(self) -> None:
        """Nothing to unlink on Meta's side: forget the session and say so. The token itself stays valid until it
        is revoked in Meta's Business Manager."""
        self._set_connected(False)
        self.store.clear()
        self.emit(EngineEvent(LOGGED_OUT, {
            "reason": "logged out; the access token stays valid until it is revoked in Meta's Business Manager",
        }))

    def close(self) -> None:
        self._set_connected(False)
        self._http.close()

    # Messages

    def send(self, message: OutgoingMessage) -> str:
        """One `POST /<version>/<phone id>/messages` (after `POST /<phone id>/media` for media); returns the
        wamid. Mentions are not a Cloud API feature, so a message carrying them is refused, not sent without."""
        self.require(send_operation(message.type))
        if message.mentions:
            raise NotSupported(self.name, "mentions")
        recipient_type, to = _recipient(message.chat_id)
        if recipient_type == "group" and message.type not in _GROUP_SEND_TYPES:
            raise NotSupported(self.name, f"{send_operation(message.type)} to a group")
        kind, body = _message_body(message)
        reply_to = message.reply_to.wa_message_id if message.reply_to else None  # Meta quotes by its own id

        def request(wa: WhatsApp) -> dict[str, Any]:
            payload = body
            if message.media is not None and kind in _MEDIA_TYPES:
                uploaded = wa.upload_media(media=message.media.data, mime_type=message.media.mimetype,
                                           filename=message.media.filename or None, media_type=kind)
                payload = {"id": uploaded.id, **body}
            return wa.api.send_message(sender=self._phone_id, to=to, recipient=None, recipient_type=recipient_type,
                                       typ=kind, msg=payload, reply_to_message_id=reply_to)

        return self._call(request)["messages"][0]["id"]

    # Conversations

    def react(self, message: MessageRef, emoji: str) -> None:
        """A reaction (`POST /messages`, type `reaction`); an empty emoji removes the profile's reaction."""
        recipient_type, to = _recipient(message.chat_id)
        self._call(lambda wa: wa.api.send_message(sender=self._phone_id, to=to, recipient=None,
                                                  recipient_type=recipient_type, typ="reaction",
                                                  msg={"emoji": emoji, "message_id": message.wa_message_id}))

    def mark_read(self, chat_id: str, messages: list[MessageRef]) -> None:
        """Marks the newest message read: Meta marks every earlier one of the chat read with it."""
        newest = messages[-1].wa_message_id
        self._call(lambda wa: wa.api.mark_message_as_read(phone_id=self._phone_id, message_id=newest))

    def send_presence(self, chat_id: str, presence: str, last_received: MessageRef | None = None) -> None:
        """The typing indicator, shown until the next message or for 25 seconds (it also marks the message it hangs
        on read). Meta has no "recording", and no way to stop it early."""
        if presence != "typing":
            raise NotSupported(self.name, f"presence ({presence})")
        if last_received is None:
            raise conflict(f"the Cloud API shows typing only in reply to a received message: {chat_id} sent none",
                           state=True)
        self._call(lambda wa: wa.api.set_indicator(phone_id=self._phone_id, message_id=last_received.wa_message_id,
                                                   typ="text"))

    def update_blocklist(self, chat_ids: list[str], block: bool) -> None:
        users = tuple(_recipient(chat_id)[1] for chat_id in chat_ids)
        self._call(lambda wa: (wa.api.block_users if block else wa.api.unblock_users)(
            phone_id=self._phone_id, users=users, user_ids=()))

    def download_media(self, media_ref: dict[str, Any]) -> bytes:
        """The file of a received message, by its Meta media id: its URL from the Graph API, then the bytes (with the
        token). NOT_FOUND once Meta no longer has it."""
        media_id = str(media_ref.get("id", ""))
        if not media_id:
            raise ApiError("NOT_FOUND", "Meta gave no media id for this message")

        def download(wa: WhatsApp) -> bytes:
            url = wa.api.get_media_url(media_id=media_id)["url"]
            with wa.api.stream_media_bytes(media_url=url) as response:
                if response.status_code in (404, 410):
                    raise ApiError("NOT_FOUND", "Meta no longer has this media (it keeps files 30 days)")
                if response.status_code != 200:
                    raise EngineError(self.name, f"downloading media answered HTTP {response.status_code}")
                return response.read()

        try:
            return self._call(download)
        except EngineError as error:
            if error.metadata.get("wa_error_code") in {str(code) for code in _MEDIA_GONE}:
                raise ApiError("NOT_FOUND", f"Meta no longer has this media ({error.reason})") from error
            raise

    def list_templates(self) -> list[dict[str, Any]]:
        """The APPROVED templates of the profile's WhatsApp Business Account (`GET /<WABA id>/message_templates`,
        following the cursor), by name then language. Needs `businessAccountId` in the settings."""
        waba_id = self.settings.get("businessAccountId")
        if not waba_id:
            raise conflict("listing templates needs the profile's engineSettings.businessAccountId (the WhatsApp "
                           "Business Account id shown in Meta's WhatsApp Manager)", state=True)

        def request(wa: WhatsApp) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            after = None
            while True:
                page = wa.api.get_templates(waba_id=waba_id, fields=_TEMPLATE_FIELDS, filters={"status": "APPROVED"},
                                            pagination={"after": after} if after else None)
                found.extend(page.get("data") or ())
                paging = page.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after")
                if not (paging.get("next") and after):
                    return found

        templates = [{key: template[key] for key in _TEMPLATE_FIELDS if key in template}
                     for template in self._call(request)]
        return sorted(templates, key=lambda template: (template.get("name", ""), template.get("language", "")))

    # Groups

    def list_groups(self) -> list[GroupInfo]:
        """Every active group of this phone number (`GET /<phone id>/groups`, following the cursor)."""

        def request(wa: WhatsApp) -> list[dict[str, Any]]:
            groups: list[dict[str, Any]] = []
            after = None
            while True:
                page = wa.api.get_active_groups(phone_id=self._phone_id, pagination={"after": after} if after else None)
                groups.extend((page.get("data") or {}).get("groups", ()))
                paging = page.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after")
                if not (paging.get("next") and after):
                    return groups

        return [GroupInfo(group_id=group_chat_id(group["id"]), name=group.get("subject", ""),
                          owner=self._own_chat_id, created_at=timestamp(group.get("created_at")))
                for group in self._call(request)]

    def get_group(self, group_id: str) -> GroupInfo:
        """Meta lists the participants without the business itself; the business created the group (that is
        the only way it joins one), so it is added as the owner and SUPERADMIN, as other engines report it."""
        info = self._call(lambda wa: wa.api.get_group_info(group_id=meta_group_id(group_id), fields=_GROUP_FIELDS))
        members = [Participant(chat_id) for chat_id in chat_ids(info.get("participants", ()), "wa_id")]
        if self._own_chat_id:
            members.insert(0, Participant(self._own_chat_id, "SUPERADMIN"))
        return GroupInfo(group_id=group_id, name=info.get("subject", ""), description=info.get("description", ""),
                         owner=self._own_chat_id, created_at=timestamp(info.get("creation_timestamp")),
                         participants=tuple(members))

    def create_group(self, name: str, participants: list[str]) -> tuple[GroupInfo, list[ParticipantResult]]:
        """`POST /<phone id>/groups`. Meta adds no one (people join by the invite link, GET …/invite-link once the
        group exists) and creates the group asynchronously: the answer is the group as requested, with Meta's
        request id and no group id yet; the `group_lifecycle_update` webhook that follows (a GROUP "create" event,
        `group.updated`) carries the same request id with the group id and its invite code."""
        if participants:
            raise NotSupported(self.name, "add_participants")
        answer = self._call(lambda wa: wa.api.create_group(phone_id=self._phone_id, subject=name))
        owner = (Participant(self._own_chat_id, "SUPERADMIN"),) if self._own_chat_id else ()
        return GroupInfo(group_id="", name=name, owner=self._own_chat_id, participants=owner,
                         request_id=str(answer["request_id"])), []

    def update_group(self, group_id: str, *, name: str | None = None, description: str | None = None,
                     announce: bool | None = None, locked: bool | None = None) -> GroupInfo:
        """Subject and description only: the Groups API has no announce or locked setting, and pywa sends only
        non-empty values, so a description cannot be cleared."""
        if announce is not None:
            raise NotSupported(self.name, "update_group (announce)")
        if locked is not None:
            raise NotSupported(self.name, "update_group (locked)")
        if description == "":
            raise NotSupported(self.name, "update_group (clearing the description)")
        if name is not None and not name.strip():
            raise invalid("name", "must not be empty")
        if name is not None or description is not None:
            self._call(lambda wa: wa.api.update_group_info(group_id=meta_group_id(group_id), subject=name,
                                                           description=description))
        info = self.get_group(group_id)
        # Meta accepts the change and applies it asynchronously (a group_settings_update webhook confirms or
        # reports a failure as a GROUP event), so the group read back may still show the old values.
        return dataclasses.replace(info, name=info.name if name is None else name,
                                   description=info.description if description is None else description)

    def update_participants(self, group_id: str, action: str, participants: list[str]) -> list[ParticipantResult]:
        """Only `remove`: participants join by invite link, and the Groups API has no admins to promote."""
        self.require(f"{action}_participants")
        users = tuple(_recipient(chat_id)[1] for chat_id in participants)
        self._call(lambda wa: wa.api.remove_group_participants(group_id=meta_group_id(group_id), users=users,
                                                               user_ids=()))
        # Meta confirms each removal later (a group_participants_update webhook, whose failures arrive as a GROUP
        # event); here the removal is accepted.
        return [ParticipantResult(chat_id=chat_id, status="REMOVED") for chat_id in participants]

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        gid = meta_group_id(group_id)
        response = self._call(lambda wa: (wa.api.reset_group_invite_link if revoke
                                          else wa.api.get_group_invite_link)(group_id=gid))
        return response["invite_link"].strip().rstrip("/").rsplit("/", 1)[-1]

    # Internals

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected

    def _call(self, request: Callable[[WhatsApp], T]) -> T:
        """Run one pywa call on the verified session, turning its failures into EngineErrors. A token WhatsApp
        no longer accepts (190) also fails the session, since nothing works until the settings change."""
        with self._lock:
            connected = self._connected
        if not connected:
            raise EngineError(self.name, "the profile is not connected", code="PROFILE_NOT_CONNECTED")
        try:
            return request(self._wa)
        except wa_errors.WhatsAppError as exc:
            error = engine_error(exc)
            if isinstance(exc, wa_errors.ExpiredAccessToken):
                self._set_connected(False)
                self.emit(EngineEvent(FAILED, {"reason": error.reason}))
            raise error from exc
        except httpx.TransportError as exc:
            raise EngineError(self.name, f"cannot reach the Graph API: {exc}") from exc


def _recipient(chat_id: str) -> tuple[str, str]:
    """(recipient_type, to) for the messages endpoint: a group's Meta id, or a person's digits."""
    if is_group(chat_id):
        return "group", meta_group_id(chat_id)
    digits = chat_id
    for suffix in USER_SUFFIXES:
        digits = digits.removesuffix(suffix)
    if not digits.isdigit():
        raise invalid("chatId", f"'{chat_id}' is not a WhatsApp chat id")
    return "individual", digits


def _message_body(message: OutgoingMessage) -> tuple[str, Any]:
    """(Cloud API type, its object) for one message; media objects lack the id until the upload."""
    content = message.content
    if message.type == "text":
        text = content.get("text", "")
        if not text:
            raise invalid("content.text", "is required")
        # Link previews stay off: the gateway sends what it was given, and other engines render none.
        return "text", {"body": text, "preview_url": False}
    if message.type in _MEDIA_TYPES:
        if message.media is None:
            raise invalid("content.media", "is required")
        if message.type == "audio" and content.get("voice_note"):
            return "audio", {"voice": True}  # a voice message: OGG/Opus, shown with the sender's picture
        body = {"caption": content["caption"]} if content.get("caption") else {}
        if message.type == "document" and message.media.filename:
            body["filename"] = message.media.filename
        return message.type, body
    if message.type == "template":
        return "template", template_body(content.get("template") or {})
    if message.type == "location":
        location = content.get("location") or {}
        if "latitude" not in location or "longitude" not in location:
            raise invalid("content.location", "needs latitude and longitude")
        body = {"latitude": location["latitude"], "longitude": location["longitude"]}
        body |= {key: location[key] for key in ("name", "address") if location.get(key)}
        return "location", body
    return "contacts", [_contact_card(content.get("contact") or {})]


def template_body(template: Mapping[str, Any]) -> dict[str, Any]:
    """The Cloud API `template` object (what pywa's `send_template` hands to the messages endpoint) of a stored
    wagw.v1.Template: components lower-cased as Meta spells them, a button's index as a string, each parameter
    as `{"type": …, <type>: value}`."""
    body: dict[str, Any] = {"name": template.get("name", ""), "language": {"code": template.get("language", "")}}
    components = []
    for component in template.get("components") or ():
        built: dict[str, Any] = {"type": component["type"].lower()}
        if component["type"] == "BUTTON":
            built["sub_type"] = component["sub_type"].lower()
            built["index"] = str(component.get("index", 0))
        built["parameters"] = [_template_parameter(parameter) for parameter in component.get("parameters") or ()]
        components.append(built)
    if components:
        body["components"] = components
    return body


def _template_parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    kind = parameter["type"].lower()
    built: dict[str, Any] = {"type": kind}
    if parameter.get("parameter_name"):
        built["parameter_name"] = parameter["parameter_name"]
    if kind == "currency":
        currency = parameter.get("currency") or {}
        built[kind] = {"fallback_value": currency.get("fallback_value", ""), "code": currency.get("code", ""),
                       "amount_1000": int(currency.get("amount_1000", 0))}
    elif kind == "date_time":
        built[kind] = {"fallback_value": (parameter.get("date_time") or {}).get("fallback_value", "")}
    elif kind in ("image", "document", "video"):
        media = parameter.get("media") or {}
        built[kind] = {"link": media.get("link", "")}
        if kind == "document" and media.get("filename"):
            built[kind]["filename"] = media["filename"]
    else:  # text, payload, coupon_code
        built[kind] = parameter.get(kind, "")
    return built


def _contact_card(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A Cloud API contact from our ContactCard. A raw vCard wins (as wagw.v1 documents) and is read minimally:
    FN, ORG and each TEL (with its `waid`). Meta wants a name part besides formatted_name, and splitting a full
    name into first and last is guesswork, so the whole name is the first name."""
    if vcard := contact.get("vcard"):
        full_name, organization, phones = _read_vcard(vcard)
        if not full_name:
            raise invalid("content.contact.vcard", "has no FN (formatted name) line")
    else:
        full_name, organization = contact.get("full_name", ""), contact.get("organization", "")
        if not full_name:
            raise invalid("content.contact.fullName", "is required")
        phone = contact.get("phone_number", "")
        phones = [{"phone": phone, "wa_id": digits(phone)}] if phone else []
    card: dict[str, Any] = {"name": {"formatted_name": full_name, "first_name": full_name}}
    if phones:
        card["phones"] = phones
    if organization:
        card["org"] = {"company": organization}
    return card


def _read_vcard(vcard: str) -> tuple[str, str, list[dict[str, str]]]:
    full_name = organization = ""
    phones: list[dict[str, str]] = []
    unfolded = re.sub(r"\r?\n[ \t]", "", vcard)  # a line starting with a space continues the previous one
    for line in unfolded.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            continue
        prop, *params = key.split(";")
        prop = prop.rsplit(".", 1)[-1].upper()  # `item1.TEL` is a grouped TEL
        if prop == "FN":
            full_name = _vcard_text(value)
        elif prop == "ORG":
            organization = _vcard_text(re.split(r"(?<!\\);", value)[0])
        elif prop == "TEL" and value.strip():
            phone = {"phone": value.strip()}
            waid = next((param.split("=", 1)[1] for param in params if param.lower().startswith("waid=")), "")
            if waid:
                phone["wa_id"] = waid
            phones.append(phone)
    return full_name, organization, phones


def _vcard_text(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] in "nN" else m[1], value).strip()

"""The `cloudapi` engine: the official WhatsApp Cloud API through PyPI's `pywa` (DESIGN.md §4).

There is no device to link: a profile is a Meta access token plus the phone number id it sends from, both in the
profile's engine settings. Connecting checks them with one Graph call; sending is one Graph call per message (two
with media: upload, then send by media id). Everything WhatsApp reports later — delivery and read receipts,
incoming messages, group changes — reaches the gateway as Meta's webhook POSTs, which `events_from_webhook` turns
into EngineEvents; `verify_subscription` and `check_signature` serve the webhook endpoint's handshake and
authentication.

Groups are Meta's Groups API (official business accounts only, invite-only). Its group ids are opaque strings
(`Y2FwaV9ncm91cDox…`), not `<digits>@g.us` JIDs: this engine writes them as `<Meta group id>@g.us` so the
gateway still sees a group chat id, and strips the suffix on the way back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx
from pywa import WhatsApp
from pywa import errors as wa_errors
from pywa import utils as wa_utils

from server.engines.base import (
    CONNECTED,
    DISCONNECTED,
    FAILED,
    GROUP,
    LOGGED_OUT,
    MESSAGE,
    PAIRING_CODE,
    RECEIPT,
    Emit,
    Engine,
    EngineError,
    EngineEvent,
    GroupInfo,
    IncomingMessage,
    NotSupported,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    SessionStore,
    send_operation,
)
from server.errors import invalid
from server.phones import GROUP_SUFFIX, USER_SUFFIXES, is_group, phone_to_chat_id

ENGINE = "cloudapi"

# pywa 4.5 speaks Graph API v26.0 and refuses to vouch for anything older than v17.0.
DEFAULT_API_VERSION = f"v{wa_utils.Version.GRAPH_API.value}"
_MIN_API_VERSION = float(wa_utils.Version.GRAPH_API.min)
_API_VERSION = re.compile(r"^v?(\d+)\.(\d+)$")

_REQUIRED_SETTINGS = ("token", "phoneNumberId")
_OPTIONAL_SETTINGS = ("apiVersion", "baseUrl", "appSecret", "verifyToken", "businessAccountId")

# Media uploads of up to 100 MB documents need far longer than httpx's 5 s default.
_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

# The one field set `connect` asks for: enough to prove the token can read this phone number.
_VERIFY_FIELDS = ("display_phone_number", "verified_name")
_GROUP_FIELDS = ("subject", "description", "creation_timestamp", "participants")

_MEDIA_TYPES = ("image", "video", "document")
# Meta's Groups API carries text and media only (its docs list location, contacts and interactive as unsupported).
_GROUP_SEND_TYPES = ("text", *_MEDIA_TYPES)

_RECEIPT_STATUSES = {"sent": "server", "delivered": "delivered", "read": "read", "failed": "failed"}
# Incoming media types the gateway has no type for travel as documents: the mimetype tells what they are.
_INCOMING_MEDIA_TYPES = {"image": "image", "video": "video", "document": "document", "audio": "document",
                         "sticker": "document"}

T = TypeVar("T")


class CloudApiEngine(Engine):
    """One Cloud API phone number. Stateless on Meta's side: "connected" only means the token was verified and
    the profile has not been disconnected since, so sends are refused after `disconnect()` as on other engines."""

    name: ClassVar[str] = ENGINE
    supports: ClassVar[frozenset[str]] = frozenset({
        *(send_operation(kind) for kind in ("text", "image", "video", "document", "location", "contact")),
        "list_groups", "get_group", "update_group", "remove_participants", "invite_link", "revoke_invite_link",
    })
    # Engine settings that are credentials: the API must never return them.
    secret_settings: ClassVar[frozenset[str]] = frozenset({"token", "appSecret", "verifyToken"})

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit, *,
                 transport: httpx.BaseTransport | None = None):
        """`transport` replaces httpx's network transport (tests pass an `httpx.MockTransport`)."""
        super().__init__(profile_id, settings, store, emit)
        self._phone_id = settings["phoneNumberId"]
        self._lock = threading.Lock()
        self._connected = False
        self._own_chat_id = ""
        version = settings.get("apiVersion") or DEFAULT_API_VERSION
        self._http = httpx.Client(transport=transport, timeout=_TIMEOUT)
        self._wa = WhatsApp(phone_id=self._phone_id, token=settings["token"], session=self._http,
                            api_version=version.removeprefix("v"))
        if base_url := settings.get("baseUrl"):
            # pywa always aims its session at graph.facebook.com; a proxy replaces the host, not the version.
            self._http.base_url = f"{base_url}/{version}"

    @classmethod
    def validate_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """`token` and `phoneNumberId` are required; `apiVersion` (default: pywa's, now v26.0), `baseUrl` (a
        proxy or test server instead of https://graph.facebook.com), `appSecret` and `verifyToken` (Meta's
        webhooks) and `businessAccountId` are optional. All are non-empty strings."""
        known = (*_REQUIRED_SETTINGS, *_OPTIONAL_SETTINGS)
        for key, value in settings.items():
            field = f"engineSettings.{key}"
            if key not in known:
                raise invalid(field, f"is not a cloudapi setting (expected {', '.join(known)})")
            if not isinstance(value, str) or not value.strip():
                raise invalid(field, "must be a non-empty string")
        for key in _REQUIRED_SETTINGS:
            if key not in settings:
                raise invalid(f"engineSettings.{key}", "is required")
        cleaned = {key: value.strip() for key, value in settings.items()}
        for key in ("phoneNumberId", "businessAccountId"):
            if key in cleaned and not cleaned[key].isdigit():
                raise invalid(f"engineSettings.{key}", "must be the numeric id shown in Meta's WhatsApp Manager")
        if "apiVersion" in cleaned:
            cleaned["apiVersion"] = _api_version(cleaned["apiVersion"])
        if "baseUrl" in cleaned:
            if not cleaned["baseUrl"].startswith(("https://", "http://")):
                raise invalid("engineSettings.baseUrl", "must be an http(s) URL")
            cleaned["baseUrl"] = cleaned["baseUrl"].rstrip("/")
        return cleaned

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
            if _is_transient(exc):
                self.emit(EngineEvent(DISCONNECTED, {"reason": error.reason, "reconnect": True}))
            else:
                self.emit(EngineEvent(FAILED, {"reason": error.reason}))
            raise error from exc
        phone_number = "+" + _digits(info.get("display_phone_number", ""))
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

        def request(wa: WhatsApp) -> dict[str, Any]:
            payload = body
            if message.media is not None and kind in _MEDIA_TYPES:
                uploaded = wa.upload_media(media=message.media.data, mime_type=message.media.mimetype,
                                           filename=message.media.filename or None, media_type=kind)
                payload = {"id": uploaded.id, **body}
            return wa.api.send_message(sender=self._phone_id, to=to, recipient=None, recipient_type=recipient_type,
                                       typ=kind, msg=payload, reply_to_message_id=message.reply_to or None)

        return self._call(request)["messages"][0]["id"]

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

        return [GroupInfo(group_id=_group_chat_id(group["id"]), name=group.get("subject", ""),
                          owner=self._own_chat_id, created_at=_timestamp(group.get("created_at")))
                for group in self._call(request)]

    def get_group(self, group_id: str) -> GroupInfo:
        """Meta lists the participants without the business itself; the business created the group (that is
        the only way it joins one), so it is added as the owner and SUPERADMIN, as other engines report it."""
        info = self._call(lambda wa: wa.api.get_group_info(group_id=_group_id(group_id), fields=_GROUP_FIELDS))
        members = [Participant(chat_id) for chat_id in _chat_ids(info.get("participants", ()), "wa_id")]
        if self._own_chat_id:
            members.insert(0, Participant(self._own_chat_id, "SUPERADMIN"))
        return GroupInfo(group_id=group_id, name=info.get("subject", ""), description=info.get("description", ""),
                         owner=self._own_chat_id, created_at=_timestamp(info.get("creation_timestamp")),
                         participants=tuple(members))

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
            self._call(lambda wa: wa.api.update_group_info(group_id=_group_id(group_id), subject=name,
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
        self._call(lambda wa: wa.api.remove_group_participants(group_id=_group_id(group_id), users=users, user_ids=()))
        # Meta confirms each removal later (a group_participants_update webhook, whose failures arrive as a GROUP
        # event); here the removal is accepted.
        return [ParticipantResult(chat_id=chat_id, status="REMOVED") for chat_id in participants]

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        gid = _group_id(group_id)
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


def engine_error(exc: wa_errors.WhatsAppError) -> EngineError:
    """The EngineError for a Cloud API error, by pywa's typed exceptions: rate limits (4, 80007, 130429, 131048,
    131056, 131064, 133016, and the Groups API's 131208) → RATE_LIMITED; an unknown group (131041) → NOT_FOUND;
    everything else → ENGINE_ERROR with a reason naming the Meta code. Metadata carries `wa_error_code` and, from
    the Graph API, `fbtrace_id` for Meta support."""
    metadata = {"wa_error_code": str(exc.code)}
    if exc.fbtrace_id:
        metadata["fbtrace_id"] = exc.fbtrace_id
    detail = exc.details or exc.message
    code = "ENGINE_ERROR"
    if isinstance(exc, wa_errors.ThrottlingError | wa_errors.GroupRateLimitHit):
        code, reason = "RATE_LIMITED", f"rate limited by WhatsApp ({exc.code}): {detail}"
    elif isinstance(exc, wa_errors.ReEngagementMessage):
        reason = "more than 24 hours since the customer last replied: use a template"
    elif isinstance(exc, wa_errors.MessageUndeliverable):
        reason = f"undeliverable ({exc.code}): the recipient is not on WhatsApp or cannot receive this message"
    elif isinstance(exc, wa_errors.AuthorizationError):
        reason = f"authorization failed ({exc.code}): {exc.message}"
    elif isinstance(exc, wa_errors.GroupUnknown):
        code, reason = "NOT_FOUND", f"group not found ({exc.code}): {detail}"
    else:
        reason = f"{exc.message} ({exc.code})" + (f": {exc.details}" if exc.details and exc.details != exc.message
                                                  else "")
    return EngineError(ENGINE, reason, code=code, **metadata)


# Meta's webhooks


def events_from_webhook(payload: Mapping[str, Any]) -> list[tuple[str, EngineEvent]]:
    """Meta's webhook notification → (phone number id, event) pairs, for the host to route to the profile whose
    `phoneNumberId` matches. Check the signature first (`check_signature`).

    `messages` field:
    - `statuses`: RECEIPT {wa_message_id, chat_id, status, timestamp}, status `sent` → "server", `delivered`,
      `read`, and `failed` → "failed" with `error` (the reason, as `engine_error` words it) and `error_code`
      (Meta's). Group statuses carry the group's chat id and, per member, `participant`.
    - `messages`: MESSAGE (IncomingMessage.as_dict()): text; image, video, document (audio and sticker as
      document) with content {"media": {"id", "mimetype"[, "filename"]}, "caption"} — Meta's media id, which the
      gateway downloads through the Graph API; location; contacts as type "contact" (the first card's full_name,
      phone_number, organization, plus a vCard of all cards when several were shared); interactive button/list
      replies and template quick-reply buttons as "text" (the title pressed). In a group the chat id is
      `<group id>@g.us` and the sender the member. Skipped: reactions, orders, system and unsupported messages,
      flow replies, and senders known only by a business-scoped user id (no phone number to make a chat id of).

    Group fields, as GROUP {group_id, action, participants, by, timestamp, …, error if Meta reports one}:
    `group_lifecycle_update` → "create" (name, description, invite_code, request_id) or "delete";
    `group_participants_update` → "join" (invite link) or "leave" (removed by the business, or left; removals
    that failed are in `failed`); `group_settings_update` → "subject" (name) and "description" (description);
    `group_status_update` → "settings" {suspended}. Join requests are skipped.
    """
    events: list[tuple[str, EngineEvent]] = []
    if payload.get("object") != "whatsapp_business_account":
        return events
    for entry in payload.get("entry") or ():
        for change in entry.get("changes") or ():
            value = change.get("value") or {}
            metadata = value.get("metadata") or {}
            phone_id = str(metadata.get("phone_number_id", ""))
            business = _user_chat_id(metadata.get("display_phone_number", ""))
            found: list[EngineEvent | None] = []
            if change.get("field") == "messages":
                found += [_receipt_event(status) for status in value.get("statuses") or ()]
                found += [_message_event(message) for message in value.get("messages") or ()]
            else:
                found += [event for group in value.get("groups") or () for event in _group_events(group, business)]
            events += [(phone_id, event) for event in found if event is not None]
    return events


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` handshake: the challenge to echo back
    when the token matches the profile's `verifyToken`, else None (answer 403)."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token", "")
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge")


def check_signature(body: bytes, header: str, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` (`sha256=<hex HMAC of the raw body with the app secret>`) is Meta's."""
    if not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").lower())


# Helpers


def _api_version(raw: str) -> str:
    match = _API_VERSION.match(raw)
    if not match:
        raise invalid("engineSettings.apiVersion", f"'{raw}' is not a Graph API version like {DEFAULT_API_VERSION}")
    version = f"{match[1]}.{match[2]}"
    if float(version) < _MIN_API_VERSION:
        raise invalid("engineSettings.apiVersion", f"must be v{wa_utils.Version.GRAPH_API.min} or later")
    return f"v{version}"


def _is_transient(exc: wa_errors.WhatsAppError) -> bool:
    return bool(exc.is_transient) or (exc.status_code or 0) >= 500


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value))


def _user_chat_id(number: Any) -> str:
    digits = _digits(number)
    return phone_to_chat_id(f"+{digits}") if digits else ""


def _chat_ids(people: Iterable[Mapping[str, Any]], *keys: str) -> list[str]:
    """Chat ids of the people in a Meta list, from the first of `keys` each has; people known only by a
    business-scoped user id are left out."""
    found = (_user_chat_id(next((person[key] for key in keys if person.get(key)), "")) for person in people)
    return [chat_id for chat_id in found if chat_id]


def _group_chat_id(group_id: str) -> str:
    return f"{group_id}{GROUP_SUFFIX}"


def _group_id(chat_id: str) -> str:
    if not is_group(chat_id) or chat_id == GROUP_SUFFIX:
        raise invalid("groupId", f"'{chat_id}' is not a group id")
    return chat_id.removesuffix(GROUP_SUFFIX)


def _recipient(chat_id: str) -> tuple[str, str]:
    """(recipient_type, to) for the messages endpoint: a group's Meta id, or a person's digits."""
    if is_group(chat_id):
        return "group", _group_id(chat_id)
    digits = chat_id
    for suffix in USER_SUFFIXES:
        digits = digits.removesuffix(suffix)
    if not digits.isdigit():
        raise invalid("chatId", f"'{chat_id}' is not a WhatsApp chat id")
    return "individual", digits


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError):
        return None


# Outgoing payloads


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
        body = {"caption": content["caption"]} if content.get("caption") else {}
        if message.type == "document" and message.media.filename:
            body["filename"] = message.media.filename
        return message.type, body
    if message.type == "location":
        location = content.get("location") or {}
        if "latitude" not in location or "longitude" not in location:
            raise invalid("content.location", "needs latitude and longitude")
        body = {"latitude": location["latitude"], "longitude": location["longitude"]}
        body |= {key: location[key] for key in ("name", "address") if location.get(key)}
        return "location", body
    return "contacts", [_contact_card(content.get("contact") or {})]


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
        phones = [{"phone": phone, "wa_id": _digits(phone)}] if phone else []
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


def _vcard_escape(value: str) -> str:
    return re.sub(r"([\\;,])", r"\\\1", value).replace("\n", "\\n")


# Incoming webhooks


def _receipt_event(status: Mapping[str, Any]) -> EngineEvent | None:
    kind = _RECEIPT_STATUSES.get(status.get("status", ""))
    recipient = str(status.get("recipient_id", ""))
    if status.get("recipient_type") == "group":
        chat_id = _group_chat_id(recipient)
    else:
        chat_id = _user_chat_id(recipient) if recipient.isdigit() else ""
    if kind is None or not chat_id or not status.get("id"):
        return None  # `played` (voice notes, which we do not send) or a recipient with no chat id
    data: dict[str, Any] = {"wa_message_id": status["id"], "chat_id": chat_id, "status": kind,
                            "timestamp": _timestamp(status.get("timestamp"))}
    # Meta's docs spell the member of a group status both ways.
    participant = _chat_ids([status], "recipient_participant_id", "participant_recipient_id")
    if participant:
        data["participant"] = participant[0]
    if kind == "failed":
        data |= _webhook_error(status.get("errors"))
    return EngineEvent(RECEIPT, data)


def _message_event(message: Mapping[str, Any]) -> EngineEvent | None:
    sender = _user_chat_id(message.get("from", ""))
    converted = _incoming_content(message)
    if not sender or converted is None or not message.get("id"):
        return None
    kind, content = converted
    group_id = message.get("group_id")
    incoming = IncomingMessage(
        wa_message_id=message["id"], chat_id=_group_chat_id(group_id) if group_id else sender, sender=sender,
        type=kind, content=content, timestamp=_timestamp(message.get("timestamp")) or dt.datetime.now(dt.UTC))
    return EngineEvent(MESSAGE, incoming.as_dict())


def _incoming_content(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(our message type, content with wagw.v1.MessageContent's snake_case keys), or None for what we skip."""
    kind = message.get("type", "")
    body = message.get(kind) or {}
    if kind == "text":
        return "text", {"text": body.get("body", "")}
    if kind in _INCOMING_MEDIA_TYPES:
        media = {"id": body.get("id", ""), "mimetype": body.get("mime_type", "")}
        if body.get("filename"):
            media["filename"] = body["filename"]
        content: dict[str, Any] = {"media": media}
        if body.get("caption"):
            content["caption"] = body["caption"]
        return _INCOMING_MEDIA_TYPES[kind], content
    if kind == "location":
        keys = ("latitude", "longitude", "name", "address")
        return "location", {"location": {key: body[key] for key in keys if key in body}}
    if kind == "contacts" and body:
        return "contact", {"contact": _incoming_contact(body)}
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply")
        return ("text", {"text": reply.get("title", "")}) if reply else None
    if kind == "button":
        return "text", {"text": body.get("text", "")}
    return None


def _incoming_contact(cards: list[Mapping[str, Any]]) -> dict[str, Any]:
    first = cards[0]
    phones = first.get("phones") or [{}]
    contact = {
        "full_name": (first.get("name") or {}).get("formatted_name", ""),
        "phone_number": f"+{phones[0]['wa_id']}" if phones[0].get("wa_id") else phones[0].get("phone", ""),
        "organization": (first.get("org") or {}).get("company", ""),
    }
    if len(cards) > 1:
        # ContactCard holds one person; a vCard holds them all, so nothing shared is lost.
        contact["vcard"] = "\r\n".join(line for card in cards for line in _vcard_lines(card))
    return contact


def _vcard_lines(card: Mapping[str, Any]) -> list[str]:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_vcard_escape((card.get('name') or {}).get('formatted_name', ''))}"]
    if company := (card.get("org") or {}).get("company"):
        lines.append(f"ORG:{_vcard_escape(company)}")
    for phone in card.get("phones") or ():
        waid = f";waid={phone['wa_id']}" if phone.get("wa_id") else ""
        lines.append(f"TEL;type=CELL{waid}:{phone.get('phone') or '+' + phone.get('wa_id', '')}")
    return [*lines, "END:VCARD"]


def _webhook_error(errors: Any) -> dict[str, str]:
    """`error` and `error_code` for the first error of a webhook object, worded as `engine_error` words the
    same error returned by a call (131047 and 131026 usually arrive this way, after the send was accepted)."""
    first = next(iter(errors or ()), None)
    if not isinstance(first, Mapping):
        return {"error": "failed (WhatsApp gave no reason)", "error_code": ""}
    try:
        exc = wa_errors.WhatsAppError.from_dict({**first, "message": first.get("message") or first.get("title", "")})
    except (KeyError, TypeError, ValueError):
        return {"error": str(first.get("title") or first.get("message") or "failed"), "error_code": ""}
    return {"error": engine_error(exc).reason, "error_code": str(exc.code)}


def _group_events(update: Mapping[str, Any], business: str) -> list[EngineEvent]:
    group_id = update.get("group_id")
    if not group_id:
        return []
    kind = update.get("type", "")
    base: dict[str, Any] = {"group_id": _group_chat_id(group_id), "participants": [], "by": business,
                            "timestamp": _timestamp(update.get("timestamp"))}
    if update.get("errors"):
        base["error"] = _webhook_error(update["errors"])["error"]
    if kind == "group_create":
        invite = str(update.get("invite_link") or "").strip().rstrip("/")
        return [EngineEvent(GROUP, base | {
            "action": "create", "name": update.get("subject", ""), "description": update.get("description", ""),
            "invite_code": invite.rsplit("/", 1)[-1] if invite else "", "request_id": update.get("request_id", ""),
        })]
    if kind == "group_delete":
        return [EngineEvent(GROUP, base | {"action": "delete", "request_id": update.get("request_id", "")})]
    if kind == "group_participants_add":
        joined = _chat_ids(update.get("added_participants") or (), "wa_id", "input")
        # Members join by invite link: each is their own actor.
        return [EngineEvent(GROUP, base | {"action": "join", "participants": joined,
                                           "by": joined[0] if len(joined) == 1 else ""})]
    if kind == "group_participants_remove":
        removed = _chat_ids(update.get("removed_participants") or (), "wa_id", "input")
        by_member = update.get("initiated_by") == "participant" and len(removed) == 1
        data = base | {"action": "leave", "participants": removed, "by": removed[0] if by_member else business}
        if failed := _chat_ids(update.get("failed_participants") or (), "wa_id", "input"):
            data["failed"] = failed
        return [EngineEvent(GROUP, data)]
    if kind == "group_settings_update":
        events = []
        for key, action, field in (("group_subject", "subject", "name"),
                                   ("group_description", "description", "description")):
            if setting := update.get(key):
                data = base | {"action": action, field: setting.get("text", "")}
                if setting.get("errors"):
                    data["error"] = _webhook_error(setting["errors"])["error"]
                events.append(EngineEvent(GROUP, data))
        return events
    if kind in ("group_suspend", "group_suspend_cleared"):
        return [EngineEvent(GROUP, base | {"action": "settings", "suspended": kind == "group_suspend",
                                           "by": ""})]
    return []

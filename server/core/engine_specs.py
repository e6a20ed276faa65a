"""What each engine can do and which settings it takes (DESIGN.md §4), known to every role.

The API server answers NOT_SUPPORTED and checks a profile's `engineSettings` from here, without loading an engine
(whatsmeow starts a Go runtime, the Cloud API engine imports pywa): engines live in engine hosts only. Each
engine class takes its `supports` set from its spec, so the API and the engine can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.core.errors import ApiError, invalid
from server.core.phones import normalize_phone

# Operations an engine may support (names used in `supports` and in NotSupported messages).
QR_LOGIN = "qr_login"
PAIRING_CODE = "pairing_code"
SEND_TYPES = ("text", "image", "video", "document", "location", "contact", "poll", "audio", "sticker")
GROUP_OPERATIONS = (
    "list_groups", "get_group", "create_group", "update_group", "add_participants", "remove_participants",
    "promote_participants", "demote_participants", "leave_group", "invite_link", "revoke_invite_link",
)
LOOKUP = "lookup"
# Conversations: acting on messages and chats, and asking which numbers are on WhatsApp (LOOKUP) (ChatCall on the
# engine host), and reading a message's media.
REACT, EDIT, REVOKE, DELETE_FOR_ME = "react", "edit", "revoke", "delete_for_me"
MARK_READ, PRESENCE, CONTACT_PICTURE, BLOCK, UNBLOCK = "mark_read", "presence", "contact_picture", "block", "unblock"
# WhatsApp Business templates: sending one, and listing the approved ones (a ChatCall too: it reads the profile's
# account through its live engine).
SEND_TEMPLATE, LIST_TEMPLATES = "send_template", "list_templates"
CHAT_OPERATIONS = (REACT, EDIT, REVOKE, DELETE_FOR_ME, MARK_READ, PRESENCE, CONTACT_PICTURE, BLOCK, UNBLOCK,
                   LIST_TEMPLATES, LOOKUP)
DOWNLOAD_MEDIA = "download_media"
# A contact of the simulated WhatsApp writes to the profile (ProfileService.SimulateIncomingMessage).
SIMULATED_INCOMING = "simulated_incoming"


def send_operation(message_type: str) -> str:
    """`send_text`, `send_poll`, …: the operation name of sending one message type."""
    return f"send_{message_type}"


class NotSupported(ApiError):
    """501 NOT_SUPPORTED naming the engine and the operation: never a silent no-op."""

    def __init__(self, engine: str, operation: str):
        super().__init__("NOT_SUPPORTED", f"the {engine} engine does not support {operation}",
                         engine=engine, operation=operation)


Validator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EngineSpec:
    name: str
    supports: frozenset[str]
    # Checks a profile's engineSettings at create time; raises VALIDATION_ERROR naming `engineSettings.<key>`.
    # Returns the settings to store.
    validate_settings: Validator
    # Settings that are credentials: never returned by the API.
    secret_settings: frozenset[str] = field(default_factory=frozenset)
    # Whether WhatsApp, through this engine, recognises a message sent again under our message id and does not
    # deliver it twice: a send whose outcome is unknown is then simply sent again (exactly once), whatever the
    # profile's deliveryGuarantee (server/core/delivery_guarantee.py).
    recognises_repeats: bool = False


def _no_settings(name: str) -> Validator:
    def validate(settings: dict[str, Any]) -> dict[str, Any]:
        for key in settings:
            raise invalid(f"engineSettings.{key}", f"the {name} engine takes no settings")
        return {}
    return validate


# --- simulator ---

SIMULATOR_AUTO_PAIR_DELAY_MS = 3000
# The first QR code lives 60 s: a phone slower than that would find it gone.
SIMULATOR_MAX_AUTO_PAIR_DELAY_MS = 60_000
_SIMULATOR_SETTINGS = ("autoPair", "autoPairPhone", "autoPairDelayMs", "recognisesRepeats")


def simulator_phone(value: str, field: str) -> str:
    """A number of the simulated WhatsApp, as E.164: any valid number but those ending in 0000."""
    phone = normalize_phone(value, field)
    if phone.endswith("0000"):
        raise invalid(field, "numbers ending in 0000 are not on WhatsApp in the simulator")
    return phone


def _simulator_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """`autoPair` (bool): the simulated phone links the profile by itself; `autoPairPhone` (E.164): the number
    that links; `autoPairDelayMs` (0 to 60000): how long the phone takes, in simulated time;
    `recognisesRepeats` (bool, true when left out): false keeps the gateway's message id from the simulated
    WhatsApp, so that, as with the real engines, a message sent again is delivered again, and the profile's
    deliveryGuarantee decides (server/core/delivery_guarantee.py), to try that choice before going live."""
    checked: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"engineSettings.{key}"
        if key in ("autoPair", "recognisesRepeats"):
            if not isinstance(value, bool):
                raise invalid(name, "must be true or false")
            checked[key] = value
        elif key == "autoPairPhone":
            if not isinstance(value, str):
                raise invalid(name, "must be a phone number in E.164 form (+628123456789)")
            checked[key] = simulator_phone(value, name)
        elif key == "autoPairDelayMs":
            # JSON settings arrive through a protobuf Struct, where every number is a float.
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                raise invalid(name, "must be a whole number of milliseconds")
            if not 0 <= value <= SIMULATOR_MAX_AUTO_PAIR_DELAY_MS:
                raise invalid(name, f"must be from 0 to {SIMULATOR_MAX_AUTO_PAIR_DELAY_MS}")
            checked[key] = int(value)
        else:
            raise invalid(name, f"is not a simulator setting (known: {', '.join(_SIMULATOR_SETTINGS)})")
    return checked


# --- cloudapi ---

# pywa 4.5's Graph API version (pywa.utils.Version.GRAPH_API), and the oldest it accepts.
CLOUDAPI_DEFAULT_API_VERSION = "v26.0"
_CLOUDAPI_MIN_API_VERSION = 17.0
_CLOUDAPI_REQUIRED = ("token", "phoneNumberId")
_CLOUDAPI_OPTIONAL = ("apiVersion", "baseUrl", "appSecret", "verifyToken", "businessAccountId")
_API_VERSION = re.compile(r"v?(\d+)\.(\d+)", re.ASCII)


def cloudapi_api_version(raw: str) -> str:
    """A Graph API version as `vNN.N`; VALIDATION_ERROR for anything else or one older than pywa accepts."""
    match = _API_VERSION.fullmatch(raw)
    if not match:
        raise invalid("engineSettings.apiVersion",
                      f"'{raw}' is not a Graph API version like {CLOUDAPI_DEFAULT_API_VERSION}")
    version = f"{match[1]}.{match[2]}"
    if float(version) < _CLOUDAPI_MIN_API_VERSION:
        raise invalid("engineSettings.apiVersion", f"must be v{_CLOUDAPI_MIN_API_VERSION} or later")
    return f"v{version}"


def _cloudapi_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """`token` and `phoneNumberId` are required; `apiVersion` (default v26.0), `baseUrl` (a proxy or test server
    instead of https://graph.facebook.com), `appSecret` and `verifyToken` (Meta's webhooks) and
    `businessAccountId` are optional. All are non-empty strings."""
    known = (*_CLOUDAPI_REQUIRED, *_CLOUDAPI_OPTIONAL)
    for key, value in settings.items():
        name = f"engineSettings.{key}"
        if key not in known:
            raise invalid(name, f"is not a cloudapi setting (expected {', '.join(known)})")
        if not isinstance(value, str) or not value.strip():
            raise invalid(name, "must be a non-empty string")
    for key in _CLOUDAPI_REQUIRED:
        if key not in settings:
            raise invalid(f"engineSettings.{key}", "is required")
    cleaned = {key: value.strip() for key, value in settings.items()}
    for key in ("phoneNumberId", "businessAccountId"):
        if key in cleaned and not cleaned[key].isdigit():
            raise invalid(f"engineSettings.{key}", "must be the numeric id shown in Meta's WhatsApp Manager")
    if "apiVersion" in cleaned:
        cleaned["apiVersion"] = cloudapi_api_version(cleaned["apiVersion"])
    if "baseUrl" in cleaned:
        if not cleaned["baseUrl"].startswith(("https://", "http://")):
            raise invalid("engineSettings.baseUrl", "must be an http(s) URL")
        cleaned["baseUrl"] = cleaned["baseUrl"].rstrip("/")
    return cleaned


_EVERY_SEND = frozenset(send_operation(kind) for kind in SEND_TYPES)

# The simulator offers a small catalogue of approved templates (server/simulator/templates.py), so template sends
# and bulk template campaigns can be tried and tested without Meta.
SIMULATOR = EngineSpec("simulator", frozenset({QR_LOGIN, PAIRING_CODE, LOOKUP, SIMULATED_INCOMING, *GROUP_OPERATIONS,
                                                *_EVERY_SEND, SEND_TEMPLATE, *CHAT_OPERATIONS, DOWNLOAD_MEDIA}),
                       _simulator_settings, recognises_repeats=True)
# whatsmeow has no "delete for me": that is an app-state patch neonize does not build; and no templates, a
# Business Platform feature.
WHATSMEOW = EngineSpec("whatsmeow", frozenset({QR_LOGIN, PAIRING_CODE, LOOKUP, *GROUP_OPERATIONS, *_EVERY_SEND,
                                                *(set(CHAT_OPERATIONS) - {DELETE_FOR_ME, LIST_TEMPLATES}),
                                                DOWNLOAD_MEDIA}),
                       _no_settings("whatsmeow"))
# The Cloud API cannot edit or delete sent messages, nor show a user's picture; its presence is "typing" only. Its
# groups (Meta's Groups API) are joined by invite link only: no adding, promoting or demoting, and no leaving.
CLOUDAPI = EngineSpec(
    "cloudapi",
    frozenset({
        *(send_operation(kind) for kind in ("text", "image", "video", "document", "location", "contact", "audio",
                                            "sticker")),
        SEND_TEMPLATE, LIST_TEMPLATES,
        "list_groups", "get_group", "create_group", "update_group", "remove_participants", "invite_link",
        "revoke_invite_link",
        REACT, MARK_READ, PRESENCE, BLOCK, UNBLOCK, DOWNLOAD_MEDIA,
    }),
    _cloudapi_settings,
    secret_settings=frozenset({"token", "appSecret", "verifyToken"}),
)
SPECS = {spec.name: spec for spec in (SIMULATOR, WHATSMEOW, CLOUDAPI)}
NAMES = tuple(SPECS)


def spec(name: str) -> EngineSpec:
    return SPECS[name]


def validate_settings(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A profile's engineSettings as the engine will get them; VALIDATION_ERROR naming the bad key."""
    return SPECS[name].validate_settings(settings)


def supports(name: str, operation: str) -> bool:
    """Whether the engine can do this operation (`send_poll`, `create_group`, …)."""
    return operation in SPECS[name].supports


def require(name: str, operation: str) -> None:
    if not supports(name, operation):
        raise NotSupported(name, operation)

"""Meta's webhook notifications for the Cloud API (the `messages` field) as EngineEvents: statuses become
receipts, messages incoming messages, group notifications group events. The API server checks their signature
(server/api/services/cloudapi_webhooks.py) and hands them to an engine host, which records them through
SessionManager.on_event as if the engine had emitted them."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from pywa import errors as wa_errors

from server.engine_host.engines.base import (
    GROUP,
    MESSAGE,
    REACTION,
    RECEIPT,
    EngineEvent,
    IncomingMessage,
)
from server.engine_host.engines.cloudapi.errors import engine_error
from server.engine_host.engines.cloudapi.values import chat_ids, group_chat_id, timestamp, user_chat_id

_RECEIPT_STATUSES = {"sent": "server", "delivered": "delivered", "read": "read", "failed": "failed"}
_INCOMING_MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")



def events_from_webhook(payload: Mapping[str, Any]) -> list[tuple[str, EngineEvent]]:
    """Meta's webhook notification → (phone number id, event) pairs, for the host to route to the profile whose
    `phoneNumberId` matches. Check the signature first (`check_signature`).

    `messages` field:
    - `statuses`: RECEIPT {wa_message_id, chat_id, status, timestamp}, status `sent` → "server", `delivered`,
      `read`, and `failed` → "failed" with `error` (the reason, as `engine_error` words it) and `error_code`
      (Meta's). Group statuses carry the group's chat id and, per member, `participant`.
    - `messages`: MESSAGE (IncomingMessage.as_dict()): text; image, video, document, audio (a voice message with
      `voice_note`) and sticker with content {"media": {"mimetype"[, "filename", "sha256"]}, "caption"} and
      `media_ref` {"id"}: Meta's media id, which the engine downloads through the Graph API; location; contacts as
      type "contact" (the first card's full_name, phone_number, organization, every card in `contacts` and a vCard
      of all of them when several were shared); interactive button/list replies and template quick-reply buttons as
      "text" (the title pressed). In a group the chat id is `<group id>@g.us` and the sender the member. Reactions
      are REACTION {target, chat_id, sender, emoji ("" when removed), timestamp}. Skipped: orders, system and
      unsupported messages, flow replies, and senders known only by a business-scoped user id (no phone number to
      make a chat id of).

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
            business = user_chat_id(metadata.get("display_phone_number", ""))
            found: list[EngineEvent | None] = []
            if change.get("field") == "messages":
                found += [_receipt_event(status) for status in value.get("statuses") or ()]
                found += [_message_event(message) for message in value.get("messages") or ()]
            else:
                found += [event for group in value.get("groups") or () for event in _group_events(group, business)]
            events += [(phone_id, event) for event in found if event is not None]
    return events


def _receipt_event(status: Mapping[str, Any]) -> EngineEvent | None:
    kind = _RECEIPT_STATUSES.get(status.get("status", ""))
    recipient = str(status.get("recipient_id", ""))
    if status.get("recipient_type") == "group":
        chat_id = group_chat_id(recipient)
    else:
        chat_id = user_chat_id(recipient) if recipient.isdigit() else ""
    if kind is None or not chat_id or not status.get("id"):
        return None  # `played` (voice notes, which we do not send) or a recipient with no chat id
    data: dict[str, Any] = {"wa_message_id": status["id"], "chat_id": chat_id, "status": kind,
                            "timestamp": timestamp(status.get("timestamp"))}
    # Meta's docs spell the member of a group status both ways.
    participant = chat_ids([status], "recipient_participant_id", "participant_recipient_id")
    if participant:
        data["participant"] = participant[0]
    if kind == "failed":
        data |= _webhook_error(status.get("errors"))
    return EngineEvent(RECEIPT, data)


def _message_event(message: Mapping[str, Any]) -> EngineEvent | None:
    sender = user_chat_id(message.get("from", ""))
    group_id = message.get("group_id")
    chat_id = group_chat_id(group_id) if group_id else sender
    when = timestamp(message.get("timestamp")) or dt.datetime.now(dt.UTC)
    if sender and message.get("type") == "reaction":
        reaction = message.get("reaction") or {}
        if not reaction.get("message_id"):
            return None
        return EngineEvent(REACTION, {"target": reaction["message_id"], "chat_id": chat_id, "sender": sender,
                                      "emoji": reaction.get("emoji", ""), "timestamp": when})
    converted = _incoming_content(message)
    if not sender or converted is None or not message.get("id"):
        return None
    kind, content = converted
    body = message.get(message.get("type", "")) or {}
    incoming = IncomingMessage(
        wa_message_id=message["id"], chat_id=chat_id, sender=sender, type=kind, content=content, timestamp=when,
        media_ref={"id": body["id"]} if kind in _INCOMING_MEDIA_TYPES and body.get("id") else None)
    return EngineEvent(MESSAGE, incoming.as_dict())


def _incoming_content(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(our message type, content with wagw.v1.MessageContent's snake_case keys), or None for what we skip."""
    kind = message.get("type", "")
    body = message.get(kind) or {}
    if kind == "text":
        return "text", {"text": body.get("body", "")}
    if kind in _INCOMING_MEDIA_TYPES:
        media = {"mimetype": body.get("mime_type", "")}
        if body.get("filename"):
            media["filename"] = body["filename"]
        if digest := _hex_sha256(body.get("sha256", "")):
            media["sha256"] = digest
        content: dict[str, Any] = {"media": media}
        if body.get("caption"):
            content["caption"] = body["caption"]
        if kind == "audio":
            content["voice_note"] = bool(body.get("voice"))
        return kind, content
    if kind == "location":
        keys = ("latitude", "longitude", "name", "address")
        return "location", {"location": {key: body[key] for key in keys if key in body}}
    if kind == "contacts" and body:
        cards = [_incoming_contact([card]) for card in body]
        return "contact", {"contact": _incoming_contact(body), **({"contacts": cards} if len(cards) > 1 else {})}
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


def _hex_sha256(value: str) -> str:
    """Meta's media hash as hex: it sends the SHA-256 base64-encoded (hex passes as it is)."""
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return ""
    return raw.hex() if len(raw) == 32 else ""


def _vcard_lines(card: Mapping[str, Any]) -> list[str]:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_vcard_escape((card.get('name') or {}).get('formatted_name', ''))}"]
    if company := (card.get("org") or {}).get("company"):
        lines.append(f"ORG:{_vcard_escape(company)}")
    for phone in card.get("phones") or ():
        waid = f";waid={phone['wa_id']}" if phone.get("wa_id") else ""
        lines.append(f"TEL;type=CELL{waid}:{phone.get('phone') or '+' + phone.get('wa_id', '')}")
    return [*lines, "END:VCARD"]


def _vcard_escape(value: str) -> str:
    return re.sub(r"([\\;,])", r"\\\1", value).replace("\n", "\\n")


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
    base: dict[str, Any] = {"group_id": group_chat_id(group_id), "participants": [], "by": business,
                            "timestamp": timestamp(update.get("timestamp"))}
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
        joined = chat_ids(update.get("added_participants") or (), "wa_id", "input")
        # Members join by invite link: each is their own actor.
        return [EngineEvent(GROUP, base | {"action": "join", "participants": joined,
                                           "by": joined[0] if len(joined) == 1 else ""})]
    if kind == "group_participants_remove":
        removed = chat_ids(update.get("removed_participants") or (), "wa_id", "input")
        by_member = update.get("initiated_by") == "participant" and len(removed) == 1
        data = base | {"action": "leave", "participants": removed, "by": removed[0] if by_member else business}
        if failed := chat_ids(update.get("failed_participants") or (), "wa_id", "input"):
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

"""What a message may carry on the simulated network, checked as WhatsApp checks it (DESIGN.md §4).

Content is a dict in the shape of wagw.v1.MessageContent with snake_case keys. Media travels as metadata
(type, name, size, SHA-256), as in a real WhatsApp message: the bytes are uploaded apart, and a receiving client
sees the description before downloading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import emoji

from server.core.engine_specs import SEND_TYPES
from server.simulator.errors import Refusal
from server.simulator.templates import checked_template

# WhatsApp's own limits.
MAX_TEXT = 65_536
MAX_CAPTION = 1_024
MEDIA_LIMITS = {"image": 16 << 20, "video": 16 << 20, "document": 100 << 20, "audio": 16 << 20, "sticker": 1 << 20}
MEDIA_KINDS = {"image": "image/", "video": "video/", "document": "", "audio": "audio/", "sticker": "image/webp"}


@dataclass(frozen=True)
class Media:
    """A media attachment as its message describes it."""

    mimetype: str
    filename: str
    size: int
    sha256: str  # hex


# What WhatsApp carries as messages about other messages: `target` (or `poll`) is a WhatsApp message id.
PROTOCOL_TYPES = ("reaction", "edit", "revoke", "poll_vote")


def checked_protocol(type: str, content: dict[str, Any]) -> dict[str, Any]:
    """The content of a reaction, edit, revoke or poll vote as sent, checked on its own (the network checks it
    against the message it is about)."""
    target = str(content.get("poll" if type == "poll_vote" else "target", ""))
    if not target:
        raise Refusal(f"a {type} names the message it is about")
    if type == "reaction":
        reaction = str(content.get("emoji", ""))
        if reaction and not emoji.is_emoji(reaction):
            raise Refusal("a reaction is one emoji")
        return {"target": target, "emoji": reaction}
    if type == "edit":
        text = str(content.get("text", ""))
        if not text.strip() or len(text) > MAX_TEXT:
            raise Refusal("an edit needs a text")
        return {"target": target, "text": text}
    if type == "revoke":
        return {"target": target}
    options = [str(option) for option in content.get("options") or ()]
    return {"poll": target, "options": options}


def checked_content(type: str, content: dict[str, Any], media: Media | None) -> dict[str, Any]:
    """The content as the recipient gets it, after the checks WhatsApp makes; raises Refusal."""
    if type == "template":
        return checked_template(dict(content.get("template") or {}))
    if type not in SEND_TYPES:
        raise Refusal(f"unknown message type '{type}'")
    if type == "text":
        text = str(content.get("text", ""))
        if not text.strip():
            raise Refusal("the text is empty")
        if len(text) > MAX_TEXT:
            raise Refusal(f"the text is longer than {MAX_TEXT} characters")
        return {"text": text}
    if type in MEDIA_KINDS:
        if media is None or not media.size:
            raise Refusal(f"{type} messages need media")
        if not media.mimetype.startswith(MEDIA_KINDS[type]):
            raise Refusal(f"'{media.mimetype}' is not a {type} mimetype")
        if media.size > MEDIA_LIMITS[type]:
            raise Refusal(f"the {type} is larger than {MEDIA_LIMITS[type] >> 20} MB")
        if type == "audio":  # a voice note is OGG/Opus, which WhatsApp's apps draw from its waveform
            voice_note = bool(content.get("voice_note"))
            if voice_note and not media.mimetype.startswith("audio/ogg"):
                raise Refusal("a voice note must be OGG/Opus audio")
            return {"media": asdict(media), "voice_note": voice_note}
        if type == "sticker":
            return {"media": asdict(media)}
        caption = str(content.get("caption", ""))
        if len(caption) > MAX_CAPTION:
            raise Refusal(f"the caption is longer than {MAX_CAPTION} characters")
        return {"caption": caption, "media": asdict(media)}
    if type == "location":
        location = dict(content.get("location") or {})
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not isinstance(latitude, int | float) or not -90 <= latitude <= 90:
            raise Refusal("the location needs a latitude from -90 to 90")
        if not isinstance(longitude, int | float) or not -180 <= longitude <= 180:
            raise Refusal("the location needs a longitude from -180 to 180")
        return {"location": {"latitude": latitude, "longitude": longitude, "name": location.get("name", ""),
                             "address": location.get("address", ""),
                             **({"live": True} if location.get("live") else {})}}
    if type == "contact":
        cards = [dict(card) for card in content.get("contacts") or ()] or [dict(content.get("contact") or {})]
        for contact in cards:
            if not contact.get("vcard") and not (contact.get("full_name") and contact.get("phone_number")):
                raise Refusal("the contact needs a vcard, or a full name and a phone number")
        checked = [{key: contact.get(key, "") for key in ("full_name", "phone_number", "organization", "vcard")}
                   for contact in cards]
        return {"contact": checked[0], **({"contacts": checked} if len(checked) > 1 else {})}
    poll = dict(content.get("poll") or {})
    options = [str(option) for option in poll.get("options") or ()]
    if not str(poll.get("question", "")).strip():
        raise Refusal("the poll needs a question")
    if not 2 <= len(options) <= 12:
        raise Refusal("a poll needs 2 to 12 options")
    if len(set(options)) != len(options) or not all(option.strip() for option in options):
        raise Refusal("poll options must be unique and not empty")
    return {"poll": {"question": str(poll["question"]), "options": options,
                     "allow_multiple_answers": bool(poll.get("allow_multiple_answers", False))}}

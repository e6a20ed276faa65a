"""What a message may carry, checked before it is accepted: the same rules for single sends and for every
item of a bulk send. Errors name the field as the caller wrote it (`media.mimetype`, `messages[3].content.text`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

import emoji as emoji_data
import magic
from google.protobuf import json_format

from server.core import media_convert, template_messages
from server.core.errors import ApiError, invalid
from server.core.phones import normalize_chat_id
from wagw.v1 import messages_pb2

MAX_TEXT = 4096
MAX_CAPTION = 1024
# WhatsApp's own limits per kind of media, and the types it accepts (documents: any type).
# A sticker's limit is the image given (PNG or JPEG are converted; the WebP must then fit in 1 MiB).
MEDIA_LIMITS = {"IMAGE": 5 * 1024 * 1024, "VIDEO": 16 * 1024 * 1024, "DOCUMENT": 100 * 1024 * 1024,
                "AUDIO": 16 * 1024 * 1024, "STICKER": 5 * 1024 * 1024}
MEDIA_TYPES = {
    "IMAGE": ("image/jpeg", "image/png", "image/webp"),
    "VIDEO": ("video/mp4", "video/3gpp"),
    "STICKER": ("image/webp", "image/png", "image/jpeg"),
}
# Audio is any audio/* type: WhatsApp plays OGG, MP3, M4A/AAC and AMR; voice notes are converted anyway.
AUDIO_PREFIX = "audio/"
MEDIA_KINDS = ("IMAGE", "VIDEO", "DOCUMENT", "AUDIO", "STICKER")
_MIMETYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
POLL_OPTIONS = (2, 12)


def _field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check(type_name: str, content: messages_pb2.MessageContent, prefix: str = "", type_field: str = "type"
          ) -> dict[str, Any]:
    """The content of a message of type `type_name` (TEXT, IMAGE, …), checked; returned as stored (JSON with
    proto field names, inline media as base64)."""
    checker = _CHECKS.get(type_name)
    if checker is None:
        raise invalid(type_field, "must be one of text, image, video, document, location, contact, poll, audio, "
                                  "sticker, template")
    if content.voice_note and type_name != "AUDIO":
        raise invalid(_field(prefix, "voiceNote"), "only audio messages can be voice notes")
    checker(content, prefix)
    fields = content.ListFields()
    if all(field.type == field.TYPE_STRING for field, _ in fields):
        return {field.name: value for field, value in fields}  # text and captions: json_format is slow at bulk size
    return json_format.MessageToDict(content, preserving_proto_field_name=True)


def _text(content: messages_pb2.MessageContent, prefix: str) -> None:
    check_text(content.text, _field(prefix, "text"))


def _media(kind: str) -> Any:
    def check_media(content: messages_pb2.MessageContent, prefix: str) -> None:
        media = content.media
        if not content.HasField("media") or not media.WhichOneof("source"):
            raise invalid(_field(prefix, "media"), "give media.url or media.data (base64)")
        if len(content.caption) > MAX_CAPTION:
            raise invalid(_field(prefix, "caption"), f"must be at most {MAX_CAPTION} characters")
        if content.caption and kind in ("AUDIO", "STICKER"):
            raise invalid(_field(prefix, "caption"), f"{kind.lower()} messages carry no caption")
        if len(media.filename) > 255:
            raise invalid(_field(prefix, "media.filename"), "must be at most 255 characters")
        if media.mimetype and not _MIMETYPE.fullmatch(media.mimetype):
            raise invalid(_field(prefix, "media.mimetype"), f"'{media.mimetype}' is not a MIME type")
        if media.mimetype:
            check_type(kind, media.mimetype, _field(prefix, "media.mimetype"))
        if media.WhichOneof("source") == "url":
            parts = urlsplit(media.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise invalid(_field(prefix, "media.url"), f"'{media.url}' is not an http(s) URL")
        else:
            if len(media.data) > MEDIA_LIMITS[kind]:
                raise ApiError("PAYLOAD_TOO_LARGE", f"{_field(prefix, 'media.data')}: {kind.lower()}s may be at "
                               f"most {MEDIA_LIMITS[kind] // (1024 * 1024)} MiB", field=_field(prefix, "media.data"))
            sniffed = magic.from_buffer(media.data[:8192], mime=True)
            if not media.mimetype:
                media.mimetype = sniffed
            check_type(kind, sniffed, _field(prefix, "media.data"))
            _prepare(kind, content, _field(prefix, "media"))
    return check_media


def _prepare(kind: str, content: messages_pb2.MessageContent, field: str) -> None:
    """Inline media made into what goes out (a WebP sticker, an OGG/Opus voice note, refused here when it cannot
    be), with its size and hash. Media by URL is prepared the same way when it is downloaded."""
    media = content.media
    if kind == "STICKER":
        media.data, media.mimetype = media_convert.sticker(media.data, field), "image/webp"
    elif kind == "AUDIO" and content.voice_note:
        note = media_convert.voice_note(media.data, field)
        media.data, media.mimetype = note.data, media_convert.VOICE_MIMETYPE
        media.seconds, media.waveform = note.seconds, note.waveform
    media.size, media.sha256 = len(media.data), hashlib.sha256(media.data).hexdigest()


def check_type(kind: str, mimetype: str, field: str) -> None:
    """Whether media of this MIME type may go out as `kind` (an image route refuses a PDF)."""
    if kind == "AUDIO":
        if not mimetype.startswith(AUDIO_PREFIX):
            raise invalid(field, f"{mimetype} is not audio: an audio message or voice note needs an audio file "
                                 "(OGG, MP3, M4A/AAC, AMR or WAV)")
        return
    allowed = MEDIA_TYPES.get(kind)
    if allowed is not None and mimetype not in allowed:
        raise invalid(field, f"{mimetype} cannot be sent as {kind.lower()}: use one of {', '.join(allowed)}")


def _location(content: messages_pb2.MessageContent, prefix: str) -> None:
    if not content.HasField("location"):
        raise invalid(_field(prefix, "location"), "is required")
    location = content.location
    if not -90 <= location.latitude <= 90:
        raise invalid(_field(prefix, "location.latitude"), "must be between -90 and 90")
    if not -180 <= location.longitude <= 180:
        raise invalid(_field(prefix, "location.longitude"), "must be between -180 and 180")
    for name in ("name", "address"):
        if len(getattr(location, name)) > 1000:
            raise invalid(_field(prefix, f"location.{name}"), "must be at most 1000 characters")


def _contact(content: messages_pb2.MessageContent, prefix: str) -> None:
    if not content.HasField("contact"):
        raise invalid(_field(prefix, "contact"), "is required")
    card = content.contact
    if card.vcard:
        if "BEGIN:VCARD" not in card.vcard.upper() or "END:VCARD" not in card.vcard.upper():
            raise invalid(_field(prefix, "contact.vcard"), "is not a vCard (BEGIN:VCARD … END:VCARD)")
        return
    if not card.full_name.strip():
        raise invalid(_field(prefix, "contact.fullName"), "is required (or give contact.vcard)")
    if not card.phone_number.strip():
        raise invalid(_field(prefix, "contact.phoneNumber"), "is required (or give contact.vcard)")
    card.phone_number = "+" + normalize_chat_id(card.phone_number, _field(prefix, "contact.phoneNumber")
                                                ).split("@")[0]


def _poll(content: messages_pb2.MessageContent, prefix: str) -> None:
    if not content.HasField("poll"):
        raise invalid(_field(prefix, "poll"), "is required")
    poll = content.poll
    if not poll.question.strip() or len(poll.question) > 255:
        raise invalid(_field(prefix, "poll.question"), "must be 1 to 255 characters")
    options = [option.strip() for option in poll.options]
    low, high = POLL_OPTIONS
    if not low <= len(options) <= high:
        raise invalid(_field(prefix, "poll.options"), f"give {low} to {high} options")
    if len(set(options)) != len(options) or not all(0 < len(option) <= 100 for option in options):
        raise invalid(_field(prefix, "poll.options"), "options must be unique and 1 to 100 characters each")


def check_emoji(value: str, field: str = "emoji") -> str:
    """One emoji (a single emoji grapheme: skin tones, flags, keycaps and joined sequences included), or "" (a
    removal)."""
    if value and not emoji_data.is_emoji(value):
        raise invalid(field, f"'{value[:20]}' is not a single emoji")
    return value


def check_text(value: str, field: str = "text") -> str:
    """A message text: 1 to MAX_TEXT characters, not blank."""
    if not value.strip():
        raise invalid(field, "is required")
    if len(value) > MAX_TEXT:
        raise invalid(field, f"must be at most {MAX_TEXT} characters")
    return value


_CHECKS = {
    "TEXT": _text,
    "IMAGE": _media("IMAGE"),
    "VIDEO": _media("VIDEO"),
    "DOCUMENT": _media("DOCUMENT"),
    "LOCATION": _location,
    "CONTACT": _contact,
    "POLL": _poll,
    "AUDIO": _media("AUDIO"),
    "STICKER": _media("STICKER"),
    "TEMPLATE": lambda content, prefix: template_messages.check(content, _field(prefix, "template")),
}

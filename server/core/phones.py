"""Phone numbers and chat ids: every accepted form in, one canonical form out (DESIGN.md §4).

Accepted: `628123456789@c.us` (whatsapp-web.js), `628123456789@s.whatsapp.net` (whatsmeow), `+62 812-3456-789`,
`628123456789` (international digits without +), groups `<digits>[-<digits>]@g.us`, and people WhatsApp
addresses by a LID, its internal id instead of their number (`<digits>@lid`).
Stored: users as `<digits>@s.whatsapp.net`, phone numbers as E.164, groups and LIDs as given (a LID whose phone
number a profile has learned is stored as that number: server/core/lids.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

from server.core.errors import invalid

USER_SUFFIXES = ("@c.us", "@s.whatsapp.net")
GROUP_SUFFIX = "@g.us"
LID_SUFFIX = "@lid"
_LID = re.compile(r"\d{1,30}@lid", re.ASCII)
# WhatsApp's group ids are digits (old ones `<creator>-<time>`); the Cloud API's are opaque base64 strings.
# ASCII only: Python's \d also matches other scripts' digits, which ascii_digits turns into ASCII first.
_GROUP_ID = re.compile(r"(\d{5,30}(-\d{5,20})?|[A-Za-z0-9+/]{16,200}={0,2})@g\.us", re.ASCII)
_PHONE_CHARS = re.compile(r"\+?[\d\s().-]+", re.ASCII)
_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)


def ascii_digits(text: str) -> str:
    """Digits of every script as ASCII (`٨١٢` → `812`), so one number has one form whatever keyboard typed it."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(char)) if unicodedata.decimal(char, None) is not None else char
                   for char in text)


def normalize_phone(raw: str, field: str) -> str:
    """E.164 (`+628123456789`) for any accepted user form; VALIDATION_ERROR naming `field` otherwise."""
    text = ascii_digits(raw.strip())
    for suffix in USER_SUFFIXES:
        if text.endswith(suffix):
            text = text.removesuffix(suffix)
            break
    if not text:
        raise invalid(field, "is required")
    if not _PHONE_CHARS.fullmatch(text):
        raise invalid(field, f"'{raw}' is not a phone number")
    if not text.startswith("+"):
        text = "+" + text  # bare digits are international numbers, as WhatsApp writes them
    if _E164.fullmatch(text) and _valid_e164(text):
        return text
    try:
        number = phonenumbers.parse(text)
    except phonenumbers.NumberParseException as exc:
        raise invalid(field, f"'{raw}' is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid(field, f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=16_384)
def _valid_e164(text: str) -> bool:
    """The common case, already `+<digits>`, checked without phonenumbers' parser (a bulk send checks 10,000
    numbers: this is twice as fast). Country codes are prefix-free, so the first that matches is the one.
    Anything unusual (a national part starting with 0) goes the full way. Remembered: phonenumbers' check still
    takes 11 µs, and a gateway sends to the same numbers again and again (a few MiB at most)."""
    digits = text[1:]
    for length in (1, 2, 3):
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[length:]
            if not national or national.startswith("0"):
                return False
            number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
            return phonenumbers.is_valid_number(number)
    return False


def normalize_chat_id(raw: str, field: str) -> str:
    """The canonical chat id: `<digits>@s.whatsapp.net` for people, `<id>@g.us` for groups."""
    text = raw.strip()
    if text.endswith(GROUP_SUFFIX):
        return normalize_group_id(text, field)
    if text.endswith(LID_SUFFIX):
        text = ascii_digits(text)
        if not _LID.fullmatch(text):
            raise invalid(field, f"'{raw}' is not a LID (<digits>@lid)")
        return text
    return phone_to_chat_id(normalize_phone(text, field))


def normalize_group_id(raw: str, field: str) -> str:
    text = ascii_digits(raw.strip())
    if not text.endswith(GROUP_SUFFIX):
        text += GROUP_SUFFIX
    if not _GROUP_ID.fullmatch(text):
        raise invalid(field, f"'{raw}' is not a group id (<digits>@g.us)")
    return text


def phone_to_chat_id(e164: str) -> str:
    return e164.removeprefix("+") + "@s.whatsapp.net"


def is_group(chat_id: str) -> bool:
    return chat_id.endswith(GROUP_SUFFIX)


def is_lid(chat_id: str) -> bool:
    return chat_id.endswith(LID_SUFFIX)



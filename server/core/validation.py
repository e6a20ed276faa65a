"""Field checks shared by the services. Each failure is a VALIDATION_ERROR naming the REST field."""

from __future__ import annotations

import re

from server.core.errors import invalid

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG = re.compile(r"^[\w .:/+-]{1,50}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TAGS = 50
MAX_ATTRIBUTES = 50


def text(value: str, field: str, *, required: bool = False, max_len: int = 200) -> str:
    value = value.strip()
    if required and not value:
        raise invalid(field, "is required")
    if len(value) > max_len:
        raise invalid(field, f"must be at most {max_len} characters")
    return value


def resource_id(value: str, field: str) -> str:
    if not _ID.fullmatch(value):
        raise invalid(field, "must be 1 to 64 letters, digits, '-' or '_'")
    return value


def email(value: str, field: str = "email") -> str:
    value = value.strip()
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise invalid(field, f"'{value}' is not an email address")
    return value


def tags(values: list[str], field: str = "tags") -> list[str]:
    """Lower-case, trimmed, de-duplicated in order. Quotes are refused: tags are matched inside JSON text."""
    result: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise invalid(field, "must be a list of strings")
        tag = raw.strip().lower()
        if not _TAG.fullmatch(tag):
            raise invalid(field, f"'{raw}' is not a tag (1 to 50 letters, digits, spaces or . : / + - _)")
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise invalid(field, f"at most {MAX_TAGS} tags")
    return result


def string_map(values: dict[str, str], field: str, *, max_entries: int = MAX_ATTRIBUTES) -> dict[str, str]:
    if len(values) > max_entries:
        raise invalid(field, f"at most {max_entries} entries")
    for key, value in values.items():
        if not key or len(key) > 64:
            raise invalid(field, f"key '{key[:64]}' must be 1 to 64 characters")
        if len(value) > 1000:
            raise invalid(field, f"value of '{key}' must be at most 1000 characters")
    return dict(values)


def int_range(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise invalid(field, f"must be between {low} and {high}")
    return value

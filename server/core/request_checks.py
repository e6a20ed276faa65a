"""Requests no servicer should see: bytes that are not a valid message of the method's type, and strings holding
NUL characters. Both come from callers (Envoy's transcoder passes invalid UTF-8 from a path or a query through,
and writes a JSON object given for a map's string value as bytes that do not parse), and both must be a 400
naming the field, never a 500: grpcio would otherwise fail the call with "Exception deserializing request!", and
PostgreSQL refuses NUL in text with an error the gateway cannot tell from a bug.

Fields are named as REST callers write them: JSON names, dotted, with indexes and map keys
(`messages[3].content.text`, `labels.a`).
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

# Wire types of the protobuf encoding.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class _Truncated(Exception):
    pass


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Truncated
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, the field's whole encoding, its payload) for each field in `data`; raises
    _Truncated where the encoding stops making sense."""
    position = 0
    while position < len(data):
        start = position
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            _, position = _varint(data, position)
            payload = b""
        elif wire_type in (_FIXED64, _FIXED32):
            position += 8 if wire_type == _FIXED64 else 4
            payload = b""
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            payload = data[position:position + length]
            position += length
        else:
            raise _Truncated  # groups: none of our messages has one
        if position > len(data):
            raise _Truncated
        yield number, wire_type, data[start:position], payload


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _parses(descriptor: Descriptor, data: bytes) -> bool:
    from google.protobuf import message_factory

    try:
        message_factory.GetMessageClass(descriptor).FromString(data)
    except Exception:
        return False
    return True


def undecodable_field(descriptor: Descriptor, data: bytes, prefix: str = "") -> str:
    """The field that keeps `data` from parsing as a `descriptor` message; `prefix` (or "body") when it cannot
    be told."""
    try:
        fields = list(_fields(data))
    except _Truncated:
        return prefix or "body"
    counts: dict[int, int] = {}
    for number, _wire_type, encoded, payload in fields:
        index = counts.get(number, 0)
        counts[number] = index + 1
        field = descriptor.fields_by_number.get(number)
        if field is None or _parses(descriptor, encoded):
            continue
        name = _join(prefix, field.json_name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            entry = field.message_type
            if entry.GetOptions().map_entry:
                key = _map_key(entry, payload)
                return f"{name}.{key}" if key else name
            if field.is_repeated:
                name = f"{name}[{index}]"
            return undecodable_field(entry, payload, name)
        if field.is_repeated and field.type == FieldDescriptor.TYPE_STRING:
            return f"{name}[{index}]"
        return name
    return prefix or "body"


def _map_key(entry: Descriptor, payload: bytes) -> str:
    """A map entry's key as text, when it is a readable string."""
    try:
        for number, _wire_type, _encoded, value in _fields(payload):
            if number == 1 and entry.fields_by_number[1].type == FieldDescriptor.TYPE_STRING:
                return value.decode("utf-8")
    except (_Truncated, UnicodeDecodeError):
        pass
    return ""


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The first string field (at any depth, map keys and values included) holding a NUL character."""
    kind = message.DESCRIPTOR.full_name
    if kind in _JSON_TYPES:
        return _json_nul_field(message, prefix)
    for field, value in message.ListFields():
        name = _join(prefix, field.json_name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str) and "\x00" in key:
                        return name
                    if isinstance(item, str) and "\x00" in item:
                        return f"{name}.{key}"
                    if isinstance(item, Message) and (found := nul_field(item, f"{name}.{key}")):
                        return found
            elif field.is_repeated:
                for index, item in enumerate(value):
                    if found := nul_field(item, f"{name}[{index}]"):
                        return found
            elif found := nul_field(value, name):
                return found
        elif field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                for index, item in enumerate(value):
                    if "\x00" in item:
                        return f"{name}[{index}]"
            elif "\x00" in value:
                return name
    return None


_JSON_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})


def _json_nul_field(message: Message, prefix: str) -> str | None:
    """nul_field for free-form JSON (engineSettings, arguments): named as the caller wrote it (`a.b[2]`), not
    as protobuf stores it (`fields.a.structValue...`)."""
    kind = message.DESCRIPTOR.full_name
    if kind == "google.protobuf.Struct":
        for key, value in message.fields.items():
            if "\x00" in key:
                return prefix
            if found := _json_nul_field(value, _join(prefix, key)):
                return found
    elif kind == "google.protobuf.ListValue":
        for index, value in enumerate(message.values):
            if found := _json_nul_field(value, f"{prefix}[{index}]"):
                return found
    else:
        which = message.WhichOneof("kind")
        if which == "string_value" and "\x00" in message.string_value:
            return prefix
        if which in ("struct_value", "list_value"):
            return _json_nul_field(getattr(message, which), prefix)
    return None

"""What a message may carry (server/core/content.py): every refusal names the field as the caller wrote it, for a
single send and, with its prefix, for an item of a bulk send; what passes is stored as given (a contact's number
normalized, inline media typed from its bytes)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from google.protobuf import json_format

from server.core import content
from server.core.errors import ApiError
from wagw.v1 import messages_pb2

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Jane\nEND:VCARD"


def body(**fields: Any) -> messages_pb2.MessageContent:
    """A MessageContent from its JSON form (inline media data given as bytes)."""
    media = fields.get("media")
    if media and isinstance(media.get("data"), bytes):
        fields["media"] = {**media, "data": base64.b64encode(media["data"]).decode()}
    return json_format.ParseDict(fields, messages_pb2.MessageContent())


def refusal(type_name: str, message: messages_pb2.MessageContent, prefix: str = "") -> ApiError:
    with pytest.raises(ApiError) as caught:
        content.check(type_name, message, prefix, f"{prefix}.type" if prefix else "type")
    return caught.value


REFUSALS = [
    ("TEXT", {}, "text", "is required"),
    ("TEXT", {"text": "   "}, "text", "is required"),
    ("TEXT", {"text": "x" * 4097}, "text", "at most 4096"),
    ("IMAGE", {}, "media", "give media.url or media.data"),
    ("IMAGE", {"media": {"data": PNG}, "caption": "c" * 1025}, "caption", "at most 1024"),
    ("DOCUMENT", {"media": {"data": PDF, "filename": "f" * 256}}, "media.filename", "at most 255"),
    ("DOCUMENT", {"media": {"data": PDF, "mimetype": "not a type"}}, "media.mimetype", "is not a MIME type"),
    ("IMAGE", {"media": {"data": PDF, "mimetype": "application/pdf"}}, "media.mimetype", "cannot be sent as image"),
    ("VIDEO", {"media": {"data": PNG, "mimetype": "image/png"}}, "media.mimetype", "cannot be sent as video"),
    ("IMAGE", {"media": {"data": PDF}}, "media.data", "application/pdf cannot be sent as image"),
    ("IMAGE", {"media": {"url": "ftp://example.com/a.png"}}, "media.url", "is not an http(s) URL"),
    ("IMAGE", {"media": {"url": "http:///a.png"}}, "media.url", "is not an http(s) URL"),
    ("LOCATION", {}, "location", "is required"),
    ("LOCATION", {"location": {"latitude": 90.5, "longitude": 0}}, "location.latitude", "between -90 and 90"),
    ("LOCATION", {"location": {"latitude": 0, "longitude": -180.5}}, "location.longitude", "between -180 and 180"),
    ("LOCATION", {"location": {"latitude": 0, "longitude": 0, "name": "n" * 1001}}, "location.name", "at most 1000"),
    ("LOCATION", {"location": {"latitude": 0, "longitude": 0, "address": "a" * 1001}}, "location.address",
     "at most 1000"),
    ("CONTACT", {}, "contact", "is required"),
    ("CONTACT", {"contact": {"vcard": "hello"}}, "contact.vcard", "is not a vCard"),
    ("CONTACT", {"contact": {"phoneNumber": "628123456789"}}, "contact.fullName", "is required"),
    ("CONTACT", {"contact": {"fullName": "Jane"}}, "contact.phoneNumber", "is required"),
    ("CONTACT", {"contact": {"fullName": "Jane", "phoneNumber": "12"}}, "contact.phoneNumber", "not a phone number"),
    ("POLL", {}, "poll", "is required"),
    ("POLL", {"poll": {"question": " ", "options": ["a", "b"]}}, "poll.question", "1 to 255"),
    ("POLL", {"poll": {"question": "q" * 256, "options": ["a", "b"]}}, "poll.question", "1 to 255"),
    ("POLL", {"poll": {"question": "Q?", "options": ["a"]}}, "poll.options", "give 2 to 12"),
    ("POLL", {"poll": {"question": "Q?", "options": [str(i) for i in range(13)]}}, "poll.options", "give 2 to 12"),
    ("POLL", {"poll": {"question": "Q?", "options": ["a", " a "]}}, "poll.options", "unique"),
    ("POLL", {"poll": {"question": "Q?", "options": ["a", " "]}}, "poll.options", "1 to 100 characters"),
    ("POLL", {"poll": {"question": "Q?", "options": ["a", "b" * 101]}}, "poll.options", "1 to 100 characters"),
]


@pytest.mark.parametrize(("type_name", "fields", "field", "says"), REFUSALS,
                         ids=[f"{r[0].lower()}-{r[2]}-{i}" for i, r in enumerate(REFUSALS)])
def test_each_refusal_names_its_field(type_name, fields, field, says):
    error = refusal(type_name, body(**fields))
    assert (error.code, error.metadata["field"]) == ("VALIDATION_ERROR", field)
    assert error.message.startswith(f"{field}: ") and says in error.message


@pytest.mark.parametrize(("type_name", "fields", "field", "says"), REFUSALS[::4])
def test_in_a_bulk_item_the_field_carries_the_items_path(type_name, fields, field, says):
    error = refusal(type_name, body(**fields), "messages[3].content")
    assert error.metadata["field"] == f"messages[3].content.{field}"


def test_an_unknown_type_names_the_type_field():
    assert refusal("STICKER", body(text="x")).metadata["field"] == "type"
    assert refusal("STICKER", body(text="x"), "messages[0].content").metadata["field"] == "messages[0].content.type"


def test_inline_media_over_the_limit_is_payload_too_large():
    error = refusal("IMAGE", body(media={"data": PNG + bytes(5 * 1024 * 1024)}))
    assert (error.code, error.metadata["field"]) == ("PAYLOAD_TOO_LARGE", "media.data")


def test_what_passes_is_stored_as_given():
    assert content.check("TEXT", body(text="Hello")) == {"text": "Hello"}
    stored = content.check("IMAGE", body(media={"data": PNG}, caption="a pixel"))
    assert stored["media"]["mimetype"] == "image/png" and stored["caption"] == "a pixel"
    assert content.check("CONTACT", body(contact={"fullName": "Jane", "phoneNumber": "+62 812-3456-789"})) == {
        "contact": {"full_name": "Jane", "phone_number": "+628123456789"}}
    assert content.check("CONTACT", body(contact={"vcard": VCARD}))["contact"]["vcard"] == VCARD
    assert content.check("IMAGE", body(media={"url": "https://example.com/a.png"}))["media"]["url"] == \
        "https://example.com/a.png"

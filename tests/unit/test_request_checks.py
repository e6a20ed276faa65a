"""Requests no servicer should see (server/core/request_checks.py): the field is named as a REST caller wrote it."""

from __future__ import annotations

import pytest

from server.core import request_checks
from server.core.errors import ApiError
from server.core.phones import normalize_chat_id, normalize_phone
from server.core.rpc import _check, _Deserializer
from server.core.validation import resource_id
from wagw.v1 import bulk_pb2, contacts_pb2, profiles_pb2


def test_nul_is_found_at_any_depth_and_named_like_json():
    assert request_checks.nul_field(profiles_pb2.GetProfileRequest(id="a\x00")) == "id"
    assert request_checks.nul_field(profiles_pb2.CreateProfileRequest(name="a", labels={"k": "v\x00"})) \
        == "labels.k"
    assert request_checks.nul_field(profiles_pb2.CreateProfileRequest(name="a", labels={"k\x00": "v"})) \
        == "labels"
    batch = bulk_pb2.SendBulkRequest(profile_id="p")
    batch.messages.add(chat_id="1").content.text = "fine"
    batch.messages.add(chat_id="2", variables={"name": "J\x00"}).content.text = "Hi {name}"
    assert request_checks.nul_field(batch) == "messages[1].variables.name"
    tagged = contacts_pb2.AddContactTagsRequest(id="c", tags=["ok", "b\x00d"])
    assert request_checks.nul_field(tagged) == "tags[1]"
    settings = profiles_pb2.CreateProfileRequest(name="a")
    settings.engine_settings.update({"deep": {"list": [1, "x\x00"]}})
    assert request_checks.nul_field(settings) == "engineSettings.deep.list[1]"
    assert request_checks.nul_field(profiles_pb2.CreateProfileRequest(name="all fine", labels={"a": "b"})) is None


def test_bytes_that_do_not_parse_name_the_field():
    descriptor = profiles_pb2.GetProfileRequest.DESCRIPTOR
    assert request_checks.undecodable_field(descriptor, b"\x0a\x02\xff\xfe") == "id"  # invalid UTF-8 in id
    assert request_checks.undecodable_field(descriptor, b"\x0a\x05ab") == "body"  # cut short
    create = profiles_pb2.CreateProfileRequest.DESCRIPTOR
    labels = create.fields_by_name["labels"].number
    entry = b"\x0a\x01a\x12\x02\xc3\x28"  # key "a", a value that is not UTF-8
    raw = profiles_pb2.CreateProfileRequest(name="x").SerializeToString() + bytes([labels << 3 | 2, len(entry)]) \
        + entry
    assert request_checks.undecodable_field(create, raw) == "labels.a"


def test_the_deserializer_never_raises_and_the_check_names_the_field():
    deserialize = _Deserializer(profiles_pb2.GetProfileRequest.FromString)
    assert deserialize(profiles_pb2.GetProfileRequest(id="ok").SerializeToString()).id == "ok"
    undecodable = deserialize(b"\x0a\x02\xff\xfe")
    with pytest.raises(ApiError) as caught:
        _check(undecodable)
    assert caught.value.code == "VALIDATION_ERROR" and caught.value.metadata == {"field": "id"}
    with pytest.raises(ApiError) as caught:
        _check(profiles_pb2.CreateProfileRequest(name="a\x00"))
    assert caught.value.metadata == {"field": "name"}


@pytest.mark.parametrize("raw", ["+62٨١٢٣٤٥٦٧٨٩", "+62۸۱۲۳۴۵۶۷۸۹", "+६२८१२३४५६७८९", "628123456789"])  # noqa: RUF001
def test_digits_of_every_script_are_one_number(raw):
    assert normalize_phone(raw, "phoneNumber") == "+628123456789"
    assert normalize_chat_id(f"{raw.removeprefix('+')}@c.us", "chatId") == "628123456789@s.whatsapp.net"


@pytest.mark.parametrize("raw", ["abc\n", "abc\ndef", "\nabc", "ab c", ""])
def test_resource_ids_are_matched_whole(raw):
    with pytest.raises(ApiError):
        resource_id(raw, "id")
    assert resource_id("abc-DEF_123", "id") == "abc-DEF_123"

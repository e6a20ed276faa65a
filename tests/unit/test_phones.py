"""Chat id and phone number forms (DESIGN.md §4): every accepted form in, one canonical form out."""

import pytest

from server.core import phones
from server.core.errors import ApiError
from server.core.phones import normalize_chat_id, normalize_group_id, normalize_phone


@pytest.mark.parametrize("raw", [
    "628123456789@c.us",
    "628123456789@s.whatsapp.net",
    "+62 812-3456-789",
    "628123456789",
    " +62 (812) 3456.789 ",
])
def test_user_forms_share_one_canonical_chat_id(raw):
    assert normalize_chat_id(raw, "chatId") == "628123456789@s.whatsapp.net"
    assert normalize_phone(raw, "phoneNumber") == "+628123456789"


def test_group_ids_are_kept():
    assert normalize_chat_id("120363025246125486@g.us", "chatId") == "120363025246125486@g.us"
    assert normalize_group_id("628123456789-1612345678", "groupId") == "628123456789-1612345678@g.us"
    # The Cloud API's group ids are opaque base64 strings.
    assert normalize_chat_id("Y2FwaV9ncm91cDoxMjM0NTY3ODkw@g.us", "chatId") == "Y2FwaV9ncm91cDoxMjM0NTY3ODkw@g.us"


def test_lids_are_chat_ids():
    """WhatsApp addresses some people by a LID, its internal id, instead of their number."""
    assert normalize_chat_id(" 123456789012345@lid ", "chatId") == "123456789012345@lid"
    assert normalize_chat_id("١٢٣@lid", "chatId") == "123@lid"


@pytest.mark.parametrize("raw", ["", "hello", "+12345", "62812345678901234567890", "abc@g.us", "12@c.us",
                                 "abc@lid", "@lid", "+123@lid"])
def test_bad_numbers_name_the_field(raw):
    with pytest.raises(ApiError) as caught:
        normalize_chat_id(raw, "chatId")
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.metadata == {"field": "chatId"}
    assert caught.value.message.startswith("chatId: ")


def test_a_number_is_checked_once_and_remembered(monkeypatch):
    checks = []
    real = phones.phonenumbers.is_valid_number
    monkeypatch.setattr(phones.phonenumbers, "is_valid_number", lambda number: checks.append(number) or real(number))
    phones._valid_e164.cache_clear()
    assert phones.normalize_phone("+6281234567890", "to") == phones.normalize_phone("6281234567890@c.us", "to")
    assert len(checks) == 1
    with pytest.raises(ApiError):  # an invalid number is remembered as invalid, and still refused each time
        phones.normalize_phone("+620812345", "to")
    with pytest.raises(ApiError):
        phones.normalize_phone("+620812345", "to")

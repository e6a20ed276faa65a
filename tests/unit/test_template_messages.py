"""Template messages as the API accepts them (server/core/template_messages.py): what Meta would refuse is a
VALIDATION_ERROR naming the field, and a bulk item's `{var}` placeholders fill its template's parameters."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from server.api.services.bulk import _items
from server.core import content
from server.core.errors import ApiError
from wagw.v1 import bulk_pb2, messages_pb2

ORDER = {"name": "order_update", "language": "en_US", "components": [
    {"type": "BODY", "parameters": [{"type": "TEXT", "text": "Budi"}, {"type": "TEXT", "text": "#1042"}]}]}


def check(template: dict[str, Any] | None) -> dict[str, Any]:
    given = {} if template is None else {"template": template}
    return content.check("TEMPLATE", json_format.ParseDict(given, messages_pb2.MessageContent()))


def body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": "order_update", "language": "en_US", "components": [{"type": "BODY", "parameters": parameters}]}


def button(sub_type: str, index: int, parameter: dict[str, Any]) -> dict[str, Any]:
    return {"name": "order_update", "language": "en_US",
            "components": [{"type": "BUTTON", "subType": sub_type, "index": index, "parameters": [parameter]}]}


def test_a_template_is_stored_as_given():
    assert check(ORDER)["template"] == {"name": "order_update", "language": "en_US", "components": [
        {"type": "BODY", "parameters": [{"type": "TEXT", "text": "Budi"}, {"type": "TEXT", "text": "#1042"}]}]}
    assert check({"name": "hello_world", "language": "pt_BR"})["template"] == {"name": "hello_world",
                                                                              "language": "pt_BR"}


@pytest.mark.parametrize(("template", "field"), [
    (None, "template"),
    ({}, "template.name"),
    ({"name": "Order Update", "language": "en_US"}, "template.name"),
    ({"name": "order_update", "language": "English"}, "template.language"),
    ({"name": "order_update"}, "template.language"),
    (body(), "template.components[0].parameters"),
    (body(*[{"type": "TEXT", "text": str(n)} for n in range(11)]), "template.components[0].parameters"),
    (body({"text": "Budi"}), "template.components[0].parameters[0].type"),
    (body({"type": "TEXT", "text": " "}), "template.components[0].parameters[0].text"),
    (body({"type": "TEXT", "text": "x" * 1025}), "template.components[0].parameters[0].text"),
    (body({"type": "IMAGE", "media": {"link": "https://a.example/x.png"}}),
     "template.components[0].parameters[0].type"),
    (body({"type": "CURRENCY", "currency": {"fallbackValue": "$1", "code": "dollars", "amount1000": "1000"}}),
     "template.components[0].parameters[0].currency.code"),
    (body({"type": "DATE_TIME", "dateTime": {}}), "template.components[0].parameters[0].dateTime.fallbackValue"),
    (body({"type": "TEXT", "text": "a", "parameterName": "Order-Id"}),
     "template.components[0].parameters[0].parameterName"),
    (body({"type": "TEXT", "text": "a", "parameterName": "a"}, {"type": "TEXT", "text": "b"}),
     "template.components[0].parameters"),
    ({"name": "x", "language": "en", "components": [{"type": "HEADER", "parameters": [
        {"type": "TEXT", "text": "x" * 61}]}]}, "template.components[0].parameters[0].text"),
    ({"name": "x", "language": "en", "components": [{"type": "HEADER", "parameters": [
        {"type": "IMAGE", "media": {"link": "ftp://a.example/x.png"}}]}]},
     "template.components[0].parameters[0].media.link"),
    ({"name": "x", "language": "en", "components": [{"type": "HEADER", "parameters": [
        {"type": "VIDEO", "media": {"link": "https://a.example/x.mp4", "filename": "x.mp4"}}]}]},
     "template.components[0].parameters[0].media.filename"),
    ({"name": "x", "language": "en", "components": [{"parameters": [{"type": "TEXT", "text": "a"}]}]},
     "template.components[0].type"),
    ({"name": "x", "language": "en", "components": [{"type": "BODY", "subType": "URL",
                                                     "parameters": [{"type": "TEXT", "text": "a"}]}]},
     "template.components[0].subType"),
    ({"name": "x", "language": "en", "components": [{"type": "BUTTON", "index": 0,
                                                     "parameters": [{"type": "PAYLOAD", "payload": "a"}]}]},
     "template.components[0].subType"),
    (button("QUICK_REPLY", 10, {"type": "PAYLOAD", "payload": "a"}), "template.components[0].index"),
    (button("QUICK_REPLY", 0, {"type": "TEXT", "text": "a"}), "template.components[0].parameters[0].type"),
    (button("QUICK_REPLY", 0, {"type": "PAYLOAD", "payload": "x" * 129}),
     "template.components[0].parameters[0].payload"),
    (button("COPY_CODE", 0, {"type": "COUPON_CODE", "couponCode": "x" * 16}),
     "template.components[0].parameters[0].couponCode"),
    ({"name": "x", "language": "en", "components": [
        {"type": "BODY", "parameters": [{"type": "TEXT", "text": "a"}]},
        {"type": "BODY", "parameters": [{"type": "TEXT", "text": "b"}]}]}, "template.components[1]"),
])
def test_what_meta_would_refuse_names_the_field(template: dict[str, Any] | None, field: str):
    with pytest.raises(ApiError) as raised:
        check(template)
    assert raised.value.code == "VALIDATION_ERROR"
    assert raised.value.metadata["field"] == field, raised.value.message


def test_two_buttons_are_two_components():
    check({"name": "x", "language": "en", "components": [
        button("QUICK_REPLY", 0, {"type": "PAYLOAD", "payload": "yes"})["components"][0],
        button("QUICK_REPLY", 1, {"type": "PAYLOAD", "payload": "no"})["components"][0]]})


def bulk(*items: dict[str, Any], engine: str = "cloudapi") -> list[dict[str, Any]]:
    request = json_format.ParseDict({"profileId": "p", "messages": list(items)}, bulk_pb2.SendBulkRequest())
    return _items(request, engine)


def test_bulk_items_may_be_templates_with_variables_in_their_parameters():
    template = {"name": "order_shipped", "language": "en_US", "components": [
        {"type": "HEADER", "parameters": [{"type": "IMAGE", "media": {"link": "https://shop.example/{order}.png"}}]},
        {"type": "BODY", "parameters": [
            {"type": "TEXT", "text": "{name}"},
            {"type": "CURRENCY", "currency": {"fallbackValue": "{total}", "code": "IDR", "amount1000": "1"}},
            {"type": "DATE_TIME", "dateTime": {"fallbackValue": "{when}"}}]},
        {"type": "BUTTON", "subType": "COPY_CODE", "index": 0,
         "parameters": [{"type": "COUPON_CODE", "couponCode": "{code}"}]},
        {"type": "BUTTON", "subType": "QUICK_REPLY", "index": 1,
         "parameters": [{"type": "PAYLOAD", "payload": "stop-{order}"}]}]}
    [item] = bulk({"chatId": "628123456789", "type": "TEMPLATE", "content": {"template": template},
                   "variables": {"name": "Budi", "order": "42", "total": "Rp1", "when": "today", "code": "SAVE"}})
    assert item["type"] == "TEMPLATE"
    header, main, copy_code, quick_reply = item["content"]["template"]["components"]
    assert header["parameters"][0]["media"]["link"] == "https://shop.example/42.png"
    assert [main["parameters"][0]["text"], main["parameters"][1]["currency"]["fallback_value"],
            main["parameters"][2]["date_time"]["fallback_value"]] == ["Budi", "Rp1", "today"]
    assert copy_code["parameters"][0]["coupon_code"] == "SAVE"
    assert quick_reply["parameters"][0]["payload"] == "stop-42"


def test_a_bulk_template_missing_a_variable_names_it():
    item = {"chatId": "628123456789", "type": "TEMPLATE", "content": {"template": body({"type": "TEXT",
                                                                                        "text": "{name}"})}}
    with pytest.raises(ApiError) as raised:
        bulk(item)
    assert raised.value.metadata["field"] == "messages[0].variables.name"


def test_bulk_templates_need_an_engine_with_templates():
    with pytest.raises(ApiError) as raised:
        bulk({"chatId": "628123456789", "type": "TEMPLATE", "content": {"template": ORDER}}, engine="whatsmeow")
    assert raised.value.code == "NOT_SUPPORTED" and "send_template" in raised.value.message

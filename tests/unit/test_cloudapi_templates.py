"""Cloud API templates through pywa's real request path, offline: a template message as the API accepts it (checked
and stored by server/core/content.py) becomes exactly Meta's `template` object, and the approved templates are read
from the Graph API's message_templates edge, every page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.protobuf import json_format

from server.core import content
from server.core.errors import ApiError
from server.engine_host.engines.base import OutgoingMessage, Quote
from server.engine_host.engines.cloudapi.engine import CloudApiEngine
from tests.unit.test_cloudapi import (  # noqa: F401  (fixtures: the Graph API, events, a store, an engine)
    PHONE_ID,
    SETTINGS,
    USER,
    USER_CHAT,
    WAMID,
    Graph,
    engine,
    events,
    graph,
    make_engine,
    sent,
    store,
)
from wagw.v1 import messages_pb2

MESSAGES = f"/v26.0/{PHONE_ID}/messages"
WABA_ID = "102290129340398"
TEMPLATES = f"/v26.0/{WABA_ID}/message_templates"


def stored(template: dict[str, Any]) -> dict[str, Any]:
    """The content of a TEMPLATE message as the API stores it (REST JSON in, checked, snake_case JSON out)."""
    body = json_format.ParseDict({"template": template}, messages_pb2.MessageContent())
    return content.check("TEMPLATE", body)


def test_a_template_with_every_kind_of_parameter(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    graph.on("POST", MESSAGES, sent())
    template = stored({"name": "order_shipped", "language": "en_US", "components": [
        {"type": "HEADER", "parameters": [{"type": "DOCUMENT",
                                           "media": {"link": "https://shop.example/inv/42.pdf",
                                                     "filename": "invoice-42.pdf"}}]},
        {"type": "BODY", "parameters": [
            {"type": "TEXT", "text": "Budi"},
            {"type": "CURRENCY", "currency": {"fallbackValue": "Rp150.000", "code": "IDR", "amount1000": "150000000"}},
            {"type": "DATE_TIME", "dateTime": {"fallbackValue": "February 25, 2026"}}]},
        {"type": "BUTTON", "subType": "URL", "index": 0, "parameters": [{"type": "TEXT", "text": "42"}]},
        {"type": "BUTTON", "subType": "QUICK_REPLY", "index": 1,
         "parameters": [{"type": "PAYLOAD", "payload": "stop-updates"}]},
        {"type": "BUTTON", "subType": "COPY_CODE", "index": 2,
         "parameters": [{"type": "COUPON_CODE", "couponCode": "SAVE10"}]},
    ]})
    quoted = Quote(wa_message_id="wamid.IN", chat_id=USER_CHAT, sender=USER_CHAT, content={"text": "Status?"})
    assert engine.send(OutgoingMessage(USER_CHAT, "template", template, reply_to=quoted)) == WAMID
    assert graph.json() == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": USER, "type": "template",
        "context": {"message_id": "wamid.IN"},
        "template": {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [
                {"type": "document", "document": {"link": "https://shop.example/inv/42.pdf",
                                                  "filename": "invoice-42.pdf"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Budi"},
                {"type": "currency", "currency": {"fallback_value": "Rp150.000", "code": "IDR",
                                                  "amount_1000": 150000000}},
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 2026"}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "42"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "1",
             "parameters": [{"type": "payload", "payload": "stop-updates"}]},
            {"type": "button", "sub_type": "copy_code", "index": "2",
             "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]},
        ]},
    }


def test_named_parameters_and_a_template_without_any(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    graph.on("POST", MESSAGES, sent())
    engine.send(OutgoingMessage(USER_CHAT, "template", stored({
        "name": "order_ready", "language": "id", "components": [
            {"type": "BODY", "parameters": [{"type": "TEXT", "parameterName": "order_id", "text": "#42"}]}]})))
    assert graph.json()["template"] == {"name": "order_ready", "language": {"code": "id"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "#42"}]}]}
    engine.send(OutgoingMessage(USER_CHAT, "template", stored({"name": "hello_world", "language": "en_US"})))
    assert graph.json()["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_approved_templates_come_from_the_graph_api_every_page(make_engine, graph: Graph):  # noqa: F811
    business = make_engine({**SETTINGS, "businessAccountId": WABA_ID})
    business.connect()
    graph.requests.clear()
    order_id = {"id": "2", "name": "order_update", "language": "id", "status": "APPROVED", "category": "UTILITY",
                "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "text": "Halo {{1}}"}]}
    hello = {"id": "1", "name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Welcome"}], "quality_score": {"score": "GREEN"}}
    graph.on("GET", TEMPLATES,
             httpx.Response(200, json={"data": [order_id], "paging": {
                 "cursors": {"before": "MAZDZD", "after": "MjQZD"}, "next": "https://graph.facebook.com/next"}}),
             httpx.Response(200, json={"data": [hello], "paging": {"cursors": {"before": "MjQZD", "after": "MjUZD"}}}))
    assert business.list_templates() == [
        {key: value for key, value in hello.items() if key != "quality_score"}, order_id]
    first, second = (dict(request.url.params) for request in graph.requests)
    assert first["status"] == "APPROVED"
    assert set(first["fields"].split(",")) == {"id", "name", "language", "category", "status", "parameter_format",
                                               "components"}
    assert second["after"] == "MjQZD" and second["status"] == "APPROVED"
    assert all(request.headers["authorization"] == f"Bearer {SETTINGS['token']}" for request in graph.requests)


def test_listing_templates_needs_the_business_account_id(engine: CloudApiEngine, graph: Graph):  # noqa: F811
    with pytest.raises(ApiError) as raised:
        engine.list_templates()
    assert raised.value.code == "CONFLICT" and "businessAccountId" in raised.value.message
    assert graph.requests == []

"""Bad input through the real stack, on SQLite and PostgreSQL: each a clear 4xx in the envelope naming the field,
never a 500; and ids of other profiles that answer as if they did not exist."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from tests.support.api import connected_profile, fails, ok, wait_message


def later() -> str:
    """A start time that keeps a batch waiting through the test (bulk accepts up to 30 days ahead)."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")

NUL_CASES = [
    ("GET", "/profiles/a%00", None, "id"),
    ("POST", "/profiles", {"name": "a\u0000b"}, "name"),
    ("POST", "/profiles", {"id": "nul-labels", "name": "x", "labels": {"k": "v\u0000"}}, "labels.k"),
    ("POST", "/profiles", {"id": "nul-settings", "name": "x", "engineSettings": {"autoPairPhone": "\u0000"}},
     "engineSettings.autoPairPhone"),
    ("POST", "/messages/text", {"profileId": "p", "chatId": "628123456789", "text": "hi",
                                "idempotencyKey": "k\u0000"}, "idempotencyKey"),
    ("POST", "/bulk/send", {"profileId": "p", "messages": [
        {"chatId": "628123456789", "type": "text", "content": {"text": "ok"}},
        {"chatId": "628123456789", "type": "text", "content": {"text": "b\u0000"}}]}, "messages[1].content.text"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_CASES, ids=[c[3] for c in NUL_CASES])
def test_nul_characters_are_refused_naming_the_field(rest, method, path, body, field):
    error = fails(rest.request(method, path, json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/profiles", {"name": "x", "labels": {"a": {}}}, "labels.a"),
    ("/contacts", {"profileId": "p", "phoneNumber": "+628123456789", "attributes": {"plan": {"x": 1}}},
     "attributes.plan"),
    ("/webhooks", {"url": "https://example.com/hook", "headers": {"X-Tenant": {"a": "b"}}}, "headers.X-Tenant"),
])
def test_an_object_for_a_maps_string_value_names_the_field(rest, path, body, field):
    error = fails(rest.post(path, json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


def test_a_list_for_a_maps_string_value_is_refused(rest):
    """Envoy's transcoder refuses this one itself, before the API server: still a 400 in the envelope."""
    fails(rest.post("/webhooks", json={"url": "https://example.com/hook", "headers": {"X-Tenant": ["a"]}}), 400,
          "VALIDATION_ERROR")


def test_an_id_with_a_trailing_newline_is_refused(rest):
    error = fails(rest.post("/profiles", json={"id": "abc\n", "name": "x"}), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "id"


def test_digits_of_other_scripts_are_the_same_number(rest, unique):
    pid = unique("digits")
    ok(rest.post("/profiles", json={"id": pid, "name": "Digits"}))
    arabic_indic = "+62" + "".join(chr(0x0660 + int(digit)) for digit in "8123456789")
    first = ok(rest.post("/contacts", json={"profileId": pid, "phoneNumber": arabic_indic}))
    assert first["phoneNumber"] == "+628123456789"
    fails(rest.post("/contacts", json={"profileId": pid, "phoneNumber": "+628123456789"}), 409, "CONFLICT")


def test_ids_of_other_profiles_answer_like_unknown_ids(stack, rest, unique):
    """A key limited to profile A gets the same 404 for B's message, batch, contact and webhook ids as for ids
    that do not exist: it cannot tell which exist."""
    mine, _ = connected_profile(rest, unique)
    theirs, _ = connected_profile(rest, unique)
    message = ok(rest.post("/messages/text", json={"profileId": theirs, "chatId": "628123456789", "text": "hi"}))
    wait_message(rest, message["id"], "READ")
    batch = ok(rest.post("/bulk/send", json={"profileId": theirs, "options": {"startTime": later()},
                                             "messages": [{"chatId": "628123456789", "type": "text",
                                                           "content": {"text": "later"}}]}))
    contact = ok(rest.post("/contacts", json={"profileId": theirs, "phoneNumber": "+628123456700"}))
    hook = ok(rest.post("/webhooks", json={"profileId": theirs, "url": "https://example.com/hook"}))
    key = ok(rest.post("/keys", json={"name": "limited", "scopes": ["*"], "profileIds": [mine]}))["key"]
    with stack.rest(key) as limited:
        for kind, path in (("message", f"/messages/{message['id']}"),
                           ("batch", f"/bulk/batch/{batch['batchId']}"),
                           ("contact", f"/contacts/{contact['id']}"),
                           ("webhook", f"/webhooks/{hook['id']}")):
            taken = fails(limited.get(path), 404, "NOT_FOUND")
            unknown = fails(limited.get(path.rsplit("/", 1)[0] + "/nothing-here"), 404, "NOT_FOUND")
            assert taken["message"].replace(path.rsplit("/", 1)[1], "ID") \
                == unknown["message"].replace("nothing-here", "ID"), kind
        fails(limited.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}), 404, "NOT_FOUND")
        fails(limited.delete(f"/webhooks/{hook['id']}"), 404, "NOT_FOUND")
        fails(limited.delete(f"/contacts/{contact['id']}"), 404, "NOT_FOUND")


def test_a_key_may_revoke_itself(stack, rest):
    created = ok(rest.post("/keys", json={"name": "short-lived", "scopes": ["keys:*"]}))
    with stack.rest(created["key"]) as itself:
        revoked = ok(itself.post(f"/keys/{created['apiKey']['id']}/revoke", json={}))
        assert revoked["revokeTime"]
        fails(itself.get("/keys"), 401, "UNAUTHORIZED")


def test_the_documented_body_limits_hold_on_the_real_stack(rest, unique):
    """A 10,000-item bulk of 50-character texts (1.07 MiB) and a 1.2 MiB inline document: over the default 1 MiB,
    under their routes' limits (16 MiB, 24 MiB)."""
    pid, _ = connected_profile(rest, unique)
    items = [{"chatId": f"62811{n:07d}", "type": "text", "content": {"text": "x" * 50}} for n in range(10_000)]
    body = json.dumps({"profileId": pid, "messages": items, "options": {"startTime": later()}})
    assert len(body) > 1024 * 1024
    batch = ok(rest.post("/bulk/send", content=body, headers={"content-type": "application/json"}, timeout=60))
    assert batch["progress"]["total"] == 10_000
    ok(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}))
    document = base64.b64encode(b"%PDF-1.4\n" + b"0" * (950 * 1024)).decode()
    assert len(document) > 1.2 * 1024 * 1024
    sent = ok(rest.post("/messages/document", json={"profileId": pid, "chatId": "628123456789",
                                                    "media": {"data": document, "filename": "big.pdf"}}))
    wait_message(rest, sent["id"], "READ")

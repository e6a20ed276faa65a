"""The implemented routes end to end: REST through the real Envoy and gRPC straight to the server, on
SQLite and on PostgreSQL (the `stack` fixture runs every test once per backend)."""

import re

import grpc
import httpx
import pytest

from server.errors import error_reason
from wagw.v1 import contacts_pb2, contacts_pb2_grpc, profiles_pb2, profiles_pb2_grpc

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def ok(response: httpx.Response, status: int = 200) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is True
    assert TIMESTAMP.match(body["meta"]["timestamp"])
    return body["data"]


def fails(response: httpx.Response, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def new_profile(rest: httpx.Client, profile_id: str, **extra) -> dict:
    return ok(rest.post("/profiles", json={"id": profile_id, "name": f"Profile {profile_id}", **extra}))


# Profiles


def test_profiles_crud(stack, unique):
    rest = stack.rest()
    pid = unique("profile")
    created = new_profile(rest, pid, phoneNumber="+62 812-3456-789", engine="simulator",
                          sendLimits={"minGapMs": 1500, "dailyCap": 1000}, labels={"team": "sales"})
    assert created["id"] == pid
    assert created["status"] == "DISCONNECTED"
    assert created["engine"] == "SIMULATOR"
    assert created["phoneNumber"] == "+628123456789"
    assert created["sendLimits"] == {"minGapMs": 1500, "jitterMs": 0, "dailyCap": 1000}
    assert TIMESTAMP.match(created["createTime"])
    assert ok(rest.get(f"/profiles/{pid}")) == created
    assert pid in [p["id"] for p in ok(rest.get("/profiles", params={"pageSize": 500}))["profiles"]]
    fails(rest.post("/profiles", json={"id": pid, "name": "again"}), 409, "CONFLICT")
    assert ok(rest.delete(f"/profiles/{pid}")) == {}
    fails(rest.get(f"/profiles/{pid}"), 404, "NOT_FOUND")
    fails(rest.delete(f"/profiles/{pid}"), 404, "NOT_FOUND")


def test_profile_gets_an_id_when_none_is_given(stack):
    created = ok(stack.rest().post("/profiles", json={"name": "auto"}))
    assert created["id"].startswith("prf_")
    assert created["engine"] == "SIMULATOR"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": "x", "id": "bad id!"}, "id"),
    ({"name": "x", "phoneNumber": "12"}, "phoneNumber"),
    ({"name": "x", "sendLimits": {"minGapMs": -1}}, "sendLimits.minGapMs"),
])
def test_profile_validation_names_the_field(stack, body, field):
    error = fails(stack.rest().post("/profiles", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


def test_unknown_engine_is_a_validation_error(stack):
    fails(stack.rest().post("/profiles", json={"name": "x", "engine": "telegram"}), 400, "VALIDATION_ERROR")


def test_profile_list_pages(stack, unique):
    rest = stack.rest()
    ids = sorted(new_profile(rest, unique("page"))["id"] for _ in range(3))
    seen, token = [], ""
    while True:
        page = ok(rest.get("/profiles", params={"pageSize": 2, "pageToken": token}))
        assert len(page["profiles"]) <= 2
        seen += [p["id"] for p in page["profiles"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert page["totalSize"] == len(seen)
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    fails(rest.get("/profiles", params={"pageToken": "!!"}), 400, "VALIDATION_ERROR")
    fails(rest.get("/profiles", params={"pageSize": 501}), 400, "VALIDATION_ERROR")


def test_session_routes_are_honestly_not_implemented_yet(stack, unique):
    rest = stack.rest()
    pid = new_profile(rest, unique("p"))["id"]
    fails(rest.post(f"/profiles/{pid}/connect", json={}), 501, "NOT_IMPLEMENTED")
    fails(rest.post("/messages/text", json={"profileId": pid, "chatId": "628123456789", "text": "hi"}),
          501, "NOT_IMPLEMENTED")


# Contacts


def test_contacts_crud_filters_and_tags(stack, unique):
    rest = stack.rest()
    pid = new_profile(rest, unique("c"))["id"]
    john = ok(rest.post("/contacts", json={
        "profileId": pid, "phoneNumber": "628123456789@c.us", "name": "John Doe", "email": "john@example.com",
        "tags": ["VIP", "vip", " lead "], "attributes": {"city": "Jakarta"},
    }))
    assert john["phoneNumber"] == "+628123456789"
    assert john["chatId"] == "628123456789@s.whatsapp.net"
    assert john["tags"] == ["vip", "lead"]
    jane = ok(rest.post("/contacts", json={"profileId": pid, "phoneNumber": "+62 898-7654-321",
                                           "name": "Jane Roe"}))
    fails(rest.post("/contacts", json={"profileId": pid, "phoneNumber": "+628123456789"}), 409, "CONFLICT")

    assert ok(rest.get(f"/contacts/{john['id']}")) == john
    listed = ok(rest.get("/contacts", params={"profileId": pid}))
    assert [c["id"] for c in listed["contacts"]] == [john["id"], jane["id"]]
    assert listed["totalSize"] == 2

    def found(**params):
        return [c["id"] for c in ok(rest.get("/contacts", params={"profileId": pid, **params}))["contacts"]]

    assert found(tag="VIP") == [john["id"]]
    assert found(query="roe") == [jane["id"]]
    assert found(query="8987") == [jane["id"]]

    updated = ok(rest.patch(f"/contacts/{john['id']}", json={"name": "John D.", "attributes": {"city": ""}}))
    assert updated["name"] == "John D."
    assert updated["email"] == "john@example.com"  # untouched: partial update
    assert updated["tags"] == ["vip", "lead"]
    assert updated["attributes"] == {}
    assert ok(rest.patch(f"/contacts/{john['id']}", json={"tags": []}))["tags"] == []
    fails(rest.patch(f"/contacts/{john['id']}", json={"phoneNumber": "628987654321"}), 409, "CONFLICT")
    tagged = ok(rest.post(f"/contacts/{john['id']}/tags", json={"tags": ["Gold", "gold", "new"]}))
    assert tagged["tags"] == ["gold", "new"]
    assert ok(rest.post(f"/contacts/{john['id']}/tags", json={"tags": ["new", "x"]}))["tags"] == \
        ["gold", "new", "x"]

    assert ok(rest.delete(f"/contacts/{jane['id']}")) == {}
    fails(rest.get(f"/contacts/{jane['id']}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(("body", "field"), [
    ({"phoneNumber": "628123456789"}, "profileId"),
    ({"profileId": "PID"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "not a phone"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "+1 234"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "628123456789", "email": "nope"}, "email"),
    ({"profileId": "PID", "phoneNumber": "628123456789", "tags": ['"quoted"']}, "tags"),
])
def test_contact_validation_names_the_field(stack, unique, body, field):
    rest = stack.rest()
    pid = new_profile(rest, unique("v"))["id"]
    body = {key: (pid if value == "PID" else value) for key, value in body.items()}
    error = fails(rest.post("/contacts", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field
    assert field in error["message"]


def test_contact_of_unknown_profile_is_not_found(stack):
    fails(stack.rest().post("/contacts", json={"profileId": "nobody", "phoneNumber": "628123456789"}),
          404, "NOT_FOUND")


def test_deleting_a_profile_deletes_its_contacts(stack, unique):
    rest = stack.rest()
    pid = new_profile(rest, unique("d"))["id"]
    contact = ok(rest.post("/contacts", json={"profileId": pid, "phoneNumber": "628123456789"}))
    ok(rest.delete(f"/profiles/{pid}"))
    fails(rest.get(f"/contacts/{contact['id']}"), 404, "NOT_FOUND")


# Webhooks


def test_webhooks_create_list_delete(stack, unique):
    rest = stack.rest()
    pid = new_profile(rest, unique("w"))["id"]
    hook = ok(rest.post("/webhooks", json={
        "profileId": pid, "url": "https://hooks.example.com/wa", "events": ["message.*", "session.status"],
        "headers": {"X-Token": "abc"},
    }))
    assert hook["secret"].startswith("whsec_")
    assert hook["active"] is True
    listed = ok(rest.get("/webhooks", params={"profileId": pid}))["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert listed[0]["secret"] == ""  # the secret is shown on create only
    global_hook = ok(rest.post("/webhooks", json={"url": "https://hooks.example.com/all"}))
    assert global_hook["events"] == ["*"]
    assert global_hook["profileId"] == ""
    ok(rest.delete(f"/webhooks/{hook['id']}"))
    fails(rest.delete(f"/webhooks/{hook['id']}"), 404, "NOT_FOUND")
    ok(rest.delete(f"/webhooks/{global_hook['id']}"))


@pytest.mark.parametrize(("body", "field"), [
    ({}, "url"),
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "http://127.0.0.1:9/x"}, "url"),
    ({"url": "http://10.1.2.3/x"}, "url"),
    ({"url": "https://example.com", "events": ["message.sent.now"]}, "events"),
    ({"url": "https://example.com", "events": ["nope.*"]}, "events"),
    ({"url": "https://example.com", "secret": "short"}, "secret"),
    ({"url": "https://example.com", "headers": {"X-Webhook-Signature": "x"}}, "headers"),
])
def test_webhook_validation_names_the_field(stack, body, field):
    error = fails(stack.rest().post("/webhooks", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


# Auth


def test_missing_and_bad_credentials_are_unauthorized(stack):
    anonymous = httpx.Client(base_url=stack.base_url)
    fails(anonymous.get("/profiles"), 401, "UNAUTHORIZED")
    fails(anonymous.get("/profiles", headers={"X-API-Key": "wagw_nope1234_secret"}), 401, "UNAUTHORIZED")
    fails(anonymous.get("/profiles", headers={"Authorization": "Bearer not-a-jwt"}), 401, "UNAUTHORIZED")


def test_bearer_api_key_works(stack):
    client = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.admin_key}"})
    ok(client.get("/profiles"))


def test_keys_limited_by_scope_and_profile(stack, unique):
    rest = stack.rest()
    mine, theirs = new_profile(rest, unique("a"))["id"], new_profile(rest, unique("b"))["id"]
    their_contact = ok(rest.post("/contacts", json={"profileId": theirs, "phoneNumber": "628123456789"}))
    created = ok(rest.post("/keys", json={"name": "reader", "scopes": ["contacts:*", "profiles:read"],
                                          "profileIds": [mine]}))
    limited = stack.rest(created["key"])
    assert [p["id"] for p in ok(limited.get("/profiles"))["profiles"]] == [mine]
    fails(limited.get(f"/profiles/{theirs}"), 403, "FORBIDDEN")
    fails(limited.delete(f"/profiles/{mine}"), 403, "FORBIDDEN")  # profiles:write is missing
    ok(limited.post("/contacts", json={"profileId": mine, "phoneNumber": "628123456789"}))
    fails(limited.post("/contacts", json={"profileId": theirs, "phoneNumber": "628987654321"}),
          403, "FORBIDDEN")
    fails(limited.get(f"/contacts/{their_contact['id']}"), 403, "FORBIDDEN")
    fails(limited.get("/contacts", params={"profileId": theirs}), 403, "FORBIDDEN")
    assert {c["profileId"] for c in ok(limited.get("/contacts"))["contacts"]} == {mine}
    fails(limited.get("/webhooks"), 403, "FORBIDDEN")
    fails(limited.post("/keys", json={"name": "escalate", "scopes": ["*"]}), 403, "FORBIDDEN")
    ok(rest.post(f"/keys/{created['apiKey']['id']}/revoke", json={}))
    fails(limited.get("/profiles"), 401, "UNAUTHORIZED")


# Direct gRPC: the same services and errors without Envoy


def test_grpc_direct_and_through_envoy(stack, unique):
    pid = unique("g")
    for target in (stack.grpc_target, stack.envoy_grpc_target):
        with grpc.insecure_channel(target) as channel:
            profiles = profiles_pb2_grpc.ProfileServiceStub(channel)
            contacts = contacts_pb2_grpc.ContactServiceStub(channel)
            auth = (("x-api-key", stack.admin_key),)
            profile_id = f"{pid}-{target.rsplit(':', 1)[1]}"
            created = profiles.CreateProfile(profiles_pb2.CreateProfileRequest(id=profile_id, name="grpc"),
                                             metadata=auth)
            assert created.status == profiles_pb2.Profile.Status.DISCONNECTED
            contact = contacts.CreateContact(contacts_pb2.CreateContactRequest(
                profile_id=profile_id, phone_number="+62 812-3456-789"), metadata=auth)
            assert contact.chat_id == "628123456789@s.whatsapp.net"
            with pytest.raises(grpc.RpcError) as caught:
                contacts.CreateContact(contacts_pb2.CreateContactRequest(
                    profile_id=profile_id, phone_number="bad"), metadata=auth)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_reason(caught.value) == "VALIDATION_ERROR"
            with pytest.raises(grpc.RpcError) as caught:
                profiles.ListProfiles(profiles_pb2.ListProfilesRequest())
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error_reason(caught.value) == "UNAUTHORIZED"


def test_a_bad_phone_is_reported_before_the_profile_is_looked_up(stack):
    error = fails(stack.rest().post("/contacts", json={"profileId": "nobody", "phoneNumber": "abc"}),
                  400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "phoneNumber"

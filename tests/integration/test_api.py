"""The implemented routes end to end, for success and error, on SQLite and on PostgreSQL (the `stack`
fixture), each over two transports (the `transport` fixture, behind `api`): REST through the real Envoy, and
the same REST-shaped calls straight to the API server over gRPC (tests/support/grpc_rest.py). Envoy's own
replies (413, unknown routes, CORS...) are tested in tests/test_gateway.py."""


import grpc
import httpx
import pytest

from server.core.errors import error_reason
from tests.support import grpc_rest
from tests.support.api import TIMESTAMP, Client, fails, ok
from wagw.v1 import contacts_pb2, contacts_pb2_grpc, profiles_pb2, profiles_pb2_grpc


def new_profile(rest: Client, profile_id: str, **extra) -> dict:
    return ok(rest.post("/profiles", json={"id": profile_id, "name": f"Profile {profile_id}", **extra}))


# Profiles


def test_profiles_crud(api, unique):
    rest = api()
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


def test_profile_gets_an_id_when_none_is_given(api):
    created = ok(api().post("/profiles", json={"name": "auto"}))
    assert created["id"].startswith("prf_")
    assert created["engine"] == "SIMULATOR"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": "x", "id": "bad id!"}, "id"),
    ({"name": "x", "phoneNumber": "12"}, "phoneNumber"),
    ({"name": "x", "sendLimits": {"minGapMs": -1}}, "sendLimits.minGapMs"),
])
def test_profile_validation_names_the_field(api, body, field):
    error = fails(api().post("/profiles", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


def test_unknown_engine_is_a_validation_error(api):
    fails(api().post("/profiles", json={"name": "x", "engine": "telegram"}), 400, "VALIDATION_ERROR")


def test_profile_list_pages(api, unique):
    rest = api()
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


# Contacts


def test_contacts_crud_filters_and_tags(api, unique):
    rest = api()
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
    fails(rest.delete(f"/contacts/{jane['id']}"), 404, "NOT_FOUND")
    fails(rest.post(f"/contacts/{jane['id']}/tags", json={"tags": ["x"]}), 404, "NOT_FOUND")


@pytest.mark.parametrize(("body", "field"), [
    ({"phoneNumber": "628123456789"}, "profileId"),
    ({"profileId": "PID"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "not a phone"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "+1 234"}, "phoneNumber"),
    ({"profileId": "PID", "phoneNumber": "628123456789", "email": "nope"}, "email"),
    ({"profileId": "PID", "phoneNumber": "628123456789", "tags": ['"quoted"']}, "tags"),
])
def test_contact_validation_names_the_field(api, unique, body, field):
    rest = api()
    pid = new_profile(rest, unique("v"))["id"]
    body = {key: (pid if value == "PID" else value) for key, value in body.items()}
    error = fails(rest.post("/contacts", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field
    assert field in error["message"]


def test_contact_of_unknown_profile_is_not_found(api):
    fails(api().post("/contacts", json={"profileId": "nobody", "phoneNumber": "628123456789"}),
          404, "NOT_FOUND")


def test_deleting_a_profile_deletes_its_contacts(api, unique):
    rest = api()
    pid = new_profile(rest, unique("d"))["id"]
    contact = ok(rest.post("/contacts", json={"profileId": pid, "phoneNumber": "628123456789"}))
    ok(rest.delete(f"/profiles/{pid}"))
    fails(rest.get(f"/contacts/{contact['id']}"), 404, "NOT_FOUND")


# Webhooks


def test_webhooks_create_list_delete(api, unique):
    rest = api()
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


def test_webhooks_get_and_update(api, unique):
    rest = api()
    pid = new_profile(rest, unique("wu"))["id"]
    hook = ok(rest.post("/webhooks", json={"profileId": pid, "url": "https://hooks.example.com/a",
                                           "headers": {"X-A": "1", "X-B": "2"}, "description": "first"}))
    assert ok(rest.get(f"/webhooks/{hook['id']}")) == {**hook, "secret": ""}
    updated = ok(rest.patch(f"/webhooks/{hook['id']}", json={
        "url": "https://hooks.example.com/b", "events": ["group.*"], "headers": {"X-A": "", "X-C": "3"},
        "active": False,
    }))
    assert (updated["url"], updated["events"], updated["active"]) == ("https://hooks.example.com/b", ["group.*"],
                                                                      False)
    assert updated["headers"] == {"X-B": "2", "X-C": "3"}  # merged; an empty value removes the header
    assert updated["description"] == "first"  # untouched: partial update
    assert updated["secret"] == ""
    assert ok(rest.get(f"/webhooks/{hook['id']}")) == updated
    assert ok(rest.patch(f"/webhooks/{hook['id']}", json={"secret": "s" * 16}))["secret"] == ""
    for body, field in (({"url": "ftp://example.com"}, "url"), ({"events": ["nope.*"]}, "events"),
                        ({"secret": "short"}, "secret")):
        error = fails(rest.patch(f"/webhooks/{hook['id']}", json=body), 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == field
    fails(rest.get("/webhooks/wh_nope"), 404, "NOT_FOUND")
    fails(rest.patch("/webhooks/wh_nope", json={"active": True}), 404, "NOT_FOUND")


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
def test_webhook_validation_names_the_field(api, body, field):
    error = fails(api().post("/webhooks", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


# Auth


def test_missing_and_bad_credentials_are_unauthorized(api):
    anonymous = api(headers={})
    fails(anonymous.get("/profiles"), 401, "UNAUTHORIZED")
    fails(anonymous.get("/profiles", headers={"X-API-Key": "wagw_nope1234_secret"}), 401, "UNAUTHORIZED")
    fails(anonymous.get("/profiles", headers={"Authorization": "Bearer not-a-jwt"}), 401, "UNAUTHORIZED")


def test_bearer_api_key_works(stack, api):
    ok(api(headers={"Authorization": f"Bearer {stack.admin_key}"}).get("/profiles"))


def test_keys_limited_by_scope_and_profile(api, unique):
    rest = api()
    mine, theirs = new_profile(rest, unique("a"))["id"], new_profile(rest, unique("b"))["id"]
    their_contact = ok(rest.post("/contacts", json={"profileId": theirs, "phoneNumber": "628123456789"}))
    created = ok(rest.post("/keys", json={"name": "reader", "scopes": ["contacts:*", "profiles:read"],
                                          "profileIds": [mine]}))
    limited = api(created["key"])
    assert [p["id"] for p in ok(limited.get("/profiles"))["profiles"]] == [mine]
    fails(limited.get(f"/profiles/{theirs}"), 403, "FORBIDDEN")
    fails(limited.delete(f"/profiles/{mine}"), 403, "FORBIDDEN")  # profiles:write is missing
    ok(limited.post("/contacts", json={"profileId": mine, "phoneNumber": "628123456789"}))
    fails(limited.post("/contacts", json={"profileId": theirs, "phoneNumber": "628987654321"}),
          403, "FORBIDDEN")
    fails(limited.get(f"/contacts/{their_contact['id']}"), 404, "NOT_FOUND")  # as if it did not exist
    fails(limited.get("/contacts", params={"profileId": theirs}), 403, "FORBIDDEN")
    assert {c["profileId"] for c in ok(limited.get("/contacts"))["contacts"]} == {mine}
    fails(limited.get("/webhooks"), 403, "FORBIDDEN")
    fails(limited.post("/keys", json={"name": "escalate", "scopes": ["*"]}), 403, "FORBIDDEN")
    ok(rest.post(f"/keys/{created['apiKey']['id']}/revoke", json={}))
    fails(limited.get("/profiles"), 401, "UNAUTHORIZED")


def test_keys_create_get_list_revoke_delete(api, unique):
    rest = api()
    created = ok(rest.post("/keys", json={"name": unique("key"), "scopes": ["profiles:read", "profiles:read"],
                                          "expireTime": "2099-01-01T00:00:00Z"}))
    key = created["apiKey"]
    assert created["key"].startswith(f"wagw_{key['prefix']}_")
    assert (key["scopes"], key["profileIds"], key["expireTime"]) == (["profiles:read"], [], "2099-01-01T00:00:00Z")
    assert "revokeTime" not in key  # an unset Timestamp is left out
    assert ok(rest.get(f"/keys/{key['id']}")) == key
    assert key["id"] in [k["id"] for k in ok(rest.get("/keys", params={"pageSize": 500}))["apiKeys"]]
    ok(api(created["key"]).get("/profiles"))
    assert TIMESTAMP.match(ok(rest.get(f"/keys/{key['id']}"))["lastUsedTime"])
    revoked = ok(rest.post(f"/keys/{key['id']}/revoke", json={}))
    assert TIMESTAMP.match(revoked["revokeTime"])
    fails(rest.post(f"/keys/{key['id']}/revoke", json={}), 409, "CONFLICT")
    fails(api(created["key"]).get("/profiles"), 401, "UNAUTHORIZED")
    assert ok(rest.delete(f"/keys/{key['id']}")) == {}
    fails(rest.get(f"/keys/{key['id']}"), 404, "NOT_FOUND")
    fails(rest.delete(f"/keys/{key['id']}"), 404, "NOT_FOUND")
    fails(rest.post(f"/keys/{key['id']}/revoke", json={}), 404, "NOT_FOUND")
    fails(rest.get("/keys", params={"pageToken": "!!"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(("body", "field"), [
    ({"scopes": ["*"]}, "name"),
    ({"name": "k"}, "scopes"),
    ({"name": "k", "scopes": ["nope:read"]}, "scopes"),
    ({"name": "k", "scopes": ["*"], "profileIds": [""]}, "profileIds"),
    ({"name": "k", "scopes": ["*"], "expireTime": "2001-01-01T00:00:00Z"}, "expireTime"),
])
def test_key_validation_names_the_field(api, body, field):
    error = fails(api().post("/keys", json=body), 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field


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


def test_grpc_transport_answers_what_envoy_answers(stack, unique):
    """The "grpc" transport stands in for Envoy only if it gives the same status and JSON: compare the two on
    the same reads (enums, int32 zeros, empty lists and maps, unset and fractional Timestamps, errors)."""
    with stack.rest() as envoy, stack.grpc_rest() as direct:
        _compare_transports(envoy, direct, unique)


def _compare_transports(envoy: httpx.Client, direct: grpc_rest.GrpcRestClient, unique) -> None:
    pid = new_profile(envoy, unique("same"), engine="simulator", labels={"a": "b"})["id"]
    contact = ok(envoy.post("/contacts", json={"profileId": pid, "phoneNumber": "628123456789",
                                               "attributes": {"k": "v"}}))
    hook = ok(envoy.post("/webhooks", json={"profileId": pid, "url": "https://hooks.example.com/same",
                                            "active": False}))
    key = ok(envoy.post("/keys", json={"name": "same", "scopes": ["profiles:read"],
                                       "expireTime": "2099-01-01T00:00:00.500Z"}))["apiKey"]
    reads = [
        (f"/profiles/{pid}", {}),
        ("/profiles", {"pageSize": 1, "status": "disconnected"}),
        (f"/contacts/{contact['id']}", {}),
        ("/contacts", {"profileId": pid}),
        ("/contacts", {"profileId": pid, "tag": "none"}),
        (f"/webhooks/{hook['id']}", {}),
        ("/webhooks", {"profileId": pid}),
        (f"/keys/{key['id']}", {}),
        ("/keys", {"pageSize": 1}),
        ("/profiles/nobody", {}),
        ("/profiles", {"pageSize": 501}),
    ]
    for path, params in reads:
        through_envoy, straight = envoy.get(path, params=params), direct.get(path, params=params)
        assert through_envoy.status_code == straight.status_code, path
        assert {**through_envoy.json(), "meta": None} == {**straight.json(), "meta": None}, path


def test_a_bad_phone_is_reported_before_the_profile_is_looked_up(api):
    error = fails(api().post("/contacts", json={"profileId": "nobody", "phoneNumber": "abc"}),
                  400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "phoneNumber"

"""POST /api/profiles/{id}/simulator/messages: a contact of the simulated WhatsApp writes to a simulator profile,
which receives it as any incoming message: stored INBOUND, a `message.received` event, a webhook delivery. Other
engines answer NOT_SUPPORTED; a profile that is not connected, PROFILE_NOT_CONNECTED; bad input names its field."""

from __future__ import annotations

from tests.support.api import connected_profile, fails, ok, wait_for

ROUTE = "/profiles/{}/simulator/messages"


def _received(rest, profile_id: str, wa_message_id: str) -> dict | None:
    events = ok(rest.get("/events", params={"profileId": profile_id, "events": "message.received",
                                            "pageSize": 1000}))["events"]
    return next((event for event in events if event["data"].get("waMessageId") == wa_message_id), None)


def test_a_simulated_contact_writes_to_the_profile(stack, api, rest, unique):
    profile_id, _ = connected_profile(rest, unique)
    path = f"/hooks/{unique('inbound')}"
    stack.web.serve(path, b"ok", "text/plain")
    hook = ok(rest.post("/webhooks", json={"profileId": profile_id, "url": stack.web.url(path),
                                           "events": ["message.received"]}))

    answer = ok(api().post(ROUTE.format(profile_id), json={"phoneNumber": "+62 898-7654-321",
                                                          "text": "Is the shop open today?"}))
    wa_message_id = answer["waMessageId"]
    assert wa_message_id

    event = wait_for(lambda: _received(rest, profile_id, wa_message_id), "the message.received event")
    message = ok(rest.get(f"/messages/{event['data']['messageId']}"))
    assert message["direction"] == "INBOUND" and message["status"] == "RECEIVED"
    assert message["content"]["text"] == "Is the shop open today?"
    assert message["chatId"] == "628987654321@s.whatsapp.net"
    inbound = ok(rest.get("/messages", params={"profileId": profile_id, "direction": "INBOUND"}))["messages"]
    assert [item["id"] for item in inbound] == [message["id"]]

    def delivered() -> list[dict]:
        deliveries = ok(rest.get(f"/webhooks/{hook['id']}/deliveries"))["deliveries"]
        return [item for item in deliveries if item["event"] == "message.received" and item["status"] == "DELIVERED"
                and item["eventId"] == event["id"]]

    wait_for(delivered, "the webhook's delivery of message.received")


def test_the_contact_is_a_default_one_when_not_named(stack, rest, unique):
    profile_id, _ = connected_profile(rest, unique)
    wa_message_id = ok(rest.post(ROUTE.format(profile_id), json={"text": "Hello"}))["waMessageId"]
    event = wait_for(lambda: _received(rest, profile_id, wa_message_id), "the message.received event")
    assert event["data"]["chatId"] == "628987654321@s.whatsapp.net"


def test_only_connected_simulator_profiles(stack, api, rest, unique):
    cloud = unique("cloud")
    ok(rest.post("/profiles", json={"id": cloud, "name": "Cloud", "engine": "cloudapi",
                                    "engineSettings": {"token": "EAAG", "phoneNumberId": "1065"}}))
    error = fails(api().post(ROUTE.format(cloud), json={"text": "Hi"}), 501, "NOT_SUPPORTED")
    assert "cloudapi" in error["message"]

    idle = unique("idle")
    ok(rest.post("/profiles", json={"id": idle, "name": "Idle", "engine": "simulator"}))
    fails(api().post(ROUTE.format(idle), json={"text": "Hi"}), 409, "PROFILE_NOT_CONNECTED")
    fails(api().post(ROUTE.format(unique("nobody")), json={"text": "Hi"}), 404, "NOT_FOUND")


def test_bad_input_names_the_field(stack, api, rest, unique):
    profile_id, _ = connected_profile(rest, unique)
    cases = [({}, "text"), ({"text": " "}, "text"), ({"text": "x" * 4097}, "text"),
             ({"text": "Hi", "phoneNumber": "abc"}, "phoneNumber"),
             ({"text": "Hi", "phoneNumber": "+62 812-3456-0000"}, "phoneNumber")]
    for body, field in cases:
        error = fails(api().post(ROUTE.format(profile_id), json=body), 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == field, (body, error)
    ok(api().post(ROUTE.format(profile_id), json={"text": "x" * 4096}))


def test_a_key_of_another_profile_may_not(stack, api, rest, unique):
    profile_id, _ = connected_profile(rest, unique)
    other = unique("other")
    key = ok(rest.post("/keys", json={"name": "other", "scopes": ["*"], "profileIds": [other]}))["key"]
    fails(api(key).post(ROUTE.format(profile_id), json={"text": "Hi"}), 403, "FORBIDDEN")
    reader = ok(rest.post("/keys", json={"name": "reader", "scopes": ["profiles:read"]}))["key"]
    fails(api(reader).post(ROUTE.format(profile_id), json={"text": "Hi"}), 403, "FORBIDDEN")

"""The isolation sweep (issue 16): a key limited to profile A tries every REST operation of the contract on profile
B's resources, over REST through Envoy and over gRPC straight to the API server, and then B's streams over NDJSON
and the WebSocket. Nothing of B's comes back: a call aimed at B is refused (403, or 404 as for an id that does not
exist), and an answer that succeeds (a list without a profile filter) holds none of B's ids.

The sweep is made from the contract itself: every operation of gen/openapi.json with the request of its example
(proto/wagw/v1/examples.yaml; `make gen` refuses an operation without one), aimed at B. So a new route is swept
the day it is added.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from gateway.openapi import load_examples
from tests.support.api import connected_profile, ok, wait_message
from tests.support.examples import load_document, operations
from tests.support.stack import Stack

DOCUMENT = load_document()
OPERATIONS = operations(DOCUMENT)
# Meta's calls to a Cloud API profile's webhook carry no API key by design: the profile's own secrets
# authenticate them (tests/integration/test_cloudapi_webhooks.py).
NOT_KEYED = {"CloudApiWebhookService.VerifyCloudApiWebhook", "CloudApiWebhookService.ReceiveCloudApiWebhook"}
EXAMPLES = load_examples()


@dataclass
class World:
    """Profile A (the limited key's), profile B and everything of B's the sweep aims at."""

    mine: str
    theirs: str
    ids: dict[str, str]  # a path parameter's role → B's id: profile, message, batch, contact, webhook, ...
    key: str  # the key limited to A, with every scope

    @property
    def secrets(self) -> list[str]:
        """What must never appear in an answer to the limited key."""
        return [self.theirs, *self.ids.values()]


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    with stack.rest() as rest:
        counter = iter(range(1000))
        unique = lambda prefix: f"iso-{prefix}-{next(counter)}"  # noqa: E731
        mine, _ = connected_profile(rest, unique)
        theirs, _ = connected_profile(rest, unique)
        message = ok(rest.post("/messages/text", json={"profileId": theirs, "chatId": "628123456789",
                                                       "text": "B's secret"}))
        wait_message(rest, message["id"], "READ")
        batch = ok(rest.post("/bulk/send", json={"profileId": theirs, "messages": [
            {"chatId": "628123456789", "type": "text", "content": {"text": "B's batch"}}]}))
        contact = ok(rest.post("/contacts", json={"profileId": theirs, "phoneNumber": "+628123450001"}))
        hook = ok(rest.post("/webhooks", json={"profileId": theirs, "url": "https://example.com/theirs"}))
        delivery = ok(rest.post(f"/webhooks/{hook['id']}/test", json={}))
        group = ok(rest.post("/groups", json={"profileId": theirs, "name": "B's group",
                                              "participants": ["628123456789"]}))["group"]
        their_key = ok(rest.post("/keys", json={"name": "B's key", "scopes": ["*"], "profileIds": [theirs]}))
        key = ok(rest.post("/keys", json={"name": "A's key", "scopes": ["*"], "profileIds": [mine]}))["key"]
    return World(mine, theirs, {
        "profile": theirs, "message": message["id"], "batch": batch["id"], "contact": contact["id"],
        "webhook": hook["id"], "delivery": delivery["id"], "group": group["id"], "key": their_key["apiKey"]["id"],
    }, key)


# A path parameter's name (and, for `id`, its service) → the role of the id it takes.
ROLES = {"batchId": "batch", "groupId": "group", "deliveryId": "delivery", "profileId": "profile"}
ID_ROLES = {"ProfileService": "profile", "MessageService": "message", "ContactService": "contact",
            "WebhookService": "webhook", "ApiKeyService": "key", "BulkService": "batch", "GroupService": "group"}


def aimed_at_b(name: str, world: World) -> tuple[str, str, dict[str, Any], Any]:
    """The operation's first example, aimed at B: (verb, path, query, body)."""
    operation, example = OPERATIONS[name], EXAMPLES[name][0]
    service = name.split(".")[0]

    def value(parameter: str) -> str:
        role = ROLES.get(parameter) or (ID_ROLES.get(service) if parameter == "id" else None)
        return world.ids[role] if role else str(example.get("path", {}).get(parameter, ""))

    path = re.sub(r"\{([^}]+)\}", lambda match: value(match.group(1)), operation.path).removeprefix("/api")
    query = dict(example.get("query", {}))
    body = example.get("body")
    if "profileId" in query:
        query["profileId"] = world.theirs
    if isinstance(body, dict) and "profileId" in body:
        body = {**body, "profileId": world.theirs}
    if isinstance(body, dict) and "profileIds" in body:
        body = {**body, "profileIds": [world.theirs]}
    if name == "ProfileService.CreateProfile":
        body = {**body, "id": world.theirs}
    return operation.verb.upper(), path, query, body


KEYED = sorted(name for name in OPERATIONS if name not in NOT_KEYED and not OPERATIONS[name].streaming)


@pytest.mark.parametrize("name", KEYED)
def test_nothing_of_another_profile_is_reached(api, world: World, name: str) -> None:
    verb, path, query, body = aimed_at_b(name, world)
    limited = api(world.key)
    response = limited.request(verb, path, params=query, json=body)
    answer = response.json()
    if response.status_code < 300:
        # Only a call not aimed at anything may succeed: a list without a profile filter.
        aimed = "profileId" in query or (isinstance(body, dict) and "profileId" in body) or "{" in \
            OPERATIONS[name].path
        assert not aimed, f"{name} reached B: {answer}"
    else:
        assert response.status_code in (403, 404), f"{name}: {response.status_code} {answer}"
    assert_no_leak(name, answer, world, asked=[path, query, body])
    if "profileId" in query:  # a list may also be asked for everything the caller may see
        unscoped = {key: value for key, value in query.items() if key != "profileId"}
        assert_no_leak(name, limited.request(verb, path, params=unscoped, json=body).json(), world,
                       asked=[path, unscoped, body])


def assert_no_leak(name: str, answer: Any, world: World, asked: Any) -> None:
    text = json.dumps(answer)
    asked_text = json.dumps(asked)  # an error may name the id it was asked for: that tells nothing
    leaked = [secret for secret in world.secrets if secret in text and secret not in asked_text]
    assert not leaked, f"{name} answered B's {leaked}: {text[:500]}"


def test_streams_of_another_profile_are_refused_or_filtered(stack: Stack, world: World) -> None:
    """NDJSON: a watch aimed at B is refused; the WebSocket: a subscription to B is refused, and one to all the
    key may see carries A's events and none of B's, though B's happened first."""
    with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": world.key}, timeout=10) as limited:
        for path, params in (("/events/watch", {"profileId": world.theirs}),
                             (f"/bulk/batch/{world.ids['batch']}/watch", {})):
            with limited.stream("GET", path, params=params) as response:
                response.read()
                assert response.status_code in (403, 404), response.text
                asked = json.dumps([path, params])
                assert not [secret for secret in world.secrets if secret in response.text and secret not in asked]
        since = ok(limited.get("/events", params={"pageSize": 1000}))["lastId"]
    with stack.rest() as rest:
        theirs = ok(rest.post("/messages/text", json={"profileId": world.theirs, "chatId": "628123456789",
                                                      "text": "B again"}))
        wait_message(rest, theirs["id"], "READ")
        mine = ok(rest.post("/messages/text", json={"profileId": world.mine, "chatId": "628123456789",
                                                    "text": "A's"}))
        wait_message(rest, mine["id"], "READ")
    frames = asyncio.run(websocket_frames(stack, world, since, until=lambda frame: (
        frame.get("type") == "event" and frame["payload"]["data"].get("messageId") == mine["id"]
        and frame["payload"]["data"].get("status") == "READ")))
    refusal = next(frame for frame in frames if frame.get("requestId") == "b")
    assert refusal["type"] == "error" and refusal["payload"]["code"] == "FORBIDDEN"
    events = [frame["payload"] for frame in frames if frame.get("type") == "event"]
    assert events and all(event["profileId"] == world.mine for event in events), events
    answered = json.dumps([frame for frame in frames if frame is not refusal])  # the refusal names what it refused
    assert not [secret for secret in world.secrets if secret in answered]


async def websocket_frames(stack: Stack, world: World, since: str, until: Callable[[dict[str, Any]], bool]
                           ) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with connect(f"{stack.ws_url}?apiKey={world.key}") as socket:
        frames.append(json.loads(await socket.recv()))  # the connection's ack
        await socket.send(json.dumps({"type": "subscribe", "requestId": "b", "payload": {"profileId": world.theirs}}))
        await socket.send(json.dumps({"type": "subscribe", "requestId": "all", "payload": {"since": int(since)}}))
        async with asyncio.timeout(30):
            async for raw in socket:
                frames.append(json.loads(raw))
                if until(frames[-1]):
                    return frames
    return frames


def test_the_sweep_covers_every_keyed_operation() -> None:
    """Every operation of the contract is swept, or named here with the reason it is not."""
    streaming = {name for name in OPERATIONS if OPERATIONS[name].streaming}
    assert set(KEYED) | NOT_KEYED | streaming == set(OPERATIONS)
    assert streaming == {"EventService.WatchEvents", "BulkService.WatchBatch"}  # swept as streams above

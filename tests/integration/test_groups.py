"""Groups end to end on the simulator (DESIGN.md §4): two connected profiles on one simulated network, through
the real Envoy, API server and engine host — create with per-participant results, read, list and page, partial
updates, roles and WhatsApp's admin rule (NOT_GROUP_ADMIN, distinct from our FORBIDDEN), removal and re-adding,
invite links, leaving, the `group.updated` events a member sees, and the errors around them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.api import connected_profile, fails, ok, wait_for
from tests.support.stack import Stack

UNREGISTERED = "+6281299990000"  # ends in 0000: not on WhatsApp in the simulator
_numbers = itertools.count(1)


def fresh_phone() -> str:
    """A number on WhatsApp no other test uses (the simulated network is shared by the whole session)."""
    return f"+62813{next(_numbers) * 7919 % 10**7:07d}1"


def chat_id(phone: str) -> str:
    return phone.removeprefix("+") + "@s.whatsapp.net"


def group_events(rest: httpx.Client, profile_id: str) -> list[dict[str, Any]]:
    page = ok(rest.get("/events", params={"profileId": profile_id, "events": "group.updated", "pageSize": 500}))
    return [event["data"] for event in page["events"]]


def roles(group: dict[str, Any]) -> dict[str, str]:
    return {member["chatId"]: member["role"] for member in group["participants"]}


def statuses(answer: dict[str, Any]) -> dict[str, str]:
    return {result["chatId"]: result["status"] for result in answer["results"]}


@pytest.fixture
def pair(rest: httpx.Client, unique: Callable[[str], str]) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two connected simulator profiles: (id, chat id) of A and of B."""
    (a, a_phone), (b, b_phone) = connected_profile(rest, unique), connected_profile(rest, unique)
    return (a, chat_id(a_phone)), (b, chat_id(b_phone))


def test_a_group_from_creation_to_leaving(stack: Stack, rest: httpx.Client, pair):
    (a, a_jid), (b, b_jid) = pair
    carol, private = fresh_phone(), fresh_phone()
    stack.simulator("set_privacy", phone=private, refuse_group_add=True)

    # Create: every participant form, each with its own result; refusals don't fail the call.
    created = ok(rest.post("/groups", json={"profileId": a, "name": "  Team  ", "participants": [
        b_jid.replace("@s.whatsapp.net", "@c.us"), carol, UNREGISTERED.removeprefix("+"), private]}))
    group = created["group"]
    gid = group["groupId"]
    assert gid.endswith("@g.us")
    assert statuses(created) == {b_jid: "ADDED", chat_id(carol): "ADDED", chat_id(UNREGISTERED): "NOT_ON_WHATSAPP",
                                 chat_id(private): "PRIVACY_REFUSED"}
    assert [r["error"] != "" for r in created["results"]] == [False, False, True, True]
    assert (group["name"], group["owner"], group["profileId"], group["createTime"] != "") == ("Team", a_jid, a, True)
    assert roles(group) == {a_jid: "SUPERADMIN", b_jid: "MEMBER", chat_id(carol): "MEMBER"}
    assert (group["announce"], group["locked"], group["description"]) == (False, False, "")

    # Get, by either member, with the id in each accepted form.
    assert ok(rest.get(f"/groups/{gid}", params={"profileId": a})) == group
    bare = gid.removesuffix("@g.us")
    assert ok(rest.get(f"/groups/{bare}", params={"profileId": b})) == {**group, "profileId": b}
    assert ok(rest.get(f"/groups/{bare}%40g.us", params={"profileId": b}))["groupId"] == gid

    # List: both profiles see it.
    for pid in (a, b):
        assert gid in [g["groupId"] for g in ok(rest.get(f"/groups/profile/{pid}"))["groups"]]

    # Partial PATCH: only what is given changes.
    renamed = ok(rest.patch(f"/groups/{gid}", json={"profileId": a, "name": "Team 2"}))
    assert (renamed["name"], renamed["description"]) == ("Team 2", "")
    described = ok(rest.patch(f"/groups/{gid}", json={"profileId": a, "description": "Daily standup"}))
    assert (described["name"], described["description"]) == ("Team 2", "Daily standup")
    settings = ok(rest.patch(f"/groups/{gid}", json={"profileId": a, "announce": True, "locked": True}))
    assert (settings["name"], settings["description"], settings["announce"], settings["locked"]) == \
        ("Team 2", "Daily standup", True, True)

    # Promote B; B, now an admin, changes something.
    assert ok(rest.post(f"/groups/{gid}/participants/promote", json={"profileId": a, "participants": [b_jid]})) == \
        {"groupId": gid, "results": [{"chatId": b_jid, "status": "PROMOTED", "error": ""}]}
    assert ok(rest.patch(f"/groups/{gid}", json={"profileId": b, "locked": False}))["locked"] is False

    # Demote B; B's admin-only change is refused by WhatsApp's rule, not by our credentials.
    assert statuses(ok(rest.post(f"/groups/{gid}/participants/demote",
                                 json={"profileId": a, "participants": [b_jid]}))) == {b_jid: "DEMOTED"}
    refused = fails(rest.patch(f"/groups/{gid}", json={"profileId": b, "announce": False}), 403, "NOT_GROUP_ADMIN")
    assert "admin" in refused["message"]
    fails(rest.post(f"/groups/{gid}/participants/add", json={"profileId": b, "participants": [fresh_phone()]}),
          403, "NOT_GROUP_ADMIN")
    fails(rest.get(f"/groups/{gid}/invite-link", params={"profileId": b}), 403, "NOT_GROUP_ADMIN")
    assert ok(rest.get(f"/groups/{gid}", params={"profileId": a}))["announce"] is True  # nothing changed

    # Remove B: B no longer sees the group; re-add B.
    assert statuses(ok(rest.post(f"/groups/{gid}/participants/remove",
                                 json={"profileId": a, "participants": [b_jid, UNREGISTERED]}))) == \
        {b_jid: "REMOVED", chat_id(UNREGISTERED): "NOT_MEMBER"}
    assert gid not in [g["groupId"] for g in ok(rest.get(f"/groups/profile/{b}"))["groups"]]
    fails(rest.get(f"/groups/{gid}", params={"profileId": b}), 404, "NOT_FOUND")
    assert statuses(ok(rest.post(f"/groups/{gid}/participants/add",
                                 json={"profileId": a, "participants": [b_jid, carol]}))) == \
        {b_jid: "ADDED", chat_id(carol): "ALREADY_MEMBER"}
    assert roles(ok(rest.get(f"/groups/{gid}", params={"profileId": b})))[b_jid] == "MEMBER"

    # Invite link: get, revoke (a new code), and the new one lets a phone join.
    link = ok(rest.get(f"/groups/{gid}/invite-link", params={"profileId": a}))
    assert link["link"] == f"https://chat.whatsapp.com/{link['code']}" and link["groupId"] == gid
    assert ok(rest.get(f"/groups/{gid}/invite-link", params={"profileId": a})) == link
    revoked = ok(rest.post(f"/groups/{gid}/invite-link/revoke", json={"profileId": a}))
    assert revoked["code"] != link["code"] and revoked["link"].endswith(revoked["code"])
    joiner = fresh_phone()
    assert stack.simulator("join_by_invite", phone=joiner, code=revoked["code"]) == gid

    # Leave: B is out, A still in.
    assert ok(rest.post(f"/groups/{gid}/leave", json={"profileId": b})) == {"groupId": gid}
    assert b_jid not in roles(ok(rest.get(f"/groups/{gid}", params={"profileId": a})))
    assert gid not in [g["groupId"] for g in ok(rest.get(f"/groups/profile/{b}"))["groups"]]

    # B saw each change as a group.updated event: who did what to whom.
    expected = [("create", None, a_jid), ("subject", [], a_jid), ("description", [], a_jid),
                ("settings", [], a_jid), ("settings", [], a_jid), ("promote", [b_jid], a_jid), ("settings", [], b_jid),
                ("demote", [b_jid], a_jid), ("leave", [b_jid], a_jid), ("join", [b_jid], a_jid),
                ("settings", [], a_jid), ("join", [chat_id(joiner)], chat_id(joiner)), ("leave", [b_jid], b_jid)]
    seen = wait_for(lambda: (events := group_events(rest, b)) and len(events) >= len(expected) and events,
                    "B's group events")
    assert all(event["groupId"] == gid for event in seen)
    assert [(e["action"], e["by"]) for e in seen] == [(action, by) for action, _, by in expected]
    for event, (_, participants, _) in zip(seen, expected, strict=True):
        if participants is not None:
            assert event["participants"] == participants, event
    assert seen[1]["name"] == "Team 2" and seen[2]["description"] == "Daily standup"
    assert (seen[3]["announce"], seen[4]["locked"], seen[6]["locked"]) == (True, True, False)
    assert seen[10]["inviteLinkRevoked"] is True
    assert set(seen[0]["participants"]) == {a_jid, b_jid, chat_id(carol)}
    # A, a member throughout, saw B leave too.
    wait_for(lambda: ("leave", [b_jid], b_jid) in [(e["action"], e["participants"], e["by"])
                                                  for e in group_events(rest, a)], "A's event of B leaving")


def test_list_pages_by_group_id(rest: httpx.Client, pair):
    (a, _), (b, b_jid) = pair
    created = {ok(rest.post("/groups", json={"profileId": a, "name": f"G{i}", "participants": [b_jid]}))
               ["group"]["groupId"] for i in range(5)}
    for pid in (a, b):
        seen, token = [], ""
        while True:
            page = ok(rest.get(f"/groups/profile/{pid}", params={"pageSize": 2, "pageToken": token}))
            assert len(page["groups"]) <= 2 and page["totalSize"] == 5
            assert all(g["profileId"] == pid for g in page["groups"])
            seen += [g["groupId"] for g in page["groups"]]
            token = page["nextPageToken"]
            if not token:
                break
        assert seen == sorted(created)
    fails(rest.get(f"/groups/profile/{a}", params={"pageSize": 501}), 400, "VALIDATION_ERROR")
    fails(rest.get(f"/groups/profile/{a}", params={"pageToken": "!!"}), 400, "VALIDATION_ERROR")


GROUP = "120363025246125486@g.us"


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("post", "/groups", {"name": "T", "participants": ["628123456789"]}, "profileId"),
    ("post", "/groups", {"participants": ["628123456789"]}, "name"),
    ("post", "/groups", {"name": "x" * 101, "participants": ["628123456789"]}, "name"),
    ("post", "/groups", {"name": "T", "participants": []}, "participants"),
    ("post", "/groups", {"name": "T", "participants": ["nope"]}, "participants"),
    ("post", "/groups", {"name": "T", "participants": [GROUP]}, "participants"),
    ("get", f"/groups/{GROUP}", {}, "profileId"),
    ("get", "/groups/not-a-group", {}, "groupId"),
    ("get", "/groups/12@g.us", {}, "groupId"),
    ("patch", f"/groups/{GROUP}", {"name": " "}, "name"),
    ("patch", f"/groups/{GROUP}", {"description": "x" * 2049}, "description"),
    ("post", f"/groups/{GROUP}/participants/add", {"participants": ["+62 812"]}, "participants"),
    ("post", f"/groups/{GROUP}/participants/remove", {}, "participants"),
    ("post", f"/groups/{GROUP}/participants/promote", {"participants": ["628123456789@g.us"]}, "participants"),
    ("post", f"/groups/{GROUP}/participants/demote", {"participants": ["628123456789"]}, "profileId"),
    ("post", "/groups/abc/leave", {}, "groupId"),
    ("get", "/groups/abc/invite-link", {}, "groupId"),
])
def test_validation_names_the_field(api, pair, method, path, body, field):
    (a, _), _ = pair
    rest = api()
    with_profile = {} if field == "profileId" else {"profileId": a}
    if method == "get":
        response = rest.get(path, params=with_profile)
    else:
        response = getattr(rest, method)(path, json={**with_profile, **body})
    error = fails(response, 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == field, error


def test_unknown_group_and_profile(api, pair):
    (a, _), _ = pair
    rest = api()
    fails(rest.get(f"/groups/{GROUP}", params={"profileId": a}), 404, "NOT_FOUND")
    fails(rest.post(f"/groups/{GROUP}/participants/add", json={"profileId": a, "participants": ["628123456789"]}),
          404, "NOT_FOUND")
    fails(rest.get("/groups/profile/nobody"), 404, "NOT_FOUND")


def test_a_profile_that_is_not_connected(api, unique):
    rest = api()
    pid = unique("idle")
    ok(rest.post("/profiles", json={"id": pid, "name": "idle", "engine": "simulator"}))
    fails(rest.get(f"/groups/profile/{pid}"), 409, "PROFILE_NOT_CONNECTED")
    fails(rest.post("/groups", json={"profileId": pid, "name": "T", "participants": ["628123456789"]}),
          409, "PROFILE_NOT_CONNECTED")
    fails(rest.post(f"/groups/{GROUP}/leave", json={"profileId": pid}), 409, "PROFILE_NOT_CONNECTED")


def test_what_the_cloud_api_cannot_do_is_not_supported(api, unique):
    """Decided by the engine before the connection: this cloudapi profile was never connected."""
    rest = api()
    pid = unique("cloud")
    ok(rest.post("/profiles", json={"id": pid, "name": "Support", "engine": "cloudapi",
                                    "engineSettings": {"token": "EAAG-test", "phoneNumberId": "106540352242922"}}))
    error = fails(rest.post(f"/groups/{GROUP}/participants/add",
                            json={"profileId": pid, "participants": ["628123456789"]}), 501, "NOT_SUPPORTED")
    assert "cloudapi" in error["message"] and "add_participants" in error["message"]
    for action in ("promote", "demote"):
        fails(rest.post(f"/groups/{GROUP}/participants/{action}",
                        json={"profileId": pid, "participants": ["628123456789"]}), 501, "NOT_SUPPORTED")
    fails(rest.post(f"/groups/{GROUP}/leave", json={"profileId": pid}), 501, "NOT_SUPPORTED")
    fails(rest.post("/groups", json={"profileId": pid, "name": "T", "participants": ["628123456789"]}),
          501, "NOT_SUPPORTED")
    # What it can do waits for a connection.
    fails(rest.get(f"/groups/profile/{pid}"), 409, "PROFILE_NOT_CONNECTED")
    fails(rest.post(f"/groups/{GROUP}/participants/remove", json={"profileId": pid, "participants": ["628123456789"]}),
          409, "PROFILE_NOT_CONNECTED")


def test_a_key_limited_to_another_profile_is_forbidden(api, pair, unique):
    """Our FORBIDDEN (the credentials) is not WhatsApp's NOT_GROUP_ADMIN (the group's rule)."""
    (a, _), (b, b_jid) = pair
    rest = api()
    gid = ok(rest.post("/groups", json={"profileId": a, "name": "T", "participants": [b_jid]}))["group"]["groupId"]
    created = ok(rest.post("/keys", json={"name": unique("key"), "scopes": ["groups:*"], "profileIds": [b]}))
    limited = api(created["key"])
    assert ok(limited.get(f"/groups/{gid}", params={"profileId": b}))["groupId"] == gid
    fails(limited.get(f"/groups/{gid}", params={"profileId": a}), 403, "FORBIDDEN")
    fails(limited.get(f"/groups/profile/{a}"), 403, "FORBIDDEN")
    fails(limited.patch(f"/groups/{gid}", json={"profileId": a, "announce": True}), 403, "FORBIDDEN")
    fails(limited.patch(f"/groups/{gid}", json={"profileId": b, "announce": True}), 403, "NOT_GROUP_ADMIN")
    reader = api(ok(rest.post("/keys", json={"name": unique("key"), "scopes": ["groups:read"]}))["key"])
    ok(reader.get(f"/groups/profile/{a}"))
    fails(reader.post(f"/groups/{gid}/leave", json={"profileId": a}), 403, "FORBIDDEN")

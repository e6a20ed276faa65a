"""Helpers for tests that talk to a running stack over REST (or the same calls over gRPC, tests/support/grpc_rest.py):
reading the envelope, waiting for a state, and the profiles most tests start from."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support import grpc_rest

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

Client = httpx.Client | grpc_rest.GrpcRestClient
Reply = httpx.Response | grpc_rest.Response


def ok(response: Reply, status: int = 200) -> Any:
    """The `data` of a success envelope, after checking the envelope itself."""
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is True
    assert TIMESTAMP.match(body["meta"]["timestamp"])
    return body["data"]


def fails(response: Reply, status: int, code: str) -> dict:
    """The `error` of an error envelope with this HTTP status and code."""
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """The first truthy answer of `probe`, asked every 50 ms; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status_of(rest: Client, profile_id: str) -> str:
    return ok(rest.get(f"/profiles/{profile_id}"))["status"]


def wait_status(rest: Client, profile_id: str, *statuses: str, timeout: float = 15.0) -> str:
    return wait_for(lambda: (s := status_of(rest, profile_id)) in statuses and s, f"{profile_id} in {statuses}",
                    timeout)


def session_statuses(rest: Client, profile_id: str, since: int = 0) -> list[str]:
    page = ok(rest.get("/events", params={"profileId": profile_id, "events": "session.status", "pageSize": 1000,
                                          "since": since}))
    return [event["data"]["status"] for event in page["events"]]


def last_event_id(rest: Client) -> int:
    page = ok(rest.get("/events", params={"pageSize": 1000}))
    while page["events"]:
        since = int(page["lastId"])
        page = ok(rest.get("/events", params={"pageSize": 1000, "since": since}))
    return int(page["lastId"])


def wait_statuses_since(rest: Client, profile_id: str, since: int, last: str, timeout: float = 20) -> list[str]:
    """The session statuses recorded after event `since`, once the last of them is `last`."""
    return wait_for(lambda: (seen := session_statuses(rest, profile_id, since)) and seen[-1] == last and seen,
                    f"{profile_id} to reach {last}", timeout)


def connected_profile(rest: Client, unique: Callable[[str], str], **extra: Any) -> tuple[str, str]:
    """A simulator profile that pairs by itself; returns its id and phone number."""
    pid = unique("msg")
    ok(rest.post("/profiles", json={"id": pid, "name": "Sender", "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}, **extra}))
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    wait_status(rest, pid, "CONNECTED")
    return pid, ok(rest.get(f"/profiles/{pid}"))["phoneNumber"]


def wait_message(rest: Client, message_id: str, *statuses: str, timeout: float = 20) -> dict:
    return wait_for(lambda: (m := ok(rest.get(f"/messages/{message_id}")))["status"] in statuses and m,
                    f"message {message_id} in {statuses}", timeout)

"""The event log's three readers through the real stack, on PostgreSQL, where a transaction that took a lower id
can commit after a higher one: GET /api/events?since= (through Envoy), WatchEvents (gRPC, NDJSON through Envoy,
the WebSocket) and the webhook dispatcher. None passes the open transaction's event, however long it stays open,
and none waits for ever for a rolled-back one (server/core/event_horizon.py)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import pytest

from server.core import db, event_horizon, events
from tests.integration.test_event_streams import grpc_watch, ids, rest_watch, ws_subscription
from tests.support.api import last_event_id, ok, wait_for
from tests.support.held import HeldEvent


def _page(rest: Any, profile_id: str, since: int) -> dict[str, Any]:
    return ok(rest.get("/events", params={"profileId": profile_id, "since": since, "pageSize": 100}))


def _record(profile_id: str) -> int:
    with db.database.connection_context():
        return events.record("message.ack", profile_id, {"held": False}).id


def _delivered(rest: Any, hook_id: str) -> list[int]:
    page = ok(rest.get(f"/webhooks/{hook_id}/deliveries", params={"status": "DELIVERED", "pageSize": 100}))
    return sorted(int(delivery["eventId"]) for delivery in page["deliveries"])


@pytest.mark.parametrize("stack", ["postgres"], indirect=True)
def test_readers_wait_for_a_late_commit_and_pass_a_rolled_back_id(stack, rest, unique):
    pid = unique("late")
    ok(rest.post("/profiles", json={"id": pid, "name": pid, "engine": "simulator"}))
    path = f"/hooks/{pid}"
    stack.web.serve(path, b"ok", "text/plain")
    hook = ok(rest.post("/webhooks", json={"profileId": pid, "url": stack.web.url(path), "events": ["message.*"]}))
    start = last_event_id(rest)
    db.open_database(stack.database_url)  # this process writes events too: the slow writer, and a quick one
    key = stack.admin_key
    with ExitStack() as streams:
        watchers = [
            streams.enter_context(grpc_watch(stack.grpc_target, key, profile_id=pid, since=start)),
            streams.enter_context(rest_watch(stack, key, profileId=pid, since=start)),
            streams.enter_context(ws_subscription(stack, key, profileId=pid, since=start)),
        ]
        slow = HeldEvent(pid)
        later = _record(pid)
        assert slow.id < later
        # Past the grace a missing id gets, the open transaction still holds the log: `later` is not listed.
        # (Only time passing can show this; each answer in between is checked too.)
        past_grace = time.monotonic() + event_horizon.SETTLE_S + 1
        while time.monotonic() < past_grace:
            page = _page(rest, pid, start)
            assert page["events"] == [] and int(page["lastId"]) < slow.id, page
            time.sleep(0.5)
        slow.commit()
        page = wait_for(lambda: (found := _page(rest, pid, start))["events"] and found, "the late event listed")
        assert ids(page["events"]) == [slow.id, later]
        for watcher in watchers:  # each stream: the late event first, then the later one, once each
            assert ids(watcher.count(2)) == [slow.id, later]
        assert wait_for(lambda: _delivered(rest, hook["id"]) == [slow.id, later], "both delivered once")

        gone = HeldEvent(pid)
        after = _record(pid)
        gone.rollback()
        page = wait_for(lambda: (found := _page(rest, pid, later))["events"] and found, "the event after a rollback")
        assert ids(page["events"]) == [after]
        for watcher in watchers:
            assert ids(watcher.count(1)) == [after]
        assert wait_for(lambda: _delivered(rest, hook["id"]) == [slow.id, later, after], "delivered after it")
    ok(rest.delete(f"/webhooks/{hook['id']}"))

"""Webhook delivery end to end (DESIGN.md §7): events of the log reach matching webhooks as signed POSTs to a
small receiver on 127.0.0.1, retried with backoff (shrunk here by WAGW_WEBHOOK_BACKOFF_SCALE), logged per
attempt, redeliverable; nothing is lost when the receiver, the worker and the queue go away for a while.
Plus the pieces on their own: signing, the schedule, and the dispatcher on a database of its own."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message as HeaderMap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from server.core import db, migrations, webhook_signing
from server.core.config import ROOT
from tests.support.api import connected_profile, fails, last_event_id, ok, wait_for, wait_message
from tests.support.net import LOCALHOST, free_port
from tests.support.stack import Stack, postgres_database, running_stack

# The whole schedule (10 s … 8 h, about 15.7 h) shrinks to about 11 s.
BACKOFF_SCALE = 0.0002


# --- a receiver ---


@dataclass
class Received:
    path: str
    headers: HeaderMap
    body: bytes
    arrived: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the statuses scripted for its path
    (the last one sticks; 200 when none is). It can go down (connections refused) and come back on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Received] = []
        self.statuses: dict[str, list[int]] = {}
        self.delays: dict[str, float] = {}  # path → how long it takes to answer
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def url(self, path: str) -> str:
        return f"http://{LOCALHOST}:{self.port}{path}"

    def script(self, path: str, *statuses: int) -> None:
        with self.lock:
            self.statuses[path] = list(statuses)

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def _status(self, path: str) -> int:
        with self.lock:
            queue = self.statuses.get(path) or [200]
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, self.headers, body, time.time()))
                status = receiver._status(self.path)
                time.sleep(receiver.delays.get(self.path, 0.0))
                answer = json.dumps({"status": status, "note": "from the test receiver"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOCALHOST, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hooks_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway of this module's own: webhooks may target 127.0.0.1, retries come within seconds, and the
    sweep queues again what is overdue after 2 s."""
    env = {"WAGW_ALLOW_PRIVATE_URLS": "1", "WAGW_WEBHOOK_BACKOFF_SCALE": str(BACKOFF_SCALE),
           "WAGW_SWEEP_OVERDUE_S": "2"}
    if request.param == "sqlite":
        with running_stack(f"sqlite:///{tmp_path_factory.mktemp('hooks') / 'wagw.db'}", **env) as running:
            yield running
    else:
        with postgres_database() as url, running_stack(url, **env) as running:
            yield running


@pytest.fixture
def rest(hooks_stack: Stack) -> Iterator[httpx.Client]:
    with hooks_stack.rest() as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def readme_verify() -> Callable[[str, bytes, Any], bool]:
    """The signature check exactly as README.md shows it to receivers."""
    readme = (ROOT / "README.md").read_text()
    blocks = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify_webhook" in block]
    assert len(blocks) == 1, "README.md should show one verify_webhook snippet"
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)
    return namespace["verify_webhook"]


def new_hook(rest: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    return ok(rest.post("/webhooks", json={"url": url, **fields}))


def deliveries(rest: httpx.Client, hook_id: str, **params: Any) -> list[dict[str, Any]]:
    return ok(rest.get(f"/webhooks/{hook_id}/deliveries", params={"pageSize": 500, **params}))["deliveries"]


def wait_delivery(rest: httpx.Client, hook_id: str, delivery_id: str, *statuses: str, timeout: float = 20
                  ) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = [d for d in deliveries(rest, hook_id) if d["id"] == delivery_id]
        return found[0] if found and found[0]["status"] in statuses else None
    return wait_for(probe, f"delivery {delivery_id} in {statuses}", timeout)


def event_ids(rest: httpx.Client, profile_id: str, since: int, events: str = "*") -> set[int]:
    page = ok(rest.get("/events", params={"profileId": profile_id, "since": since, "events": events,
                                          "pageSize": 1000}))
    return {int(event["id"]) for event in page["events"]}


def incoming(stack: Stack, phone: str, text: str) -> None:
    stack.simulator("send_from", phone="+628555000111", to=phone, type="text", content={"text": text})


# --- end to end ---


def test_a_delivery_is_signed_as_the_readme_says(rest, receiver, unique):
    pid, _ = connected_profile(rest, unique)
    secret = "whsec_" + secrets.token_hex(16)
    hook = new_hook(rest, receiver.url("/signed"), profileId=pid, secret=secret, headers={"X-Tenant": "acme"})
    fired = ok(rest.post(f"/webhooks/{hook['id']}/test", json={}))
    assert fired["status"] == "DELIVERED"
    assert fired["webhookId"] == hook["id"] and fired["event"] == "webhook.test"
    [first] = fired["attempts"]
    assert first["httpStatus"] == 200 and "test receiver" in first["responseExcerpt"]
    assert int(first.get("latencyMs", 0)) >= 0 and first["time"]
    [request] = receiver.received("/signed")
    headers, body = request.headers, request.json
    assert set(body) == {"id", "event", "profileId", "timestamp", "data"}
    assert (body["event"], body["profileId"], body["data"]["webhookId"]) == ("webhook.test", pid, hook["id"])
    assert body["id"] == int(fired["eventId"]) == int(headers["X-Webhook-Id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    assert headers["X-Webhook-Event"] == "webhook.test"
    assert abs(int(headers["X-Webhook-Timestamp"]) - time.time()) < 60
    assert headers["X-Webhook-Signature"].startswith("sha256=")
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("wa-gateway/")
    assert headers["X-Tenant"] == "acme"
    verify = readme_verify()
    assert verify(secret, request.body, headers)
    assert not verify(secret, request.body.replace(b"webhook.test", b"webhook.tesT"), headers)
    assert not verify("whsec_" + "x" * 32, request.body, headers)
    assert webhook_signing.verify(secret, request.body, headers["X-Webhook-Timestamp"],
                                  headers["X-Webhook-Signature"])


def test_profile_and_global_webhooks_get_the_events_they_filter_for(hooks_stack, rest, receiver, unique):
    pid, phone = connected_profile(rest, unique)
    other = unique("other")
    ok(rest.post("/profiles", json={"id": other, "name": "Other", "engine": "simulator"}))
    received_only = new_hook(rest, receiver.url("/received"), profileId=pid, events=["message.received"])
    messages = new_hook(rest, receiver.url("/messages"), profileId=pid, events=["message.*"])
    global_acks = new_hook(rest, receiver.url("/global-acks"), events=["message.ack"])
    everything_of_other = new_hook(rest, receiver.url("/other"), profileId=other, events=["*"])
    try:
        since = last_event_id(rest)
        sent = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": "628111777888", "text": "hi"}))
        wait_message(rest, sent["id"], "READ")
        incoming(hooks_stack, phone, "hello webhooks")
        wait_for(lambda: event_ids(rest, pid, since, "message.received"), "the incoming message's event")
        expected = {
            "/received": event_ids(rest, pid, since, "message.received"),
            "/messages": event_ids(rest, pid, since, "message.*"),
            "/global-acks": event_ids(rest, pid, since, "message.ack"),
        }
        assert len(expected["/received"]) == 1 and len(expected["/global-acks"]) >= 3

        def got(path: str) -> set[int]:
            return {r.json["id"] for r in receiver.received(path) if r.json["profileId"] == pid}

        wait_for(lambda: all(got(path) == ids for path, ids in expected.items()), "every event at its webhook")
        time.sleep(0.5)  # and nothing more arrives
        assert {path: got(path) for path in expected} == expected
        assert got("/other") == set()
        for request in receiver.received("/messages"):
            assert request.json["event"].startswith("message.")
            assert int(request.headers["X-Webhook-Id"]) == request.json["id"]
            assert request.headers["X-Webhook-Event"] == request.json["event"]
        logged = deliveries(rest, messages["id"])
        assert {d["status"] for d in logged} == {"DELIVERED"}
        assert {int(d["eventId"]) for d in logged} == expected["/messages"]
        assert all(d["attempts"][0]["httpStatus"] == 200 for d in logged)
    finally:
        for hook in (received_only, messages, global_acks, everything_of_other):
            ok(rest.delete(f"/webhooks/{hook['id']}"))


def test_nothing_is_lost_while_the_receiver_the_worker_and_the_queue_are_gone(hooks_stack, rest, receiver,
                                                                              unique):
    pid, phone = connected_profile(rest, unique)
    hook = new_hook(rest, receiver.url("/outage"), profileId=pid, events=["message.received"])
    since = last_event_id(rest)
    receiver.stop()
    for i in range(3):
        incoming(hooks_stack, phone, f"while the receiver is down {i}")
    # Attempts fail (connection refused) and are retried.
    wait_for(lambda: len(found := deliveries(rest, hook["id"])) == 3
             and all(d["status"] == "RETRYING" and d["attempts"][0]["httpStatus"] == 0 for d in found),
             "three deliveries retrying")
    # The worker dies, and the queue forgets everything it held (as if Redis restarted empty).
    hooks_stack.workers.process.kill()
    hooks_stack.workers.process.wait()
    queue = redis.Redis.from_url(hooks_stack.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    namespace = hooks_stack.env["WAGW_REDIS_NAMESPACE"]
    for key in queue.scan_iter(f"{namespace}*"):
        queue.delete(key)
    for i in range(3):
        incoming(hooks_stack, phone, f"while the worker is down {i}")
    expected = wait_for(lambda: len(ids := event_ids(rest, pid, since, "message.received")) == 6 and ids,
                        "six incoming messages")
    time.sleep(1)
    receiver.start()
    hooks_stack.workers.start()
    got = wait_for(lambda: (ids := {r.json["id"] for r in receiver.received("/outage")}) == expected and ids,
                   "every event delivered once the receiver and the worker are back", timeout=60)
    assert got == expected
    final = wait_for(lambda: len(found := deliveries(rest, hook["id"])) == 6
                     and all(d["status"] == "DELIVERED" for d in found) and found, "six delivered")
    assert {int(d["eventId"]) for d in final} == expected
    assert any(len(d["attempts"]) > 1 for d in final)  # the first three failed before
    ok(rest.delete(f"/webhooks/{hook['id']}"))


def test_a_slow_receiver_does_not_hold_up_another_webhooks_deliveries(hooks_stack, rest, receiver, unique):
    """Twelve events go to a receiver that takes 6 s to answer and to a quick one. The slow webhook holds at most
    its cap of in-flight POSTs (worker/actors.py); its other deliveries wait without a thread, so the quick
    receiver has every event long before the slow one answered its first. (With each POST on one of the worker's
    eight threads, eight slow POSTs held them all, and the quick receiver's last events waited 6 s for one.)"""
    pid, phone = connected_profile(rest, unique)
    receiver.delays["/slow"] = 6.0
    slow = new_hook(rest, receiver.url("/slow"), profileId=pid, events=["message.received"])
    quick = new_hook(rest, receiver.url("/quick"), profileId=pid, events=["message.received"])
    try:
        since = last_event_id(rest)
        started = time.monotonic()
        for i in range(12):
            incoming(hooks_stack, phone, f"slow and quick {i}")
        expected = wait_for(lambda: len(ids := event_ids(rest, pid, since, "message.received")) == 12 and ids,
                            "twelve incoming messages")
        wait_for(lambda: {r.json["id"] for r in receiver.received("/quick")} == expected,
                 "every event at the quick receiver", timeout=30)
        assert time.monotonic() - started < 5.0, "the quick receiver waited for the slow one"
        in_flight = len(receiver.received("/slow"))
        assert 1 <= in_flight <= 4, in_flight  # the slow one's cap (one worker process)
    finally:
        for hook in (slow, quick):
            ok(rest.delete(f"/webhooks/{hook['id']}"))


def test_4xx_is_final_but_408_429_and_5xx_are_retried(rest, receiver, unique):
    pid, _ = connected_profile(rest, unique)
    receiver.script("/bad", 400)
    receiver.script("/busy", 429, 200)
    receiver.script("/flaky", 500, 503, 200)
    receiver.script("/slow", 408, 200)
    answers = {}
    for path in ("/bad", "/busy", "/flaky", "/slow"):
        hook = new_hook(rest, receiver.url(path), profileId=pid)
        answers[path] = (hook["id"], ok(rest.post(f"/webhooks/{hook['id']}/test", json={})))
    hook_id, bad = answers["/bad"]
    assert bad["status"] == "FAILED" and [a["httpStatus"] for a in bad["attempts"]] == [400]
    assert "nextAttemptTime" not in bad
    for path, statuses in (("/busy", [429, 200]), ("/flaky", [500, 503, 200]), ("/slow", [408, 200])):
        hook_id, first = answers[path]
        assert first["status"] == "RETRYING" and first["nextAttemptTime"], first
        done = wait_delivery(rest, hook_id, first["id"], "DELIVERED")
        assert [a["httpStatus"] for a in done["attempts"]] == statuses
        assert len(receiver.received(path)) == len(statuses)
    time.sleep(1)
    hook_id, bad = answers["/bad"]
    assert [d["attempts"] for d in deliveries(rest, hook_id)] == [bad["attempts"]]
    assert len(receiver.received("/bad")) == 1


def test_the_last_attempt_fails_the_delivery_and_redelivery_sends_it_again(rest, receiver, unique):
    pid, _ = connected_profile(rest, unique)
    receiver.script("/down", 503)
    hook = new_hook(rest, receiver.url("/down"), profileId=pid)
    fired = ok(rest.post(f"/webhooks/{hook['id']}/test", json={}))
    failed = wait_delivery(rest, hook["id"], fired["id"], "FAILED", timeout=60)
    assert [a["httpStatus"] for a in failed["attempts"]] == [503] * 10
    assert "nextAttemptTime" not in failed
    times = [dt.datetime.fromisoformat(a["time"].replace("Z", "+00:00")) for a in failed["attempts"]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps[-1] > gaps[0] and gaps[-1] >= 28800 * BACKOFF_SCALE * 0.8, gaps  # exponential backoff
    receiver.script("/down", 200)
    again = ok(rest.post(f"/webhooks/{hook['id']}/deliveries/{fired['id']}/redeliver", json={}))
    assert again["status"] == "PENDING" and len(again["attempts"]) == 10
    done = wait_delivery(rest, hook["id"], fired["id"], "DELIVERED")
    assert [a["httpStatus"] for a in done["attempts"]] == [503] * 10 + [200]
    assert {r.json["id"] for r in receiver.received("/down")} == {int(fired["eventId"])}  # the same event
    # A delivered one can go again too; one still being retried cannot.
    ok(rest.post(f"/webhooks/{hook['id']}/deliveries/{fired['id']}/redeliver", json={}))
    wait_for(lambda: len(wait_delivery(rest, hook["id"], fired["id"], "DELIVERED")["attempts"]) == 12,
             "a second redelivery")
    receiver.script("/again", 500)
    retrying = new_hook(rest, receiver.url("/again"), profileId=pid)
    busy = ok(rest.post(f"/webhooks/{retrying['id']}/test", json={}))
    assert busy["status"] == "RETRYING"
    fails(rest.post(f"/webhooks/{retrying['id']}/deliveries/{busy['id']}/redeliver", json={}), 409, "CONFLICT")
    fails(rest.post(f"/webhooks/{retrying['id']}/deliveries/whd_nope/redeliver", json={}), 404, "NOT_FOUND")
    fails(rest.post(f"/webhooks/{retrying['id']}/deliveries/{fired['id']}/redeliver", json={}), 404, "NOT_FOUND")
    ok(rest.delete(f"/webhooks/{retrying['id']}"))


def test_deliveries_list_filters_by_status_and_pages(rest, receiver, unique):
    pid, _ = connected_profile(rest, unique)
    receiver.script("/mixed", 400, 200)
    hook = new_hook(rest, receiver.url("/mixed"), profileId=pid)
    fired = [ok(rest.post(f"/webhooks/{hook['id']}/test", json={})) for _ in range(3)]
    assert [f["status"] for f in fired] == ["FAILED", "DELIVERED", "DELIVERED"]
    assert [d["id"] for d in deliveries(rest, hook["id"])] == [f["id"] for f in fired][::-1]  # newest first
    assert [d["id"] for d in deliveries(rest, hook["id"], status="FAILED")] == [fired[0]["id"]]
    assert len(deliveries(rest, hook["id"], status="DELIVERED")) == 2
    page = ok(rest.get(f"/webhooks/{hook['id']}/deliveries", params={"pageSize": 2}))
    assert page["totalSize"] == 3 and len(page["deliveries"]) == 2 and page["nextPageToken"]
    rest_of = ok(rest.get(f"/webhooks/{hook['id']}/deliveries",
                          params={"pageSize": 2, "pageToken": page["nextPageToken"]}))
    assert [d["id"] for d in page["deliveries"] + rest_of["deliveries"]] == [f["id"] for f in fired][::-1]
    fails(rest.get("/webhooks/wh_nope/deliveries"), 404, "NOT_FOUND")
    fails(rest.post("/webhooks/wh_nope/test", json={}), 404, "NOT_FOUND")
    ok(rest.delete(f"/webhooks/{hook['id']}"))
    fails(rest.get(f"/webhooks/{hook['id']}/deliveries"), 404, "NOT_FOUND")


def test_a_key_limited_to_one_profile_sees_only_its_webhooks_and_deliveries(rest, receiver, unique):
    mine, _ = connected_profile(rest, unique)
    theirs, _ = connected_profile(rest, unique)
    my_hook = new_hook(rest, receiver.url("/mine"), profileId=mine)
    their_hook = new_hook(rest, receiver.url("/theirs"), profileId=theirs)
    global_hook = new_hook(rest, receiver.url("/global"), events=["session.*"])
    their_delivery = ok(rest.post(f"/webhooks/{their_hook['id']}/test", json={}))
    created = ok(rest.post("/keys", json={"name": unique("hooks"), "scopes": ["webhooks:*"], "profileIds": [mine]}))
    with httpx.Client(base_url=rest.base_url, headers={"X-API-Key": created["key"]}, timeout=15) as limited:
        fired = ok(limited.post(f"/webhooks/{my_hook['id']}/test", json={}))
        assert [d["id"] for d in deliveries(limited, my_hook["id"])] == [fired["id"]]
        ok(limited.post(f"/webhooks/{my_hook['id']}/deliveries/{fired['id']}/redeliver", json={}))
        for hook in (their_hook, global_hook):  # not theirs: as if they did not exist
            fails(limited.get(f"/webhooks/{hook['id']}/deliveries"), 404, "NOT_FOUND")
            fails(limited.post(f"/webhooks/{hook['id']}/test", json={}), 404, "NOT_FOUND")
        fails(limited.post(f"/webhooks/{their_hook['id']}/deliveries/{their_delivery['id']}/redeliver", json={}),
              404, "NOT_FOUND")
    with httpx.Client(base_url=rest.base_url, headers={"X-API-Key": ok(rest.post("/keys", json={
            "name": unique("ro"), "scopes": ["webhooks:read"], "profileIds": [mine]}))["key"]}, timeout=15) as reader:
        ok(reader.get(f"/webhooks/{my_hook['id']}/deliveries"))
        fails(reader.post(f"/webhooks/{my_hook['id']}/test", json={}), 403, "FORBIDDEN")  # needs webhooks:write
    assert len(receiver.received("/theirs")) == 1 and receiver.received("/global") == []
    for hook in (my_hook, their_hook, global_hook):
        ok(rest.delete(f"/webhooks/{hook['id']}"))


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "[::1]",
                                  "localhost", "169.254.169.254", "100.64.0.1", "10.0.0.1"])
def test_private_targets_are_refused_when_a_webhook_is_made(stack, host):
    """The shared stack runs without WAGW_ALLOW_PRIVATE_URLS: an address that is not public, in any notation, is
    refused at once, naming the field."""
    with stack.rest() as admin:
        error = fails(admin.post("/webhooks", json={"url": f"http://{host}:8080/hook"}), 400, "VALIDATION_ERROR")
        assert error["details"]["field"] == "url"
        assert "WAGW_ALLOW_PRIVATE_URLS" in error["message"]


def test_a_target_that_resolves_to_a_private_address_is_refused_at_each_attempt(stack, receiver, unique):
    """A webhook on the test Internet (trusted by name and port) is delivered. Pointed, as a DNS change would,
    at a name that resolves to 127.0.0.1 (changed in the database: the API would refuse `localhost` itself),
    every attempt, TestWebhook's in the API server and the workers' for the log's events, resolves it, refuses
    it at once (httpStatus 0, not tried again) and reaches nothing."""
    from server.core.models import Webhook

    path = f"/hooks/{unique('private')}"
    stack.web.serve(path, b"ok", "text/plain")
    with stack.rest() as admin:
        pid = unique("hookprof")
        ok(admin.post("/profiles", json={"id": pid, "name": pid, "engine": "simulator"}))
        hook = new_hook(admin, stack.web.url(path), profileId=pid)
        assert ok(admin.post(f"/webhooks/{hook['id']}/test", json={}))["status"] == "DELIVERED"
        assert len(stack.web.hits(path)) == 1
        db.open_database(stack.database_url)
        with db.database.connection_context():
            Webhook.update(url=f"http://localhost:{receiver.port}/private").where(Webhook.id == hook["id"]).execute()
        fired = ok(admin.post(f"/webhooks/{hook['id']}/test", json={}))
        ok(admin.post(f"/profiles/{pid}/connect", json={}))  # session.status and qr.updated events, by the workers
        refusal = "refused: 'localhost' resolves to 127.0.0.1, a loopback address"
        for delivery in [fired, *wait_for(lambda: [d for d in deliveries(admin, hook["id"], status="FAILED")
                                                   if d["event"] != "webhook.test"], "the workers' attempts")]:
            assert delivery["status"] == "FAILED"
            [attempt] = delivery["attempts"]
            assert attempt["httpStatus"] == 0 and attempt["responseExcerpt"].startswith(refusal), attempt
        ok(admin.post(f"/profiles/{pid}/disconnect", json={}))
        ok(admin.delete(f"/webhooks/{hook['id']}"))
    assert receiver.received() == []


# --- the pieces on their own ---


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = webhook_signing.body(7, "message.ack", "p1", dt.datetime(2026, 2, 5, 10, 0, 0, 123456), {"a": "é"})
    assert body == '{"id":7,"event":"message.ack","profileId":"p1","timestamp":"2026-02-05T10:00:00.123Z",' \
                   '"data":{"a":"é"}}'.encode()
    headers = webhook_signing.signed_headers("s3cret-s3cret-s3", body, event_id=7, event="message.ack",
                                             now=1_770_000_000)
    assert headers["X-Webhook-Timestamp"] == "1770000000"
    assert headers["X-Webhook-Signature"] == webhook_signing.sign("s3cret-s3cret-s3", 1_770_000_000, body)
    import hashlib
    import hmac
    assert headers["X-Webhook-Signature"] == "sha256=" + hmac.new(
        b"s3cret-s3cret-s3", b"1770000000." + body, hashlib.sha256).hexdigest()
    verify = readme_verify()
    header_map = HeaderMap()
    for name, value in headers.items():
        header_map[name] = value
    assert not verify("s3cret-s3cret-s3", body, header_map)  # the timestamp is from 2026-02-02: too old
    fresh = webhook_signing.signed_headers("s3cret-s3cret-s3", body, event_id=7, event="message.ack")
    assert verify("s3cret-s3cret-s3", body, fresh)
    assert not webhook_signing.verify("s3cret-s3cret-s3", body, "1770000000", headers["X-Webhook-Signature"])
    assert webhook_signing.verify("s3cret-s3cret-s3", body, "1770000000", headers["X-Webhook-Signature"],
                                  now=1_770_000_100)


def test_backoff_grows_over_hours_with_jitter():
    from server.core import webhook_attempts as webhooks

    assert webhooks.MAX_ATTEMPTS == 10
    assert [webhooks.backoff_s(n, rand=0.5) for n in range(1, 10)] == [10, 30, 120, 600, 1800, 3600, 7200,
                                                                        14400, 28800]
    assert 14 * 3600 < sum(webhooks.BACKOFF_S) < 17 * 3600
    assert webhooks.backoff_s(1, rand=0.0) == pytest.approx(8) and webhooks.backoff_s(1, rand=1.0) == pytest.approx(12)
    assert webhooks.backoff_s(9, scale=0.001, rand=0.5) == pytest.approx(28.8)
    assert [s for s in (200, 204, 301, 400, 401, 404, 408, 409, 422, 429, 500, 502, 0) if webhooks.retryable(s)] \
        == [200, 204, 301, 408, 429, 500, 502, 0]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'd.db'}"
        db.open_database(url)
        migrations.migrate()
        yield url
    else:
        with postgres_database() as url:
            db.open_database(url)
            migrations.migrate()
            yield url
            db.database.close()


def test_dispatchers_racing_make_each_delivery_once(database, monkeypatch):
    from server.core.models import Event, Profile, Webhook, WebhookDelivery
    from worker import webhook_dispatch as webhooks

    queued: list[str] = []
    lock = threading.Lock()

    def collect(ids: list[str], delay_s: float = 0.0) -> bool:
        with lock:
            queued.extend(ids)
        return True

    monkeypatch.setattr(webhooks, "enqueue", collect)
    with db.database.connection_context():
        Profile.create(id="p1", name="p1", engine="simulator")
        for n in range(3):
            Webhook.create(id=f"wh_{n}", url="https://example.com/x", events=["*"], secret="s" * 16,
                           created_at=dt.datetime(2020, 1, 1))
    stop = threading.Event()
    errors: list[BaseException] = []

    def dispatch() -> None:
        dispatcher = webhooks.Dispatcher()
        while not stop.is_set():
            try:
                dispatcher.run_once()
            except BaseException as error:  # reported below
                errors.append(error)
                return

    threads = [threading.Thread(target=dispatch) for _ in range(3)]
    for thread in threads:
        thread.start()
    def made() -> int:
        with db.database.connection_context():
            return WebhookDelivery.select().count()

    try:
        for _ in range(100):
            with db.database.connection_context(), db.write_transaction():
                Event.create(name="message.ack", profile_id="p1", data={})
        wait_for(lambda: made() >= 300, "every delivery made", timeout=30)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert made() == 300
    # Each pass that made deliveries woke each of their webhooks once, with a delivery it made itself (their lanes
    # attempt the rest): no id twice, and every webhook woken.
    assert len(queued) == len(set(queued)) and len(queued) <= 300
    with db.database.connection_context():
        woken = list(WebhookDelivery.select().where(WebhookDelivery.id.in_(queued)))
    assert len(woken) == len(queued) and {d.webhook_id for d in woken} == {"wh_0", "wh_1", "wh_2"}

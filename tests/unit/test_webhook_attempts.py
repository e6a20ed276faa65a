"""Webhook attempts in batches (server/core/webhook_attempts.py) on both backends, against a receiver on
127.0.0.1: a batch takes the webhook's due deliveries that no one holds, oldest first, POSTs each once over a
kept-alive connection, and records them all with their leases released; a retry is queued; a delivery whose lease
went to another process is left to it; a batch is as large as the receiver's pace allows."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server.core import events, jobs, webhook_attempts, webhook_signing
from server.core.config import Settings
from server.core.db import database, utcnow
from server.core.models import Profile, Webhook, WebhookDelivery
from server.core.webhook_deliveries import KIND
from worker import actors

SECRET = "whsec_" + "c" * 32
SETTINGS = Settings(allow_private_urls=True, job_lease_s=5.0, webhook_backoff_scale=1.0)


class Receiver:
    """Answers `status` to every POST and notes each request (its body and headers) and the connection it came on."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[bytes, dict[str, str], int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((body, dict(self.headers), id(self.connection)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def event_ids(self) -> list[int]:
        with self.lock:
            return [json.loads(body)["id"] for body, _, _ in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(autouse=True)
def _setup(database, stub_broker):
    webhook_attempts._pace = webhook_attempts._Pace()  # each test's receiver is new: no pace learned before


def deliveries(hook_id: str, count: int, **columns: object) -> list[str]:
    """`count` due deliveries to the webhook, of events recorded in order."""
    made = []
    for n in range(count):
        event = events.record("message.received", "p", {"n": n})
        made.append(WebhookDelivery.create(id=f"whd_{hook_id}_{n}", webhook_id=hook_id, event_id=event.id,
                                           event=event.name, profile_id="p", next_attempt_at=utcnow(),
                                           **columns).id)
    return made


def hook(url: str, hook_id: str = "wh_1") -> Webhook:
    if not Profile.select().where(Profile.id == "p").exists():
        Profile.create(id="p", name="P", engine="simulator")
    return Webhook.create(id=hook_id, profile="p", url=url, secret=SECRET, headers={"X-Tenant": "acme"},
                          created_at=dt.datetime(2020, 1, 1))


def test_a_batch_delivers_the_webhooks_due_deliveries_in_order_and_releases_them(receiver):
    hook(receiver.url)
    other = hook(receiver.url + "/other", "wh_2")
    ids = deliveries("wh_1", 6)
    theirs = deliveries(other.id, 1)
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 1  # a receiver seen for the first time: one
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 5  # fast: the rest at once
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 0
    rows = {d.id: d for d in WebhookDelivery.select()}
    assert receiver.event_ids() == [rows[i].event_id for i in ids]  # oldest first, each once
    for delivery_id in ids:
        row = rows[delivery_id]
        assert (row.status, row.round_attempts, row.lease_owner, row.leased_until, row.next_attempt_at) == (
            "DELIVERED", 1, None, None, None)
        assert [a["httpStatus"] for a in row.attempts] == [200] and row.attempts[0]["responseExcerpt"] == "ok"
    assert rows[theirs[0]].status == "PENDING"  # another webhook's
    assert not jobs.keeper().held()
    assert len({connection for _, _, connection in receiver.requests}) == 1  # one kept-alive connection
    body, headers, _ = receiver.requests[0]
    assert headers["X-Tenant"] == "acme" and headers["X-Webhook-Id"] == str(rows[ids[0]].event_id)
    assert webhook_signing.verify(SECRET, body, headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"])


def test_a_batch_skips_what_another_holds_and_what_is_not_due(receiver):
    hook(receiver.url)
    held, later, free = deliveries("wh_1", 3)
    WebhookDelivery.update(lease_owner="another", leased_until=utcnow() + dt.timedelta(seconds=5)).where(
        WebhookDelivery.id == held).execute()
    WebhookDelivery.update(next_attempt_at=utcnow() + dt.timedelta(seconds=60)).where(
        WebhookDelivery.id == later).execute()
    webhook_attempts._pace.note("wh_1", 0.001)
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 1
    assert {d.id: d.status for d in WebhookDelivery.select()} == {held: "PENDING", later: "PENDING",
                                                                  free: "DELIVERED"}


def test_a_failed_attempt_is_released_due_later_with_its_wake_up_queued(receiver, queued):
    hook(receiver.url)
    [delivery_id] = deliveries("wh_1", 1)
    receiver.status = 503
    before = utcnow()
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 1
    row = WebhookDelivery.get_by_id(delivery_id)
    assert (row.status, row.round_attempts, row.lease_owner) == ("RETRYING", 1, None)
    assert before + dt.timedelta(seconds=8) <= row.next_attempt_at <= utcnow() + dt.timedelta(seconds=12)
    assert row.queued_at == row.next_attempt_at - dt.timedelta(seconds=jobs.EARLY_S)
    assert [m.args for m in queued(f"{KIND.queue}.DQ")] == [(delivery_id,)]
    receiver.status = 400  # final: no wake-up more
    WebhookDelivery.update(next_attempt_at=utcnow()).where(WebhookDelivery.id == delivery_id).execute()
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 1
    assert WebhookDelivery.get_by_id(delivery_id).status == "FAILED"
    assert len(queued(f"{KIND.queue}.DQ")) == 1


def test_a_delivery_whose_lease_went_to_another_process_is_left_to_it(receiver, monkeypatch):
    hook(receiver.url)
    [delivery_id] = deliveries("wh_1", 1)
    post = webhook_attempts.post

    def slow_post(*args: object) -> webhook_attempts.Outcome:
        # The lease lapsed during the POST, and another process took the delivery.
        with database.connection_context():
            WebhookDelivery.update(lease_owner="another").where(WebhookDelivery.id == delivery_id).execute()
        return post(*args)

    monkeypatch.setattr(webhook_attempts, "post", slow_post)
    assert webhook_attempts.attempt_batch("wh_1", SETTINGS) == 1
    row = WebhookDelivery.get_by_id(delivery_id)
    assert (row.status, row.attempts, row.lease_owner) == ("PENDING", [], "another")
    assert not jobs.keeper().held()


def test_a_slow_receiver_gets_batches_of_one():
    pace = webhook_attempts._Pace()
    assert pace.batch_size("new") == 1
    for _ in range(20):
        pace.note("fast", 0.001)
        pace.note("slow", 5.0)
    assert pace.batch_size("fast") == webhook_attempts.MAX_BATCH
    assert pace.batch_size("slow") == 1


class _Runner:
    """What wake_webhook uses of a worker's job runner, noting what it was asked."""

    def __init__(self) -> None:
        self.poked: list[str] = []
        self.scheduled: list[dt.datetime] = []
        self.lanes = self
        self.scheduler = self

    def poke(self, group: str, cap: int, batch: object) -> None:
        self.poked.append(group)

    def at(self, when: dt.datetime, job: object, run: object) -> bool:
        self.scheduled.append(when)
        return True


def test_a_wake_up_wakes_the_webhooks_lane_now_or_when_the_delivery_is_due(receiver):
    hook(receiver.url)
    due, later, done = deliveries("wh_1", 3)
    retry_at = utcnow() + dt.timedelta(seconds=30)
    WebhookDelivery.update(next_attempt_at=retry_at, status="RETRYING").where(WebhookDelivery.id == later).execute()
    WebhookDelivery.update(status="DELIVERED").where(WebhookDelivery.id == done).execute()
    runner = _Runner()
    for delivery_id in (due, later, done, "whd_gone"):
        actors.wake_webhook(runner, delivery_id, SETTINGS)  # a stand-in for jobs.Runner
    assert runner.poked == ["wh_1"]  # the due one: its webhook's lane, now
    assert runner.scheduled == [retry_at]  # a retry's early wake-up: the lane when it is due, no lease held
    assert WebhookDelivery.get_by_id(later).lease_owner is None

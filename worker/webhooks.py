"""Webhook delivery (DESIGN.md §7): every event of the log reaches every matching active webhook, as a signed
POST, retried with backoff until the receiver takes it or the schedule runs out.

Driven by the database, so neither a lost queue nor a dead worker loses an event:
- the dispatcher, a thread beside the workers (worker/runner.py), follows the event log from a cursor kept in
  the database (WebhookCursor) and writes one WebhookDelivery row per (event, matching active webhook) in the
  transaction that moves the cursor, then queues an attempt for each row it made. Several processes may run
  it: the rows are unique per (webhook, event) and inserted with "ignore", and the cursor only moves forward;
- the actor makes one attempt: it takes the row's lease, POSTs, appends the attempt to the row, and either
  ends the delivery (DELIVERED, or FAILED: a 4xx other than 408/429, a refused address, or the last attempt)
  or stores `next_attempt_at` and queues itself again with that delay;
- the sweep (every few seconds, in the dispatcher's thread) queues again what is overdue: attempts whose queue
  message was lost (Redis restarted empty, a broker down when queueing) or whose worker died holding the lease.

Event ids come from a sequence, and on PostgreSQL a transaction may commit event 101 after another committed
102. The dispatcher therefore remembers the ids it skipped ("gaps") and looks for them again on each pass; the
cursor stays below the oldest gap until the gap is filled or, after GAP_GRACE, taken for a rolled-back id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from typing import Any

import dramatiq
import httpx
from peewee import JOIN

from server import event_bus, event_filters, events, urls, webhook_signing
from server.config import Settings, load
from server.db import database, utcnow, write_transaction
from server.ids import new_id
from server.logs import fields
from server.models import Event, Webhook, WebhookCursor, WebhookDelivery
from worker.broker import broker  # noqa: F401  (sets the broker before the actor below is declared)

log = logging.getLogger("wagw.webhooks")

WEBHOOK_QUEUE = "webhooks"
ACTOR_NAME = "deliver_webhook"
# The event TestWebhook records: delivered to the webhook it was fired at only, never fanned out.
TEST_EVENT = "webhook.test"
CURSOR = "webhooks"

PENDING, RETRYING, DELIVERED, FAILED = "PENDING", "RETRYING", "DELIVERED", "FAILED"
ACTIVE = (PENDING, RETRYING)

# The waits after the 1st, 2nd, … failed attempt (about 15.7 h in all), times WAGW_WEBHOOK_BACKOFF_SCALE, ±20%.
BACKOFF_S = (10, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
MAX_ATTEMPTS = 1 + len(BACKOFF_S)
JITTER = 0.2
TIMEOUT_S = 10.0
# Longer than an attempt can take: a worker that dies mid-attempt leaves a lease that expires by then.
LEASE = dt.timedelta(seconds=30)
# A queued attempt may run this early (clocks of different processes) and still be taken.
EARLY = dt.timedelta(seconds=1)
EXCERPT_BYTES = 2048
EXCERPT_CHARS = 500
# A delivery keeps its last attempts only (redeliveries append to them).
KEPT_ATTEMPTS = 50

# Woken by the event bus when the log grows, the dispatcher still looks every BACKSTOP_S (events beyond an id
# the bus waits for, a lost wake-up); without the bus it polls every POLL_S.
BACKSTOP_S = 0.5
POLL_S = 0.05
BATCH = 500
GAP_GRACE = dt.timedelta(seconds=30)
# Larger jumps of the id sequence than this are not waited for (nor more missing ids than MAX_GAPS at once).
MAX_GAP = 1000
MAX_GAPS = 10_000
SWEEP_EVERY_S = 5.0
# As the message sweeper's (worker/sweeper.py): an attempt this overdue is queued again.
OVERDUE = dt.timedelta(seconds=float(os.environ.get("WAGW_SWEEP_OVERDUE_S", "").strip() or 30))
ORPHANS_EVERY_S = 600.0


@cache
def settings() -> Settings:
    return load()


@cache
def user_agent() -> str:
    try:
        return f"wa-gateway/{metadata.version('wa-gateway')}"
    except metadata.PackageNotFoundError:
        return "wa-gateway"


# --- the schedule ---


def backoff_s(failed_attempts: int, scale: float = 1.0, rand: float | None = None) -> float:
    """The wait after the `failed_attempts`-th failed attempt of a round (1-based), jittered by ±20%."""
    base = BACKOFF_S[min(max(failed_attempts, 1), len(BACKOFF_S)) - 1]
    return base * scale * (1 + JITTER * (2 * (random.random() if rand is None else rand) - 1))


def retryable(status: int) -> bool:
    """Unreachable (0), 3xx, 5xx, 408 and 429 are tried again; any other 4xx is the receiver's last word."""
    return not 400 <= status < 500 or status in (408, 429)


# --- one attempt ---


@dataclasses.dataclass
class Outcome:
    status: int  # the receiver's HTTP status; 0 when it was not reached
    excerpt: str
    final: bool = False  # no point trying again (a refused address)


class Refused(Exception):
    """The target is on a private address and configuration does not allow it."""


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return urls.is_private_host(str(ip)) or ip.is_multicast or ip.is_reserved


def _target(url: str, allow_private: bool) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """Where to connect: with private addresses refused, the host is resolved here, every address checked, and
    the connection pinned to a checked one (Host header and TLS name kept), so a second lookup cannot swap in
    a private address. Raises Refused, or OSError when the name does not resolve."""
    parsed = httpx.URL(url)
    if allow_private:
        return parsed, {}, {}
    host = parsed.host
    if urls.is_private_host(host):
        raise Refused(f"'{host}' is a private or loopback address; set WAGW_ALLOW_PRIVATE_URLS=1 to allow it")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in addresses:
        if _private(address):
            raise Refused(f"'{host}' resolves to {address}, a private or loopback address; "
                          "set WAGW_ALLOW_PRIVATE_URLS=1 to allow it")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return parsed.copy_with(host=addresses[0]), {"Host": parsed.netloc.decode("ascii")}, extensions


@cache
def _client() -> httpx.Client:
    # No redirects (a redirect could point anywhere, private addresses included) and no proxies from the
    # environment (the address check must be about the address actually connected to).
    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False,
                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


def post(url: str, payload: bytes, headers: dict[str, str], *, allow_private: bool) -> Outcome:
    """One POST, within TIMEOUT_S, answering the status and the first bytes of the response (or the error)."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        target, extra_headers, extensions = _target(url, allow_private)
    except Refused as refused:
        return Outcome(0, f"refused: {refused}", final=True)
    except (OSError, UnicodeError) as error:
        return Outcome(0, f"cannot resolve the host: {error}")
    try:
        with _client().stream("POST", target, content=payload, headers={**headers, **extra_headers},
                              extensions=extensions) as response:
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= EXCERPT_BYTES or time.monotonic() > deadline:
                    break
            return Outcome(response.status_code,
                           received[:EXCERPT_BYTES].decode("utf-8", "replace")[:EXCERPT_CHARS])
    except httpx.TimeoutException:
        return Outcome(0, f"timed out after {TIMEOUT_S:g} s")
    except httpx.HTTPError as error:
        return Outcome(0, f"{type(error).__name__}: {error}"[:EXCERPT_CHARS])


def request_of(webhook: Webhook, event: Event, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an attempt to deliver `event` to `webhook`."""
    payload = webhook_signing.body(event.id, event.name, event.profile_id, event.created_at, event.data)
    headers = {
        **webhook.headers,
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        **webhook_signing.signed_headers(webhook.secret, payload, event_id=event.id, event=event.name, now=now),
    }
    return payload, headers


def attempt(delivery_id: str) -> float | None:
    """Make the delivery's due attempt, unless it is not due, finished, or being made by another worker.
    Returns the delay to queue the next attempt with, or None when nothing is to be queued."""
    config = settings()
    # One connection for the whole attempt (no transaction is open during the POST).
    with database.connection_context():
        now = utcnow()
        lease = now + LEASE
        with write_transaction():
            claimed = WebhookDelivery.update(leased_until=lease).where(
                (WebhookDelivery.id == delivery_id) & WebhookDelivery.status.in_(ACTIVE)
                & (WebhookDelivery.next_attempt_at.is_null() | (WebhookDelivery.next_attempt_at <= now + EARLY))
                & (WebhookDelivery.leased_until.is_null() | (WebhookDelivery.leased_until < now))
            ).execute()
        if not claimed:
            return None
        # The delivery, its webhook and its event in one query (either may be gone: outer joins).
        delivery = (WebhookDelivery.select(WebhookDelivery, Webhook, Event)
                    .join(Webhook, JOIN.LEFT_OUTER, on=(Webhook.id == WebhookDelivery.webhook_id), attr="hook")
                    .switch(WebhookDelivery)
                    .join(Event, JOIN.LEFT_OUTER, on=(Event.id == WebhookDelivery.event_id), attr="logged")
                    .where(WebhookDelivery.id == delivery_id).get())
        webhook, event = delivery.hook, delivery.logged
        if webhook is None:  # deleted since: its deliveries go with it
            with write_transaction():
                delivery.delete_instance()
            return None
        started_at, started = utcnow(), time.monotonic()
        if event is None:
            outcome = Outcome(0, "the event is no longer in the event log", final=True)
        else:
            payload, headers = request_of(webhook, event)
            outcome = post(webhook.url, payload, headers, allow_private=config.allow_private_urls)
        latency_ms = int((time.monotonic() - started) * 1000)
        return _record(delivery, lease, outcome, started_at, latency_ms, config.webhook_backoff_scale)


def _record(delivery: WebhookDelivery, lease: dt.datetime, outcome: Outcome, started_at: dt.datetime,
            latency_ms: int, scale: float) -> float | None:
    entry = {"time": started_at.isoformat() + "Z", "httpStatus": outcome.status, "latencyMs": latency_ms,
             "responseExcerpt": outcome.excerpt}
    round_attempts = delivery.round_attempts + 1
    now = utcnow()
    delay = None
    if 200 <= outcome.status < 300:
        status = DELIVERED
    elif outcome.final or not retryable(outcome.status) or round_attempts >= MAX_ATTEMPTS:
        status = FAILED
    else:
        status, delay = RETRYING, backoff_s(round_attempts, scale)
    next_at = now + dt.timedelta(seconds=delay) if delay is not None else None
    with write_transaction():
        kept = WebhookDelivery.update(
            status=status, attempts=[*delivery.attempts, entry][-KEPT_ATTEMPTS:], round_attempts=round_attempts,
            next_attempt_at=next_at, queued_at=next_at, leased_until=None, updated_at=now,
        ).where((WebhookDelivery.id == delivery.id) & (WebhookDelivery.leased_until == lease)).execute()
    log.log(logging.DEBUG if status == DELIVERED else logging.WARNING, "webhook attempt", extra=fields(
        delivery_id=delivery.id, webhook_id=delivery.webhook_id, event_id=delivery.event_id,
        http_status=outcome.status, latency_ms=latency_ms, status=status, error=outcome.excerpt[:200]))
    if not kept:  # the lease ran out and another worker took the delivery over: it decides what follows
        return None
    return delay


def enqueue(delivery_ids: Iterable[str], delay_s: float = 0.0) -> bool:
    """Queue attempts (the rows say when they are due). A broker that is down only delays them: the sweep
    queues again what stays overdue."""
    queue_broker = dramatiq.get_broker()
    try:
        for delivery_id in delivery_ids:
            queue_broker.enqueue(dramatiq.Message(queue_name=WEBHOOK_QUEUE, actor_name=ACTOR_NAME,
                                                  args=(delivery_id,), kwargs={}, options={}),
                                 delay=int(delay_s * 1000) or None)
    except Exception as error:  # redis.ConnectionError and friends: the rows stay due
        log.warning("queueing webhook attempts failed; the sweep will retry", extra=fields(error=str(error)))
        return False
    return True


@dramatiq.actor(actor_name=ACTOR_NAME, queue_name=WEBHOOK_QUEUE, max_retries=0, time_limit=2 * 60 * 1000,
                priority=10)
def deliver_webhook(delivery_id: str) -> None:
    delay = attempt(delivery_id)
    if delay is not None:
        enqueue([delivery_id], delay)


# --- what the API asks for ---


def fire_test(webhook: Webhook) -> str:
    """TestWebhook: record a `webhook.test` event, deliver it to this webhook only, make the first attempt
    now (retries follow the schedule). Returns the delivery's id."""
    now = utcnow()
    with write_transaction():
        event = events.record(TEST_EVENT, webhook.profile_id, {
            "webhookId": webhook.id, "message": "A test event, sent by TestWebhook."})
        delivery = WebhookDelivery.create(
            id=new_id("whd"), webhook_id=webhook.id, event_id=event.id, event=TEST_EVENT,
            profile_id=webhook.profile_id, next_attempt_at=now, queued_at=now)
    delay = attempt(delivery.id)
    if delay is not None:
        enqueue([delivery.id], delay)
    return delivery.id


def redeliver(delivery: WebhookDelivery) -> bool:
    """Send a DELIVERED or FAILED delivery again: a new round of attempts, appended to the old ones.
    False when the delivery is not finished (its attempts are still running)."""
    now = utcnow()
    with write_transaction():
        changed = WebhookDelivery.update(
            status=PENDING, round_attempts=0, next_attempt_at=now, queued_at=now, leased_until=None,
            updated_at=now,
        ).where((WebhookDelivery.id == delivery.id) & WebhookDelivery.status.in_([DELIVERED, FAILED])).execute()
    if changed:
        enqueue([delivery.id])
    return bool(changed)


# --- the dispatcher ---


def wants(webhook: Webhook, event: Event) -> bool:
    """Whether an event goes to a webhook: its profile's (or any, for a global webhook), not older than the
    webhook, and passing its event filters."""
    if webhook.profile_id is not None and webhook.profile_id != event.profile_id:
        return False
    return event.created_at >= webhook.created_at and event_filters.matches(webhook.events, event.name)


class Dispatcher:
    """Follows the event log. `scanned` is the last id this process has looked at; `gaps` the ids below it
    it has not seen yet (with when it first missed them); the stored cursor is just below the oldest gap."""

    def __init__(self) -> None:
        self.scanned: int | None = None
        self.gaps: dict[int, dt.datetime] = {}

    def run_once(self) -> int:
        """One pass; returns how many events it dispatched."""
        with database.connection_context():
            stored = self._stored_cursor()
            if self.scanned is None or stored > self.scanned:  # start, or another process went further
                self.scanned = stored
                self.gaps = {gap: seen for gap, seen in self.gaps.items() if gap > stored}
            now = utcnow()
            columns = (Event.id, Event.name, Event.profile_id, Event.created_at)
            # Ids missed before that have appeared since (their transactions committed late).
            filled: list[Event] = []
            gaps = sorted(self.gaps)
            for start in range(0, len(gaps), BATCH):
                filled.extend(Event.select(*columns).where(Event.id.in_(gaps[start:start + BATCH])))
            for row in filled:
                del self.gaps[row.id]
            for gap in [gap for gap, seen in self.gaps.items() if now - seen > GAP_GRACE]:
                del self.gaps[gap]  # a rolled-back transaction's id: it will never appear
            new = list(Event.select(*columns).where(Event.id > self.scanned).order_by(Event.id).limit(BATCH))
            expected = self.scanned + 1
            for row in new:
                if row.id - expected <= MAX_GAP and len(self.gaps) < MAX_GAPS:
                    self.gaps.update((missing, now) for missing in range(expected, row.id))
                expected = row.id + 1
            scanned = new[-1].id if new else self.scanned
            cursor = min(self.gaps) - 1 if self.gaps else scanned
            dispatched = filled + new
            made = self._dispatch(dispatched, stored, cursor, now) if dispatched or cursor > stored else []
            self.scanned = scanned
        enqueue(made)
        return len(dispatched)

    def _stored_cursor(self) -> int:
        row = WebhookCursor.get_or_none(WebhookCursor.name == CURSOR)
        if row is not None:
            return row.last_event_id
        with write_transaction():
            WebhookCursor.insert(name=CURSOR, last_event_id=0).on_conflict_ignore().execute()
        return WebhookCursor.get(WebhookCursor.name == CURSOR).last_event_id

    def _dispatch(self, rows: list[Event], stored: int, cursor: int, now: dt.datetime) -> list[str]:
        """Make the deliveries of `rows` and move the stored cursor, in one transaction; returns the ids of the
        deliveries this call made (another process may have made some of them already)."""
        fanned = [row for row in rows if row.name != TEST_EVENT]
        planned: list[dict[str, Any]] = []
        if fanned:
            hooks = list(Webhook.select().where(Webhook.active == True))  # noqa: E712  (peewee expression)
            planned = [
                {"id": new_id("whd"), "webhook_id": hook.id, "event_id": row.id, "event": row.name,
                 "profile_id": row.profile_id, "status": PENDING, "attempts": [], "round_attempts": 0,
                 "next_attempt_at": now, "queued_at": now, "created_at": now, "updated_at": now}
                for row in fanned for hook in hooks if wants(hook, row)
            ]
        ids = [item["id"] for item in planned]
        with write_transaction():
            for start in range(0, len(planned), 100):
                WebhookDelivery.insert_many(planned[start:start + 100]).on_conflict_ignore().execute()
            if cursor > stored:
                WebhookCursor.update(last_event_id=cursor, updated_at=now).where(
                    (WebhookCursor.name == CURSOR) & (WebhookCursor.last_event_id < cursor)).execute()
        made: list[str] = []
        for start in range(0, len(ids), BATCH):
            made += [row.id for row in WebhookDelivery.select(WebhookDelivery.id).where(
                WebhookDelivery.id.in_(ids[start:start + BATCH]))]
        return made


def sweep_once() -> int:
    """Queue again the attempts that are overdue: lost queue messages, expired leases."""
    now = utcnow()
    with database.connection_context():
        overdue = [row.id for row in WebhookDelivery.select(WebhookDelivery.id).where(
            WebhookDelivery.status.in_(ACTIVE)
            & (WebhookDelivery.next_attempt_at.is_null() | (WebhookDelivery.next_attempt_at <= now))
            & (WebhookDelivery.queued_at.is_null() | (WebhookDelivery.queued_at < now - OVERDUE))
            & (WebhookDelivery.leased_until.is_null() | (WebhookDelivery.leased_until < now))
        ).limit(BATCH)]
        if not overdue:
            return 0
        with write_transaction():  # first, so other processes' sweeps leave them alone for a while
            WebhookDelivery.update(queued_at=now).where(WebhookDelivery.id.in_(overdue)).execute()
    enqueue(overdue)
    return len(overdue)


def remove_orphans() -> int:
    """Deliveries of webhooks deleted with their profile (webhook deletion itself removes them)."""
    with database.connection_context(), write_transaction():
        return WebhookDelivery.delete().where(
            WebhookDelivery.webhook_id.not_in(Webhook.select(Webhook.id))).execute()


def _wake_on_new_events() -> event_bus.Waiter | None:
    """A waiter the event bus wakes when the log grows (server/event_bus.py); None when the bus cannot be
    used, and then the dispatcher polls."""
    try:
        waiter = event_bus.Waiter()
        event_bus.tail().add(waiter)
        return waiter
    except Exception:
        log.warning("webhook dispatch: no event bus; polling the event log", exc_info=True)
        return None


def run(stopping: threading.Event) -> None:
    """The dispatcher's thread: follow the event log, and sweep every few seconds, until `stopping`."""
    dispatcher = Dispatcher()
    waiter = _wake_on_new_events()
    next_sweep = time.monotonic() + SWEEP_EVERY_S
    next_orphans = time.monotonic() + ORPHANS_EVERY_S
    while not stopping.is_set():
        busy = False
        try:
            if waiter is not None:
                waiter.clear()  # before reading the log, so a wake during the pass is not missed
            busy = dispatcher.run_once() >= BATCH
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_S
                if count := sweep_once():
                    log.info("requeued overdue webhook attempts", extra=fields(count=count))
            if time.monotonic() >= next_orphans:
                next_orphans = time.monotonic() + ORPHANS_EVERY_S
                remove_orphans()
        except Exception:
            log.exception("webhook dispatch failed")
            stopping.wait(1.0)
        if busy:
            continue
        if waiter is not None:
            waiter.wait(BACKSTOP_S)
        else:
            stopping.wait(POLL_S)

"""Attempts to deliver webhooks (DESIGN.md §7): POST the signed event, append the attempt to the delivery row,
and either end the delivery (DELIVERED, or FAILED: a 4xx other than 408/429, a refused address, or the last
attempt) or set when the next attempt is due. Deliveries are durable jobs (server/core/jobs.py) done in batches
per webhook: a worker's lane for the webhook (worker/actors.py) runs `attempt_batch`, which claims several due
deliveries of the webhook in one UPDATE, POSTs them one after the other over kept-alive connections, and records
them all, releasing their leases, in one transaction. TestWebhook makes the first attempt of a test event itself
(`attempt`), to answer with it. Retries follow BACKOFF_S, jittered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import logging
import random
import select
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Sequence
from functools import cache
from importlib import metadata

import httpx
import peewee

from server.core import jobs, urls, webhook_signing
from server.core.config import Settings
from server.core.db import Prepared, database, is_sqlite, utcnow, write_transaction
from server.core.logs import fields
from server.core.models import Event, Webhook, WebhookDelivery
from server.core.webhook_deliveries import ACTIVE, DELIVERED, FAILED, KIND, RETRYING

log = logging.getLogger("wagw.webhooks")

# The waits after the 1st, 2nd, … failed attempt (about 15.7 h in all), times WAGW_WEBHOOK_BACKOFF_SCALE, ±20%.
BACKOFF_S = (10, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
MAX_ATTEMPTS = 1 + len(BACKOFF_S)
JITTER = 0.2
TIMEOUT_S = 10.0
EXCERPT_BYTES = 2048
EXCERPT_CHARS = 500
# A delivery keeps its last attempts only (redeliveries append to them).
KEPT_ATTEMPTS = 50
# A batch takes at most MAX_BATCH due deliveries of its webhook, and fewer when the receiver is slow: about
# BATCH_BUDGET_S of POSTs at its recent pace, since the batch's last delivery waits for all the others, and a
# receiver seen for the first time gets one. One claim, one read and one record for the whole batch instead of
# three write transactions per attempt is what makes a fast receiver's deliveries cheap; the webhook's other
# batches run beside it (its lane's cap, worker/actors.py).
MAX_BATCH = 50
BATCH_BUDGET_S = 0.05


@cache
def guard(settings: Settings) -> urls.Guard:
    """The URL guard of these settings, made once (Settings are frozen, so they key the cache)."""
    return urls.Guard.from_settings(settings)


@cache
def user_agent() -> str:
    try:
        return f"wa-gateway/{metadata.version('wa-gateway')}"
    except metadata.PackageNotFoundError:
        return "wa-gateway"


def backoff_s(failed_attempts: int, scale: float = 1.0, rand: float | None = None) -> float:
    """The wait after the `failed_attempts`-th failed attempt of a round (1-based), jittered by ±20%."""
    base = BACKOFF_S[min(max(failed_attempts, 1), len(BACKOFF_S)) - 1]
    return base * scale * (1 + JITTER * (2 * (random.random() if rand is None else rand) - 1))


def retryable(status: int) -> bool:
    """Unreachable (0), 3xx, 5xx, 408 and 429 are tried again; any other 4xx is the receiver's last word."""
    return not 400 <= status < 500 or status in (408, 429)


@dataclasses.dataclass
class Outcome:
    status: int  # the receiver's HTTP status; 0 when it was not reached
    excerpt: str
    final: bool = False  # no point trying again (a refused address)


Origin = tuple[str, str, int, urls.Guard]  # scheme, host, port, and the guard its connections go through


def _guarded_socket(guard: urls.Guard, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to one of the addresses the guard checked for `host` (server/core/urls.py), tried in
    order: the address connected to is the one checked, never a second lookup's answer."""
    try:
        addresses = guard.addresses(host, port)
    except (OSError, UnicodeError) as error:
        raise ConnectionError(f"cannot resolve '{host}': {error}") from error
    failure: OSError | None = None
    for address in addresses:
        try:
            connection = socket.create_connection((address, port), timeout)
        except OSError as error:
            failure = error
            continue
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection
    raise failure or ConnectionError(f"'{host}' has no address")


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, origin: Origin) -> None:
        super().__init__(origin[1], origin[2], timeout=TIMEOUT_S)
        self.guard = origin[3]

    def connect(self) -> None:
        self.sock = _guarded_socket(self.guard, self.host, self.port, TIMEOUT_S)


class _GuardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, origin: Origin) -> None:
        super().__init__(origin[1], origin[2], timeout=TIMEOUT_S, context=_tls())
        self.guard = origin[3]

    def connect(self) -> None:
        # The TLS name (SNI and the certificate's check) is the URL's host, not the address.
        self.sock = self._context.wrap_socket(_guarded_socket(self.guard, self.host, self.port, TIMEOUT_S),
                                              server_hostname=self.host)


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)  # the CA bundle the rest of the gateway's clients trust


class _Connections:
    """Kept-alive connections to receivers, per origin: a POST takes an idle one (or opens one through the URL
    guard) and gives it back once the answer was read to its end. Plain http.client rather than httpx: httpx
    spent about 720 µs of CPU on a POST to a local receiver where this spends 165 µs, and at a thousand
    deliveries a second that was most of a worker's core. No redirect is followed: one could point anywhere,
    and a receiver's answer is its status."""

    IDLE_PER_ORIGIN = 8

    def __init__(self) -> None:
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def take(self, origin: Origin) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if connection.sock is not None and not _readable(connection.sock):
                    return connection
                connection.close()  # the receiver closed it while it was idle (or sent what it should not have)
        return _GuardedHTTPS(origin) if origin[0] == "https" else _GuardedHTTP(origin)

    def give(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.IDLE_PER_ORIGIN:
                idle.append(connection)
                return
        connection.close()


def _readable(connection: socket.socket) -> bool:
    poller = select.poll()
    poller.register(connection, select.POLLIN)
    return bool(poller.poll(0))


_connections = _Connections()


def _origin(url: str, guard: urls.Guard) -> tuple[Origin, str]:
    """The origin of an http(s) URL and the target to ask it for; ValueError for any other."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{url[:100]}' is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname.encode("idna").decode("ascii")
    return (parts.scheme, host, port, guard), (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def post(url: str, payload: bytes, headers: dict[str, str], guard: urls.Guard) -> Outcome:
    """One POST, within TIMEOUT_S a step (connecting, sending, each read), answering the status and the first bytes
    of the response (or the error). A target the guard refuses is a final outcome: trying again would only be
    refused again."""
    try:
        origin, target = _origin(url, guard)
    except ValueError as error:
        return Outcome(0, f"InvalidURL: {error}"[:EXCERPT_CHARS])
    connection = _connections.take(origin)
    try:
        connection.request("POST", target, body=payload, headers=headers)
        response = connection.getresponse()
        received = response.read(EXCERPT_BYTES)
    except urls.Refused as refused:
        connection.close()
        return Outcome(0, f"refused: {refused}"[:EXCERPT_CHARS], final=True)
    except TimeoutError:
        connection.close()
        return Outcome(0, f"timed out after {TIMEOUT_S:g} s")
    except (OSError, ValueError, http.client.HTTPException) as error:
        connection.close()
        return Outcome(0, f"{type(error).__name__}: {error}"[:EXCERPT_CHARS])
    if response.isclosed() and not response.will_close:  # read to its end: the connection can carry the next
        _connections.give(origin, connection)
    else:
        connection.close()
    return Outcome(response.status, received.decode("utf-8", "replace")[:EXCERPT_CHARS])


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


class _Pace:
    """Each webhook's recent time per POST (an exponential average): how many attempts fit in a batch."""

    WEIGHT = 0.3  # of the newest POST

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def batch_size(self, webhook_id: str) -> int:
        with self._lock:
            seconds = self._seconds.get(webhook_id)
        if seconds is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_BUDGET_S / max(seconds, 1e-4))))

    def note(self, webhook_id: str, seconds: float) -> None:
        with self._lock:
            before = self._seconds.get(webhook_id, seconds)
            self._seconds[webhook_id] = before + self.WEIGHT * (seconds - before)


_pace = _Pace()


def _due_of(webhook_id: str, now: str, until: str, owner: str, limit: str) -> peewee.Query:
    """Lease up to `limit` of the webhook's due deliveries that no one holds, the oldest events first; the
    conditions are checked again on the rows themselves, so that on PostgreSQL a row another process claimed
    meanwhile is skipped, not taken twice."""
    claimable = (WebhookDelivery.status.in_(ACTIVE) & (WebhookDelivery.next_attempt_at <= now)
                 & jobs.free(KIND, now))
    oldest = (WebhookDelivery.select(WebhookDelivery.id)
              .where((WebhookDelivery.webhook_id == webhook_id) & claimable)
              .order_by(WebhookDelivery.event_id).limit(limit))
    return (WebhookDelivery.update(leased_until=until, lease_owner=owner)
            .where(WebhookDelivery.id.in_(oldest) & claimable)
            .returning(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.attempts,
                       WebhookDelivery.round_attempts))


_CLAIM = Prepared(_due_of)
# PostgreSQL's advisory locks of two int4 keys are a space apart from those of one bigint (the event log's,
# server/core/event_horizon.py): the first key says what the lock is for, the second which webhook.
_CLAIM_LOCK = 0x7768


def _lock_key(webhook_id: str) -> int:
    return zlib.crc32(webhook_id.encode()) - 2**31
_WEBHOOK = Prepared(lambda webhook_id: Webhook.select().where(Webhook.id == webhook_id))
# The attempt recorded and the lease released in one statement: `attempts` is JSON text, encoded by the caller.
_RECORD = Prepared(lambda status, attempts, round_attempts, next_at, queued, now, delivery_id, owner:
                   WebhookDelivery.update(
                       status=status, attempts=peewee.AsIs(attempts, False), round_attempts=round_attempts,
                       next_attempt_at=next_at, queued_at=queued, updated_at=now, leased_until=None,
                       lease_owner=None,
                   ).where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.lease_owner == owner)))


@dataclasses.dataclass
class _Claimed:
    """A delivery this process holds the lease of, as far as its attempt needs it."""

    lease: jobs.Lease
    event_id: int
    attempts: list[dict[str, object]]
    round_attempts: int

    @property
    def id(self) -> str:
        return self.lease.key


def attempt_batch(webhook_id: str, settings: Settings) -> int:
    """One batch of the webhook's due attempts (its lane in a worker runs it). Returns how many it made."""
    now = utcnow()
    with database.connection_context():  # one connection for the batch; no transaction is open during the POSTs
        with write_transaction():
            if not is_sqlite():
                # Claims of one webhook one after the other (SQLite's writers are anyway): two that met on the same
                # rows locked them in different orders and deadlocked.
                database.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (_CLAIM_LOCK, _lock_key(webhook_id)))
            rows = _CLAIM.execute(webhook_id, now, now + dt.timedelta(seconds=settings.job_lease_s), jobs.OWNER,
                                  _pace.batch_size(webhook_id)).fetchall()
        claimed = []
        for delivery_id, event_id, attempts, round_attempts in sorted(rows, key=lambda row: row[1]):
            lease = jobs.Lease(KIND, delivery_id, settings.job_lease_s)
            jobs.keeper().hold(lease)
            claimed.append(_Claimed(lease, event_id, WebhookDelivery.attempts.python_value(attempts),
                                    round_attempts))
        try:
            if claimed:
                _attempt(webhook_id, claimed, settings)
        except Exception:
            for item in claimed:  # their leases lapse, and the sweep gives the rows to another
                jobs.keeper().drop(item.lease)
            raise
    return len(claimed)


def attempt(delivery_id: str, settings: Settings) -> bool:
    """Make the delivery's due attempt now, outside the workers (TestWebhook), and queue what follows for them.
    False when a worker holds the delivery."""
    with database.connection_context():
        lease = jobs.claim(KIND, delivery_id, utcnow(), settings.job_lease_s)
        if lease is None:
            return False
        delivery = WebhookDelivery.get_by_id(delivery_id)
        _attempt(delivery.webhook_id, [_Claimed(lease, delivery.event_id, delivery.attempts,
                                                delivery.round_attempts)], settings)
    return True


def _attempt(webhook_id: str, claimed: Sequence[_Claimed], settings: Settings) -> None:
    """POST each claimed delivery of the webhook, then record them all (the caller holds their leases)."""
    webhook = _WEBHOOK.first(webhook_id)
    if webhook is None:  # deleted since: its deliveries go with it
        with write_transaction():
            WebhookDelivery.delete().where(WebhookDelivery.id.in_([item.id for item in claimed])).execute()
        for item in claimed:
            jobs.keeper().drop(item.lease)
        return
    logged = {row.id: row for row in Event.select().where(Event.id.in_([item.event_id for item in claimed]))}
    made = []
    for item in claimed:
        started_at, started = utcnow(), time.monotonic()
        event = logged.get(item.event_id)
        if event is None:
            outcome = Outcome(0, "the event is no longer in the event log", final=True)
        else:
            payload, headers = request_of(webhook, event)
            outcome = post(webhook.url, payload, headers, guard(settings))
            _pace.note(webhook_id, time.monotonic() - started)
        made.append((item, outcome, started_at, int((time.monotonic() - started) * 1000)))
    _record(webhook_id, made, settings.webhook_backoff_scale)


# A record that PostgreSQL chose as a deadlock's victim is run again this many times in all (see _record).
RECORD_TRIES = 3


def _record(webhook_id: str, made: list[tuple[_Claimed, Outcome, dt.datetime, int]], scale: float) -> None:
    """Append each attempt to its delivery and release it, due again or done, in one transaction; then queue
    the wake-ups of the retries. A delivery whose lease lapsed and went to another worker is left to that one."""
    now = utcnow()
    changes = []  # (the delivery, its new status, when it is due again, its attempts as stored)
    for item, outcome, started_at, latency_ms in made:
        entry = {"time": started_at.isoformat() + "Z", "httpStatus": outcome.status, "latencyMs": latency_ms,
                 "responseExcerpt": outcome.excerpt}
        delay = None
        if 200 <= outcome.status < 300:
            status = DELIVERED
        elif outcome.final or not retryable(outcome.status) or item.round_attempts + 1 >= MAX_ATTEMPTS:
            status = FAILED
        else:
            status, delay = RETRYING, backoff_s(item.round_attempts + 1, scale)
        changes.append((item, status, now + dt.timedelta(seconds=delay) if delay is not None else None,
                        WebhookDelivery.attempts.db_value([*item.attempts, entry][-KEPT_ATTEMPTS:])))
    # The keeper stops renewing them first (the leases have two thirds of their length left at least): on
    # PostgreSQL its UPDATE and this transaction, locking the same rows in other orders, deadlocked. One renewal
    # already under way can still meet it: the victim is run again.
    for item, *_ in made:
        jobs.keeper().drop(item.lease)
    for tries_left in range(RECORD_TRIES - 1, -1, -1):
        try:
            kept = _record_changes(changes, now)
            break
        except peewee.OperationalError as error:
            if tries_left == 0 or "deadlock detected" not in str(error):
                raise
    for (item, status, next_at, _), (_, outcome, _, latency_ms), was_kept in zip(changes, made, kept, strict=True):
        log.log(logging.DEBUG if status == DELIVERED else logging.WARNING, "webhook attempt", extra=fields(
            delivery_id=item.id, webhook_id=webhook_id, event_id=item.event_id, http_status=outcome.status,
            latency_ms=latency_ms, status=status if was_kept else "LEASE_LOST", error=outcome.excerpt[:200]))
        if was_kept and next_at is not None:
            jobs.enqueue(KIND, [item.id], next_at, now)


def _record_changes(changes: list[tuple[_Claimed, str, dt.datetime | None, str]], now: dt.datetime) -> list[bool]:
    """One transaction for the batch; answers, for each delivery, whether it was still this process's."""
    with write_transaction():
        return [bool(_RECORD.execute(status, attempts, item.round_attempts + 1, next_at,
                                     jobs.wake_time(next_at, now) if next_at is not None else None, now, item.id,
                                     jobs.OWNER).rowcount)
                for item, status, next_at, attempts in changes]

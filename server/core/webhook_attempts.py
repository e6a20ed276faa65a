"""One attempt to deliver a webhook (DESIGN.md §7): POST the signed event, append the attempt to the delivery row,
and either end the delivery (DELIVERED, or FAILED: a 4xx other than 408/429, a refused address, or the last
attempt) or set when the next attempt is due. Deliveries are durable jobs (server/core/jobs.py): the workers'
actor (worker/actors.py) runs `step` under the row's lease, and TestWebhook makes the first attempt of a test
event itself (`attempt`), to answer with it. Retries follow BACKOFF_S, jittered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from functools import cache
from importlib import metadata

import httpx
from peewee import JOIN

from server.core import jobs, urls, webhook_signing
from server.core.config import Settings
from server.core.db import database, utcnow, write_transaction
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


@cache
def _client(guard: urls.Guard) -> httpx.Client:
    # Every connection through the URL guard (server/core/urls.py): the address connected to is the one checked.
    # No redirects: a redirect could point anywhere, and a receiver's answer is its status.
    return guard.client(timeout=TIMEOUT_S, max_connections=200)


def post(url: str, payload: bytes, headers: dict[str, str], guard: urls.Guard) -> Outcome:
    """One POST, within TIMEOUT_S, answering the status and the first bytes of the response (or the error).
    A target the guard refuses is a final outcome: trying again would only be refused again."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        with _client(guard).stream("POST", url, content=payload, headers=headers) as response:
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= EXCERPT_BYTES or time.monotonic() > deadline:
                    break
            return Outcome(response.status_code,
                           received[:EXCERPT_BYTES].decode("utf-8", "replace")[:EXCERPT_CHARS])
    except urls.Refused as refused:
        return Outcome(0, f"refused: {refused}"[:EXCERPT_CHARS], final=True)
    except httpx.TimeoutException:
        return Outcome(0, f"timed out after {TIMEOUT_S:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as error:
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


def attempt(delivery_id: str, settings: Settings) -> bool:
    """Make the delivery's due attempt now, outside the workers (TestWebhook), and queue what follows for them.
    False when a worker holds the delivery."""
    return jobs.run_once(KIND, delivery_id, lambda key, lease, now: step(key, lease, now, settings),
                         settings.job_lease_s)


def step(delivery_id: str, lease: jobs.Lease, now: dt.datetime, settings: Settings) -> dt.datetime | None:
    """The delivery's attempt, if it is due (the caller holds its lease). Returns when the next attempt is due, or
    None when the delivery is over."""
    # One connection for the whole attempt (no transaction is open during the POST).
    with database.connection_context():
        # The delivery, its webhook and its event in one query (either may be gone: outer joins).
        delivery = (WebhookDelivery.select(WebhookDelivery, Webhook, Event)
                    .join(Webhook, JOIN.LEFT_OUTER, on=(Webhook.id == WebhookDelivery.webhook_id), attr="hook")
                    .switch(WebhookDelivery)
                    .join(Event, JOIN.LEFT_OUTER, on=(Event.id == WebhookDelivery.event_id), attr="logged")
                    .where(WebhookDelivery.id == delivery_id).first())
        if delivery is None or delivery.status not in ACTIVE:
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return delivery.next_attempt_at
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
            outcome = post(webhook.url, payload, headers, guard(settings))
        latency_ms = int((time.monotonic() - started) * 1000)
        return _record(delivery, lease, outcome, started_at, latency_ms, settings.webhook_backoff_scale)


def _record(delivery: WebhookDelivery, lease: jobs.Lease, outcome: Outcome, started_at: dt.datetime,
            latency_ms: int, scale: float) -> dt.datetime | None:
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
        jobs.verify(lease)  # a lease that lapsed and went to another worker: that one decides what follows
        WebhookDelivery.update(
            status=status, attempts=[*delivery.attempts, entry][-KEPT_ATTEMPTS:], round_attempts=round_attempts,
            next_attempt_at=next_at, updated_at=now,
        ).where(WebhookDelivery.id == delivery.id).execute()
    log.log(logging.DEBUG if status == DELIVERED else logging.WARNING, "webhook attempt", extra=fields(
        delivery_id=delivery.id, webhook_id=delivery.webhook_id, event_id=delivery.event_id,
        http_status=outcome.status, latency_ms=latency_ms, status=status, error=outcome.excerpt[:200]))
    return next_at

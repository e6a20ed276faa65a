"""Webhook deliveries as rows (DESIGN.md §7): one per (event, matching webhook), made by the dispatcher in the
workers (worker/webhook_dispatch.py) and attempted by the workers (server/core/webhook_attempts.py). The row is the
truth: its status and `next_attempt_at` say what happens next, so a lost queue message only delays an attempt.

Deliveries are durable jobs (server/core/jobs.py, KIND): claimed with a lease, woken through the broker, swept
when a wake-up was lost. This module is what every role may do with them: queue attempts, fire a test event at
one webhook, deliver one again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from server.core import broker, events, jobs
from server.core.db import utcnow, write_transaction
from server.core.ids import new_id
from server.core.models import Webhook, WebhookDelivery

ACTOR_NAME = "deliver_webhook"
# The event TestWebhook records: delivered to the webhook it was fired at only, never fanned out.
TEST_EVENT = "webhook.test"

PENDING, RETRYING, DELIVERED, FAILED = "PENDING", "RETRYING", "DELIVERED", "FAILED"
ACTIVE = (PENDING, RETRYING)


KIND = jobs.Kind(
    name="webhooks", model=WebhookDelivery, key=WebhookDelivery.id, due=WebhookDelivery.next_attempt_at,
    queued=WebhookDelivery.queued_at, leased_until=WebhookDelivery.leased_until,
    lease_owner=WebhookDelivery.lease_owner, queue=broker.WEBHOOK_QUEUE, actor=ACTOR_NAME,
    active=lambda: WebhookDelivery.status.in_(ACTIVE), group=WebhookDelivery.webhook_id,
)


def enqueue(delivery_ids: Iterable[str], delay_s: float = 0.0) -> bool:
    """Queue attempts (the rows say when they are due). A broker that is down only delays them: the sweep
    queues them again as soon as it answers."""
    now = utcnow()
    return jobs.enqueue(KIND, delivery_ids, now + dt.timedelta(seconds=delay_s), now)


def fire_test(webhook: Webhook) -> str:
    """TestWebhook: record a `webhook.test` event and make its delivery to this webhook only; the caller makes
    the first attempt (webhook_attempts.attempt) and queues what follows. Returns the delivery's id."""
    now = utcnow()
    with write_transaction():
        event = events.record(TEST_EVENT, webhook.profile_id, {
            "webhookId": webhook.id, "message": "A test event, sent by TestWebhook."})
        delivery = WebhookDelivery.create(
            id=new_id("whd"), webhook_id=webhook.id, event_id=event.id, event=TEST_EVENT,
            profile_id=webhook.profile_id, next_attempt_at=now, queued_at=now)
    return delivery.id


def redeliver(delivery: WebhookDelivery) -> bool:
    """Send a DELIVERED or FAILED delivery again: a new round of attempts, appended to the old ones.
    False when the delivery is not finished (its attempts are still running)."""
    now = utcnow()
    with write_transaction():
        changed = WebhookDelivery.update(
            status=PENDING, round_attempts=0, next_attempt_at=now, queued_at=now, leased_until=None, lease_owner=None,
            updated_at=now,
        ).where((WebhookDelivery.id == delivery.id) & WebhookDelivery.status.in_([DELIVERED, FAILED])).execute()
    if changed:
        enqueue([delivery.id])
    return bool(changed)

"""Webhook deliveries as rows (DESIGN.md §7): one per (event, matching webhook), made by the dispatcher in the
workers (worker/webhook_dispatch.py) and attempted by the workers (server/core/webhook_attempts.py). The row is the
truth: its status and `next_attempt_at` say what happens next, so a lost queue message only delays an attempt.

This module is what every role may do with them: queue attempts, fire a test event at one webhook, deliver one
again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from server.core import broker, events
from server.core.db import utcnow, write_transaction
from server.core.ids import new_id
from server.core.logs import fields
from server.core.models import Webhook, WebhookDelivery

log = logging.getLogger("wagw.webhooks")

ACTOR_NAME = "deliver_webhook"
# The event TestWebhook records: delivered to the webhook it was fired at only, never fanned out.
TEST_EVENT = "webhook.test"

PENDING, RETRYING, DELIVERED, FAILED = "PENDING", "RETRYING", "DELIVERED", "FAILED"
ACTIVE = (PENDING, RETRYING)


def enqueue(delivery_ids: Iterable[str], delay_s: float = 0.0) -> bool:
    """Queue attempts (the rows say when they are due). A broker that is down only delays them: the sweep
    queues again what stays overdue."""
    try:
        for delivery_id in delivery_ids:
            broker.enqueue(broker.WEBHOOK_QUEUE, ACTOR_NAME, (delivery_id,), int(delay_s * 1000))
    except Exception as error:  # redis.ConnectionError and friends: the rows stay due
        log.warning("queueing webhook attempts failed; the sweep will retry", extra=fields(error=str(error)))
        return False
    return True


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
            status=PENDING, round_attempts=0, next_attempt_at=now, queued_at=now, leased_until=None,
            updated_at=now,
        ).where((WebhookDelivery.id == delivery.id) & WebhookDelivery.status.in_([DELIVERED, FAILED])).execute()
    if changed:
        enqueue([delivery.id])
    return bool(changed)

"""The actors, declared on the broker the entry point configured (server/core/broker.py): import this module
only after `broker.configure`. Retries are not Dramatiq's: work that must wait re-queues itself with a delay,
and the sweeps re-queue what a lost queue forgot, so the database stays the one record of what is scheduled."""

from __future__ import annotations

import dramatiq

from server.core import broker, outbox, webhook_attempts, webhook_deliveries
from worker import delivery

broker.current()  # fails loudly when the broker was not configured before the actors are declared


@dramatiq.actor(queue_name=broker.DELIVERY_QUEUE, max_retries=0, time_limit=5 * 60 * 1000)
def deliver(message_id: str) -> None:
    wait_s = delivery.deliver(message_id)
    if wait_s is not None:
        outbox.enqueue([message_id], wait_s)


@dramatiq.actor(actor_name=webhook_deliveries.ACTOR_NAME, queue_name=broker.WEBHOOK_QUEUE, max_retries=0,
                time_limit=2 * 60 * 1000, priority=10)
def deliver_webhook(delivery_id: str) -> None:
    delay = webhook_attempts.attempt(delivery_id)
    if delay is not None:
        webhook_deliveries.enqueue([delivery_id], delay)

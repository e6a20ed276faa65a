"""The actors. Retries are not Dramatiq's: a delivery that must wait re-queues itself with a delay, and the
sweeper re-queues what a lost queue forgot, so the database stays the one record of what is scheduled."""

from __future__ import annotations

import dramatiq

from server import outbox
from worker import delivery
from worker.broker import DELIVERY_QUEUE  # importing it sets the broker before the actor below is declared


@dramatiq.actor(queue_name=DELIVERY_QUEUE, max_retries=0, time_limit=5 * 60 * 1000)
def deliver(message_id: str) -> None:
    wait_s = delivery.deliver(message_id)
    if wait_s is not None:
        outbox.enqueue([message_id], wait_s)

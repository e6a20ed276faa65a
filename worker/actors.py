"""The actors, declared on the broker the entry point configured (server/core/broker.py) by `declare`, called by
worker/runner.py once `broker.configure` ran. An actor's message is only a wake-up for a durable job (a profile's
deliveries, a webhook delivery's attempts): the runner claims the job's row and runs its step (server/core/jobs.py).
Retries are not Dramatiq's: the rows say what is due, and the sweep re-queues what a lost queue forgot."""

from __future__ import annotations

import datetime as dt

import dramatiq

from server.core import broker, jobs, send_gate, webhook_attempts, webhook_deliveries
from server.core.config import Settings
from server.core.db import Prepared, database, utcnow
from server.core.models import SendGate, WebhookDelivery
from worker import delivery

# Batches of one webhook's attempts running at once in a worker process (its lane, server/core/jobs.py): enough
# for a fast receiver's throughput, and all a slow receiver can hold of the lanes' threads; wake-ups beyond it
# wait in the lane without a thread.
WEBHOOK_IN_FLIGHT = 4

_WEBHOOK_DUE = Prepared(lambda delivery_id: WebhookDelivery.select(
    WebhookDelivery.webhook_id, WebhookDelivery.status, WebhookDelivery.next_attempt_at,
).where(WebhookDelivery.id == delivery_id))


def declare(runner: jobs.Runner, settings: Settings) -> None:
    broker.current()  # fails loudly when the broker was not configured before the actors are declared

    def deliver_step(profile_id: str, lease: jobs.Lease, now: dt.datetime, gate: SendGate | None
                     ) -> dt.datetime | None:
        return delivery.step(profile_id, lease, now, settings, gate=gate)

    @dramatiq.actor(actor_name=send_gate.KIND.actor, queue_name=send_gate.KIND.queue, max_retries=0,
                    time_limit=5 * 60 * 1000)
    def deliver(profile_id: str) -> None:
        runner.wake(send_gate.KIND, profile_id, deliver_step)

    # Webhook attempts go after message sends (a lower priority in the worker's queue).
    @dramatiq.actor(actor_name=webhook_deliveries.KIND.actor, queue_name=webhook_deliveries.KIND.queue,
                    max_retries=0, time_limit=2 * 60 * 1000, priority=10)
    def deliver_webhook(delivery_id: str) -> None:
        wake_webhook(runner, delivery_id, settings)


def wake_webhook(runner: jobs.Runner, delivery_id: str, settings: Settings) -> None:
    """A wake-up for one delivery wakes its webhook's lane, which attempts every due delivery of the webhook in
    batches: the dispatcher queues one wake-up per webhook for all the deliveries it made. A delivery not due yet
    (a retry's wake-up comes early, jobs.EARLY_S) wakes the lane when it is, from the scheduler; no lease is held
    meanwhile, so if this process dies the sweep queues it again."""
    with database.connection_context():
        row = _WEBHOOK_DUE.first(delivery_id)
    if row is None or row.status not in webhook_deliveries.ACTIVE:
        return
    webhook_id = row.webhook_id

    def poke() -> None:
        runner.lanes.poke(webhook_id, WEBHOOK_IN_FLIGHT, lambda: webhook_attempts.attempt_batch(webhook_id, settings))

    if row.next_attempt_at is not None and row.next_attempt_at > utcnow():
        runner.scheduler.at(row.next_attempt_at, (webhook_deliveries.KIND.name, delivery_id), poke)
        return
    poke()

"""The actors, declared on the broker the entry point configured (server/core/broker.py) by `declare`, called by
worker/runner.py once `broker.configure` ran. An actor's message is only a wake-up for a durable job (a profile's
deliveries, a webhook delivery's attempts): the runner claims the job's row and runs its step (server/core/jobs.py).
Retries are not Dramatiq's: the rows say what is due, and the sweep re-queues what a lost queue forgot."""

from __future__ import annotations

import datetime as dt

import dramatiq

from server.core import broker, jobs, send_gate, webhook_attempts, webhook_deliveries
from server.core.config import Settings
from worker import delivery


def declare(runner: jobs.Runner, settings: Settings) -> None:
    broker.current()  # fails loudly when the broker was not configured before the actors are declared

    def deliver_step(profile_id: str, lease: jobs.Lease, now: dt.datetime) -> dt.datetime | None:
        return delivery.step(profile_id, lease, now, settings)

    def attempt_step(delivery_id: str, lease: jobs.Lease, now: dt.datetime) -> dt.datetime | None:
        return webhook_attempts.step(delivery_id, lease, now, settings)

    @dramatiq.actor(actor_name=send_gate.KIND.actor, queue_name=send_gate.KIND.queue, max_retries=0,
                    time_limit=5 * 60 * 1000)
    def deliver(profile_id: str) -> None:
        runner.wake(send_gate.KIND, profile_id, deliver_step)

    # Webhook attempts go after message sends (a lower priority in the worker's queue).
    @dramatiq.actor(actor_name=webhook_deliveries.KIND.actor, queue_name=webhook_deliveries.KIND.queue,
                    max_retries=0, time_limit=2 * 60 * 1000, priority=10)
    def deliver_webhook(delivery_id: str) -> None:
        runner.wake(webhook_deliveries.KIND, delivery_id, attempt_step)

"""Workers inside a process: Dramatiq's consumer threads and the sweeper, started and stopped together.
`python -m worker` runs them on Redis; the API server runs them itself when the broker is in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq

import worker.actors  # noqa: F401  (declares the actors on the broker)
from server.config import Settings
from worker import sweeper
from worker import webhooks as webhook_dispatch  # declares its actor too


@contextmanager
def running(settings: Settings) -> Iterator[None]:
    consumer = dramatiq.Worker(dramatiq.get_broker(), worker_threads=settings.worker_threads, worker_timeout=100)
    consumer.start()
    stopping = threading.Event()
    sweep = threading.Thread(target=sweeper.run, args=(stopping,), name="sweeper", daemon=True)
    sweep.start()
    threading.Thread(target=webhook_dispatch.run, args=(stopping,), name="webhook-dispatcher", daemon=True).start()
    try:
        yield
    finally:
        stopping.set()
        consumer.stop(timeout=10_000)

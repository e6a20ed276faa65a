"""Workers inside a process: Dramatiq's consumer threads, the job runner (server/core/jobs.py: leases and the
scheduler of steps due soon), the sweeper and the webhook dispatcher, started and stopped together.
`python -m worker` runs them on Redis; with the in-process broker the API server's process runs them itself
(server/launch.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq

from server.core import broker, jobs
from server.core.config import Settings
from worker import actors, sweeper, webhook_dispatch

# How long an idle Dramatiq thread waits for work before it looks whether it should stop: a message wakes it at
# once. Its threads (WAGW_WORKER_THREADS) each woke ten times a second at 100 ms, a third of an idle worker's CPU.
# A busy Redis consumer polls more often than this (server/core/broker.py, BUSY_POLL_MS).
WORKER_TIMEOUT_MS = 1000


def connections(settings: Settings) -> int:
    """PostgreSQL connections the workers of a process may hold at once: a delivery step keeps one through its
    engine call, on every scheduler thread, while every Dramatiq thread claims a job; then the webhook lanes, and
    the sweeper, the dispatcher and the lease keeper."""
    return 2 * settings.worker_threads + jobs.Runner.lane_threads + 3


@contextmanager
def running(settings: Settings) -> Iterator[None]:
    """Consume the configured broker's queues until the `with` ends (`broker.configure` must come first)."""
    runner = jobs.Runner(lease_s=settings.job_lease_s, threads=settings.worker_threads)
    actors.declare(runner, settings)
    runner.start()
    consumer = dramatiq.Worker(broker.current(), worker_threads=settings.worker_threads,
                               worker_timeout=WORKER_TIMEOUT_MS)
    consumer.start()
    stopping = threading.Event()
    threading.Thread(target=sweeper.run, args=(stopping, settings), name="sweeper", daemon=True).start()
    threading.Thread(target=webhook_dispatch.run, args=(stopping,), name="webhook-dispatcher", daemon=True).start()
    try:
        yield
    finally:
        stopping.set()
        consumer.stop(timeout=10_000)
        runner.stop()

"""The Dramatiq broker: chosen once, explicitly, by each process's entry point (`configure`), before any actor is
declared (Dramatiq would otherwise pick a default broker of its own at the first declaration).

Redis when WAGW_BROKER is "redis", or "auto" and Redis answers at start; otherwise an in-process StubBroker whose
messages the same process consumes ("embedded": the API server's process then runs the workers too). The event
bus (server/core/event_bus.py) makes the same choice through `uses_redis`, so every process of a gateway agrees.

The queues are named here, so a process may enqueue by actor name without importing the actors.
"""

from __future__ import annotations

import threading

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from server.core.config import Settings

DELIVERY_QUEUE = "deliveries"
WEBHOOK_QUEUE = "webhooks"
QUEUES = (DELIVERY_QUEUE, WEBHOOK_QUEUE)

_lock = threading.Lock()
_configured: tuple[dramatiq.Broker, bool] | None = None


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def uses_redis(settings: Settings) -> bool:
    """Whether this gateway's processes talk through Redis (broker and event bus) or in-process."""
    if settings.broker == "redis":
        return True
    if settings.broker == "auto":
        return redis_answers(settings.redis_url)
    return False


def configure(settings: Settings) -> bool:
    """Set the process's broker (once; later calls return the first answer). Returns whether it is embedded
    (in-process), in which case this process must also run the workers."""
    global _configured
    with _lock:
        if _configured is None:
            if uses_redis(settings):
                chosen: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace)
                embedded = False
            else:
                chosen, embedded = StubBroker(), True
            dramatiq.set_broker(chosen)
            for queue in QUEUES:
                chosen.declare_queue(queue)
            _configured = chosen, embedded
        return _configured[1]


def current() -> dramatiq.Broker:
    """The configured broker; a process that never called `configure` has a bug, not a default."""
    if _configured is None:
        raise RuntimeError("server.core.broker.configure(settings) was not called by this process's entry point")
    return _configured[0]


def enqueue(queue: str, actor_name: str, args: tuple[object, ...], delay_ms: int | None = None) -> None:
    """Queue one call of an actor by name. Raises what the broker raises (Redis down): callers keep the database
    as the record of what is due, so a failed enqueue only delays the work (the sweeps queue it again)."""
    current().enqueue(dramatiq.Message(queue_name=queue, actor_name=actor_name, args=args, kwargs={}, options={}),
                      delay=delay_ms or None)

"""The Dramatiq broker, chosen once per process at import, before any actor is declared (Dramatiq would
otherwise pick a default broker of its own): Redis when WAGW_BROKER is "redis", or "auto" and Redis answers;
an in-process StubBroker otherwise, whose messages the same process consumes (EMBEDDED)."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from server.config import load


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _choose() -> tuple[dramatiq.Broker, bool]:
    settings = load()
    if settings.broker == "redis" or (settings.broker == "auto" and redis_answers(settings.redis_url)):
        return RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace), False
    return StubBroker(), True


# The queue deliveries go through (declared here, so a process may enqueue without importing the actors).
DELIVERY_QUEUE = "deliveries"

broker, EMBEDDED = _choose()
dramatiq.set_broker(broker)
broker.declare_queue(DELIVERY_QUEUE)

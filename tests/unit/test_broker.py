"""The Redis broker's idle consumers wait for a wake-up instead of polling (server/core/broker.py), against an
in-memory stand-in for Redis's scripts and pub/sub."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest

from server.core import broker


class FakeRedis:
    """Dramatiq's dispatch script for enqueue and fetch, and PUBLISH / SUBSCRIBE, in memory."""

    def __init__(self) -> None:
        self.queues: dict[str, list[bytes]] = {}
        self.published: list[tuple[str, str]] = []
        self.fetches = 0
        self.subscribers: list[queue.Queue] = []

    def register_script(self, _script: str) -> Any:
        return self._dispatch

    def _dispatch(self, *, args: list[Any] | None = None, keys: list[str] | None = None) -> Any:
        if args is None:  # the "maxstack" script: Lua's stack size
            return 8000
        command, queue = args[0], args[2]
        extra = args[8:]
        if command == "enqueue":
            self.queues.setdefault(queue, []).append(extra[1])
            return None
        if command == "fetch":
            self.fetches += 1
            taken, self.queues[queue] = self.queues.get(queue, [])[:extra[0]], self.queues.get(queue, [])[extra[0]:]
            return taken
        return None

    def publish(self, channel: str, data: str) -> int:
        self.published.append((channel, data))
        for subscriber in self.subscribers:
            subscriber.put({"channel": channel, "data": data.encode()})
        return len(self.subscribers)

    def pubsub(self, **_options: Any) -> FakePubSub:
        return FakePubSub(self)


class FakePubSub:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.inbox: queue.Queue = queue.Queue()

    def subscribe(self, _channel: str) -> None:
        self.redis.subscribers.append(self.inbox)

    def listen(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.inbox.get()


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> tuple[broker.WokenRedisBroker, FakeRedis]:
    monkeypatch.setattr(broker, "IDLE_WAIT_S", 30.0)
    fake = FakeRedis()
    redis_broker = broker.WokenRedisBroker(url="", namespace="test", client=fake)  # type: ignore[arg-type]
    redis_broker.declare_queue("deliveries")
    return redis_broker, fake


def subscribed(consumer: broker.WokenConsumer) -> broker.WokenConsumer:
    """The consumer once its process's subscriber listens (and woke it, for what came before)."""
    assert consumer.woken.wait(10)
    return consumer


def message(queue: str = "deliveries") -> dramatiq.Message:
    return dramatiq.Message(queue_name=queue, actor_name="deliver", args=("p1",), kwargs={}, options={})


def test_an_enqueue_publishes_the_name_of_the_queue_it_went_to(woken):
    redis_broker, fake = woken
    fake.subscribers.append(queue.Queue())  # someone listens
    redis_broker.enqueue(message())
    redis_broker.enqueue(message(), delay=5000)
    assert fake.published == [("test:wake", "deliveries"), ("test:wake", "deliveries.DQ")]


def test_an_idle_consumer_waits_for_a_wake_up_instead_of_polling(woken):
    redis_broker, fake = woken
    consumer = subscribed(redis_broker.consume("deliveries", prefetch=2, timeout=100))
    answers: list[Any] = []
    waiting = threading.Thread(target=lambda: answers.append(next(consumer)), daemon=True)
    waiting.start()
    time.sleep(0.3)  # Dramatiq's own consumer would have fetched again and again by now (every <= 100 ms)
    assert waiting.is_alive() and fake.fetches == 1

    redis_broker.enqueue(message())  # its PUBLISH reaches the subscriber, which wakes the consumer
    waiting.join(timeout=10)
    assert not waiting.is_alive() and answers == [None]
    assert next(consumer).args == ("p1",)  # the next look finds the message
    assert fake.fetches == 2


def test_a_consumer_wakes_only_for_its_own_queue(woken):
    redis_broker, _ = woken
    redis_broker.declare_queue("webhooks")
    consumer = subscribed(redis_broker.consume("deliveries", prefetch=1, timeout=100))
    waiting = threading.Thread(target=lambda: next(consumer), daemon=True)
    waiting.start()
    redis_broker.enqueue(message("webhooks"))
    time.sleep(0.3)
    assert waiting.is_alive()
    redis_broker.enqueue(message("deliveries"))
    waiting.join(timeout=10)
    assert not waiting.is_alive()


def test_a_busy_consumer_looks_again_within_the_busy_poll_whatever_the_workers_timeout(woken):
    """With its prefetch all taken, a consumer polls Dramatiq's way, backing off to at most BUSY_POLL_MS between
    looks (a thread may have finished a message meanwhile), though the worker's idle threads wait a second."""
    redis_broker, _ = woken
    consumer = subscribed(redis_broker.consume("deliveries", prefetch=1, timeout=1000))
    redis_broker.enqueue(message())
    assert next(consumer).args == ("p1",)  # taken: the one slot is busy
    consumer.misses = 20  # long since anything came: the backoff is at its longest
    started = time.monotonic()
    assert next(consumer) is None
    assert time.monotonic() - started < broker.BUSY_POLL_MS / 1000 + 0.05  # Dramatiq's own: 0.5-1 s here

"""The Dramatiq broker: chosen once, explicitly, by each process's entry point (`configure`), before any actor is
declared (Dramatiq would otherwise pick a default broker of its own at the first declaration).

Redis when WAGW_BROKER is "redis", or "auto" and Redis answers at start; otherwise an in-process StubBroker whose
messages the same process consumes ("embedded": the API server's process then runs the workers too). The event
bus (server/core/event_bus.py) makes the same choice through `uses_redis`, so every process of a gateway agrees.

The queues are named here, so a process may enqueue by actor name without importing the actors.

Dramatiq's own Redis consumers poll their queue every `worker_timeout` while it is empty: four queues (the two
and their delay queues) at 100 ms were most of an idle worker's CPU (bench/idle.py). `WokenRedisBroker`'s idle
consumers wait instead until a message is enqueued: every enqueue, by any process, publishes the queue's name on
`<namespace>:wake`, and each consuming process's one subscriber thread wakes that queue's consumer. Without the
message (Redis pub/sub is not durable) a consumer looks again after IDLE_WAIT_S anyway, so a lost wake-up only
delays; a busy consumer (prefetch all taken) still polls, as Dramatiq's does, at most BUSY_POLL_MS apart.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed

from server.core.config import Settings

DELIVERY_QUEUE = "deliveries"
WEBHOOK_QUEUE = "webhooks"
QUEUES = (DELIVERY_QUEUE, WEBHOOK_QUEUE)

# How long an idle consumer waits for a wake-up before it looks at its queue anyway. Delayed messages can be this
# late (the consumer's loop moves them to their queue): server/core/jobs.py asks for them EARLY_S before they are due.
IDLE_WAIT_S = 1.0
# The longest a busy consumer (its prefetch all taken) waits before it looks for a free slot again.
BUSY_POLL_MS = 100

log = logging.getLogger("wagw.broker")

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
                chosen: dramatiq.Broker = WokenRedisBroker(url=settings.redis_url,
                                                           namespace=settings.redis_namespace)
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


class WokenRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, whose idle consumers wait for a wake-up rather than poll (see the module's
    docstring)."""

    def __init__(self, *, url: str, namespace: str, client: redis.Redis | None = None) -> None:
        super().__init__(url=url, namespace=namespace, client=client)
        self.wake_channel = f"{namespace}:wake"
        self._wakers: dict[str, threading.Event] = {}
        self._wakers_lock = threading.Lock()
        self._subscriber: threading.Thread | None = None

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return WokenConsumer

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        enqueued = super().enqueue(message, delay=delay)
        try:
            self.client.publish(self.wake_channel, enqueued.queue_name)
        except redis.RedisError:  # the message is queued: its consumer finds it within IDLE_WAIT_S
            log.debug("wake-up not published", exc_info=True)
        return enqueued

    def waker(self, queue_name: str) -> threading.Event:
        """The event that wakes this process's consumer of `queue_name` (the subscriber starts with the first)."""
        with self._wakers_lock:
            if self._subscriber is None:
                self._subscriber = threading.Thread(target=self._subscribe, name="broker-wake", daemon=True)
                self._subscriber.start()
            return self._wakers.setdefault(queue_name, threading.Event())

    def wake(self, queue_name: str | None = None) -> None:
        """Wake the consumer of `queue_name` (every consumer: None)."""
        with self._wakers_lock:
            events = list(self._wakers.values()) if queue_name is None else [self._wakers.get(queue_name)]
        for event in events:
            if event is not None:
                event.set()

    def _subscribe(self) -> None:
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.wake_channel)
                self.wake()  # what was enqueued while this process was not listening
                for item in pubsub.listen():
                    self.wake(_text(item["data"]))
            except redis.RedisError:
                log.warning("broker wake-ups lost; consumers look every %s s until Redis answers", IDLE_WAIT_S)
                time.sleep(IDLE_WAIT_S)


class WokenConsumer(_RedisConsumer):
    """A Redis consumer that, finding its queue empty, waits for a wake-up (or IDLE_WAIT_S) instead of polling.
    Busy (its prefetch all taken), it polls Dramatiq's way, backing off up to BUSY_POLL_MS rather than the worker's
    timeout: a thread that finishes a message takes the next within that."""

    def __init__(self, broker: WokenRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, min(timeout, BUSY_POLL_MS))
        self.woken = broker.waker(queue_name)

    def __next__(self) -> Any:
        if not self.message_cache and self.outstanding_message_count < self.prefetch:
            self.woken.clear()  # before the fetch, so that an enqueue during it is not missed
            try:
                self.message_cache = self.broker.do_fetch(self.queue_name,
                                                          self.prefetch - self.outstanding_message_count)
            except redis.ConnectionError as error:
                raise ConnectionClosed(error) from None
            if not self.message_cache:
                self.misses = 0
                self.woken.wait(IDLE_WAIT_S)
                return None
        return super().__next__()


def _text(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data

"""Wakes event streams when the event log grows (DESIGN.md §7). The log in the database is the truth; the bus
only says "look again", so a lost notification delays a stream and never loses an event.

Writers (any process: API server, engine host, worker) call `announce(id)` right after inserting an event row.
It never blocks the writer's transaction: the id goes to a background thread that publishes it on Redis
pub/sub (channel `<WAGW_REDIS_NAMESPACE>:events`) when the process uses Redis, and it pokes this process's own
tail directly. The announcement may arrive before the writer commits: that is fine, because readers go back to
the database, and the tail keeps looking (with a short backoff) until the announced id is visible.

Readers (the event streams and ListEvents in API servers, the webhook dispatcher in workers) share one `Tail` per
process: one thread that advances the process's *horizon* (server/core/event_horizon.py: the id up to which the
log is settled, so that a reader never passes an id whose transaction may still commit) and wakes the waiting
readers; and, with Redis, one subscriber thread (one connection) for the whole process, however many streams
wait. Readers read rows with ids up to the horizon, and never past it.

A `Listener` (the API server's stream hub, server/api/streams.py) gets the rows themselves: each time the horizon
is looked at, the tail reads the new rows once, whatever the number of streams, and hands them over with the
range they cover, so thousands of streams cost one query per move of the horizon rather than one each.

Without Redis (the embedded default), an event recorded in another process (the engine host) is found by the
tail's poll, every POLL_EMBEDDED_S; with Redis the poll (POLL_S) is only the backstop for a lost message.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Protocol

import redis

from server.core import broker, event_horizon
from server.core.config import Settings, load
from server.core.db import connection
from server.core.logs import fields
from server.core.models import Event

log = logging.getLogger("wagw.event_bus")

# The tail's poll while streams wait: the backstop with Redis, the way other processes' events arrive without.
POLL_S = 1.0
POLL_EMBEDDED_S = 0.2
# The first retry after an announced id was not visible yet (its transaction had not committed); doubles.
RETRY_S = 0.01
# A move of the horizon over more ids than this is handed to listeners as a gap (rows None), which they read
# from the log themselves, page by page, rather than the tail reading it all at once.
MAX_HANDED_ROWS = 2000


def channel(settings: Settings) -> str:
    return f"{settings.redis_namespace}:events"



class Waiter:
    """One waiting stream. `wait` returns when the horizon moved, when `wake` was called (the stream's client
    went away) or after the timeout. Clear before reading the horizon, so a move in between is not missed."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def clear(self) -> None:
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class Listener(Protocol):
    """Takes the log's rows as the horizon moves (server/api/streams.py)."""

    @property
    def active(self) -> bool:
        """Whether it wants rows now; an active listener also keeps the tail looking at the log."""

    def take(self, rows: list[Event] | None, after: int, horizon: int) -> None:
        """The rows with ids in (after, horizon], in id order; None when there were too many to hand over (a
        gap to read from the log). Called on every look at the log, moved or not, in the order of the looks."""


class Tail:
    """The settled end of the event log in this process, and the readers waiting for it to move."""

    def __init__(self, settings: Settings, *, redis_channel: str | None,
                 settled: event_horizon.Horizon | None = None):
        self.closed = False
        self._settled = settled or event_horizon.Horizon()
        self._settings = settings
        self._redis_channel = redis_channel
        self._poll_s = POLL_S if redis_channel else POLL_EMBEDDED_S
        self._lock = threading.Lock()
        self._poked = threading.Condition(self._lock)
        self._pending = False  # poked since the last look
        self._announced = 0  # the largest id announced to this process
        self._waiters: set[Waiter] = set()
        self._listeners: list[Listener] = []
        self._reading = threading.Lock()  # one advance of the horizon at a time
        self._started = False

    # Readers

    @property
    def horizon(self) -> int:
        """Every id up to this one is settled (server/core/event_horizon.py)."""
        return self._settled.value

    def settle(self) -> int:
        """The horizon as of now (for readers that do not wait: ListEvents, the webhook dispatcher)."""
        self.refresh()
        return self.horizon

    @property
    def streams(self) -> int:
        return len(self._waiters)

    def add(self, waiter: Waiter) -> int:
        """Register a stream; returns the horizon as of now (read afresh, so "from now on" means now)."""
        with self._lock:
            self._waiters.add(waiter)
        self._start()
        self.refresh()
        return self.horizon

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            self._waiters.discard(waiter)

    def listen(self, listener: Listener) -> None:
        """Hand the log's rows to `listener` from now on (poke the tail when it turns active)."""
        with self._lock:
            self._listeners.append(listener)
        self._start()

    def poke(self, event_id: int = 0) -> None:
        """Something may have been added to the log (event_id, when known, is the newest)."""
        with self._lock:
            self._announced = max(self._announced, event_id)
            self._pending = True
            self._poked.notify()

    def refresh(self) -> None:
        """Look at the log now: hand the new rows to the active listeners, and wake the waiters if the horizon
        moved."""
        with self._reading, connection():
            after = self.horizon
            moved = self._settled.advance()
            listeners = [listener for listener in self._listeners if listener.active]
            if listeners:
                rows = self._rows(after, self.horizon)
                for listener in listeners:
                    listener.take(rows, after, self.horizon)
        if moved:
            with self._lock:
                waiters = list(self._waiters)
            for waiter in waiters:
                waiter.wake()

    @staticmethod
    def _rows(after: int, horizon: int) -> list[Event] | None:
        if horizon - after > MAX_HANDED_ROWS:
            return None
        if horizon == after:
            return []
        return list(Event.select().where(Event.id > after, Event.id <= horizon).order_by(Event.id))

    def close(self) -> None:
        """Stop the threads and wake every stream, which then ends (the server is stopping)."""
        with self._lock:
            self.closed = True
            waiters = list(self._waiters)
            self._poked.notify()
        for waiter in waiters:
            waiter.wake()

    # The tail thread

    def _following(self) -> bool:
        """Whether anyone waits for the log to grow (call with the lock held)."""
        return bool(self._waiters) or any(listener.active for listener in self._listeners)

    def _start(self) -> None:
        with self._reading:
            if self._started or self.closed:
                return
            self._started = True
        threading.Thread(target=self._run, name="event-tail", daemon=True).start()
        if self._redis_channel:
            threading.Thread(target=self._listen, name="event-bus-redis", daemon=True).start()

    def _run(self) -> None:
        retry = RETRY_S
        while True:
            with self._lock:
                if not self._following():
                    timeout = None  # nobody to wake: sleep until a reader comes (add, or a poke)
                elif self._announced > self.horizon:
                    timeout = retry  # announced but not visible yet (not committed): look again soon
                    retry = min(retry * 2, self._poll_s)
                else:
                    timeout, retry = self._poll_s, RETRY_S
                if not self._pending and not self.closed:
                    self._poked.wait(timeout)
                if self.closed:
                    return
                self._pending = False
                if not self._following():
                    continue
            try:
                with connection(keep=True):
                    self.refresh()
            except Exception:
                log.warning("reading the event log failed", exc_info=True)
                time.sleep(self._poll_s)

    # The Redis subscriber thread: one connection for every stream of the process

    def _listen(self) -> None:
        pause = 0.5
        while not self.closed:
            client = redis.Redis.from_url(self._settings.redis_url, socket_connect_timeout=2,
                                          socket_timeout=POLL_S + 5, health_check_interval=30)
            try:
                with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(self._redis_channel)
                    self.poke()  # whatever was published while not subscribed
                    pause = 0.5
                    while not self.closed:
                        message = pubsub.get_message(timeout=POLL_S)
                        if message and message["type"] == "message":
                            self.poke(_as_id(message["data"]))
            except redis.RedisError as error:
                log.warning("event bus: Redis subscription lost; polling until it is back",
                            extra=fields(error=str(error), retry_s=pause))
                time.sleep(pause)
                pause = min(pause * 2, 10)
            finally:
                client.close()


def _as_id(data: bytes | str) -> int:
    try:
        return int(data)
    except (TypeError, ValueError):
        return 0


class _Publisher:
    """Publishes announced ids on Redis from a thread of its own, so a slow or absent Redis never holds up the
    transaction that recorded the event (nor does deciding whether Redis is used). A burst is coalesced into
    one message: its largest id, and one goes out at most every PUBLISH_EVERY_S: every message wakes every
    subscriber (each API server's tail, each worker's webhook dispatcher) into a pass over the log, and a busy
    gateway records hundreds of events a second (three for each message delivered). At 10 ms, publishing alone took
    7 % of a delivering engine host's time in Python (py-spy), for 100 calls a second; 50 ms adds at most that much
    to an event's way to a stream or a webhook (p99 target 250 ms)."""

    PUBLISH_EVERY_S = 0.05

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._enabled = True  # until the thread finds the process does not use Redis
        self._warned_at = 0.0
        threading.Thread(target=self._run, name="event-bus-publish", daemon=True).start()

    def put(self, event_id: int) -> None:
        if self._enabled:
            self._queue.put(event_id)

    def _run(self) -> None:
        settings, with_redis = _settings()
        if not with_redis:
            self._enabled = False
            return
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
        while True:
            newest = self._queue.get()
            while not self._queue.empty():
                newest = max(newest, self._queue.get_nowait())
            try:
                client.publish(channel(settings), str(newest))
            except redis.RedisError as error:
                if time.monotonic() - self._warned_at > 60:  # Redis down: say so once a minute, not per event
                    self._warned_at = time.monotonic()
                    log.warning("event bus: publishing on Redis failed; streams will find events by polling",
                                extra=fields(error=str(error)))
            time.sleep(self.PUBLISH_EVERY_S)  # what is announced meanwhile goes out together, next


_lock = threading.Lock()
_deciding = threading.Lock()  # apart from _lock: deciding may wait on Redis, announce must never wait
_decided: tuple[Settings, bool] | None = None
_publisher: _Publisher | None = None
_tail: Tail | None = None


def _settings() -> tuple[Settings, bool]:
    """The settings, and whether this process uses Redis: decided once."""
    global _decided
    with _deciding:
        if _decided is None:
            settings = load()
            _decided = settings, broker.uses_redis(settings)
        return _decided


def announce(event_id: int) -> None:
    """Tell every stream of every API server that the log has grown to `event_id` (see the module doc)."""
    global _publisher
    with _lock:
        if _publisher is None:
            _publisher = _Publisher()
        publisher, current = _publisher, _tail
    publisher.put(event_id)
    if current is not None:
        current.poke(event_id)


def tail() -> Tail:
    """This process's tail, made on first use (only API servers with a watching stream need one)."""
    global _tail
    settings, with_redis = _settings()
    with _lock:
        if _tail is None:
            _tail = Tail(settings, redis_channel=channel(settings) if with_redis else None)
        return _tail


def close() -> None:
    """End every stream (the server is stopping)."""
    with _lock:
        current = _tail
    if current is not None:
        current.close()

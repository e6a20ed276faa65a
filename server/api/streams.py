"""The API server's event streams (WatchEvents, WatchBatch; REST NDJSON and the WebSocket bridge ride on them):
asynchronous, so an open stream holds no thread, fed by one reader of the log per process, and capped per
credential.

Why this shape. The API server's main port is a grpc.aio server (server/api/app.py): its unary handlers stay
synchronous on a thread pool (Peewee is synchronous), while streams are coroutines on the event loop. A waiting
stream is a suspended coroutine and a small queue: a thousand of them cost a few MiB and no thread
(bench/streams.py measures unary latency with 0 and 1,000 open watchers). The API server's second, thread-pool
port serves the unary methods only, faster (app.py says why); it has no streams, which would hold a thread each
there.

How events reach the streams. The process's event tail (server/core/event_bus.py) reads the rows of each move
of the settled horizon once and hands them to the `Hub` (on the event loop), which appends each event to the
queue of every live subscription it matches: the subscription's profile (or the caller's profiles), its event
filters. A subscription is either live (fed by the hub) or lagging (it reads the log itself, up to the hub's
horizon, page by page on a small pool of reader threads): a stream starts lagging from `since` (catch-up), and
goes live once it has read up to the hub's horizon, in one step of the event loop, so no event falls between
the two. A subscription whose client reads slower than events come (its queue passes MAX_QUEUED), or one the
hub could not feed (a gap: the tail handed over no rows), lags again from the last event it sent: memory stays
bounded, and nothing is skipped or sent twice.

Fairness. Each credential (an API key, a JWT's subject) may hold WAGW_MAX_STREAMS_PER_CREDENTIAL streams at
once on an API server; one more is refused with RATE_LIMITED (429), so one key cannot take what others share.
A stream's credentials are checked again every REAUTHENTICATE_S, and at once when a key is revoked or deleted
through this server (`recheck`), so a revoked key stops watching.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent import futures
from typing import Any

import peewee

from server.core import event_bus, event_filters, event_horizon, events
from server.core.config import Settings
from server.core.db import connected
from server.core.errors import ApiError
from server.core.models import Event
from wagw.v1 import events_pb2

# A live subscription whose client has this many events not yet sent lags, and reads on from the log later.
MAX_QUEUED = 1000
# Threads reading the log for lagging subscriptions, apart from the RPC pool: catch-up never takes its threads.
READER_THREADS = 4
# A stream's credentials are checked again this often, so a revoked key or an expired JWT stops watching.
REAUTHENTICATE_S = 60.0
# A lagging subscription reads the log in pages of this many rows.
PAGE = 500


class Subscription:
    """One stream's view of the log: which events it wants, and where it is. Touched on the event loop only."""

    def __init__(self, subject: str, profile_id: str, profile_ids: frozenset[str] | None, filters: list[str],
                 cursor: int, *, queued: bool = True):
        self.subject = subject
        self.profile_id = profile_id  # "" for every profile the caller may see (profile_ids)
        self.profile_ids = profile_ids
        self.filters = filters
        self.queued = queued  # False: only woken by matching events (WatchBatch reads its batch itself)
        self.cursor = cursor  # every event it wants up to this id is sent or queued
        self.sent = cursor  # every event it wants up to this id is sent
        self.lagging = True
        self.queue: collections.deque[events_pb2.Event] = collections.deque()
        self.recheck = False  # its credentials must be checked again now
        self._woken = asyncio.Event()

    def wants(self, event: events_pb2.Event) -> bool:
        if self.profile_id:
            if event.profile_id != self.profile_id:
                return False
        elif self.profile_ids is not None and event.profile_id not in self.profile_ids:
            return False
        return event_filters.matches(self.filters, event.event)

    def lag(self) -> None:
        """Read on from the log, from the last event sent (a subscription that is only woken is woken)."""
        if not self.queued:
            self.wake()
            return
        self.lagging = True
        self.queue.clear()
        self.cursor = self.sent
        self.wake()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        self._woken.clear()


class Hub(event_bus.Listener):
    """Every stream of this API server: their subscriptions, the events the tail hands over, the per-credential
    cap. Its methods run on the event loop, except `take` (the tail's thread) and `recheck` (any thread)."""

    def __init__(self, settings: Settings, tail: event_bus.Tail | None = None):
        self.settings = settings
        self.horizon = 0  # every event up to this id has been handed to the live subscriptions
        self.closed = False
        self._tail = tail
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers = futures.ThreadPoolExecutor(READER_THREADS, thread_name_prefix="stream-read")
        self._open: collections.Counter[str] = collections.Counter()  # streams per credential
        self._by_profile: dict[str, set[Subscription]] = collections.defaultdict(set)
        self._wide: set[Subscription] = set()  # subscriptions to every profile the caller may see
        self._count = 0

    # The tail's side (its thread)

    @property
    def active(self) -> bool:
        return self._count > 0 and not self.closed

    def take(self, rows: list[Event] | None, after: int, horizon: int) -> None:
        handed = None if rows is None else [events.to_proto(row) for row in rows]
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._hand, handed, after, horizon)

    # The event loop's side

    def _hand(self, handed: list[events_pb2.Event] | None, after: int, horizon: int) -> None:
        if horizon < self.horizon:
            return
        gap = handed is None or after != self.horizon  # the tail looked while no stream was open, or too much came
        self.horizon = horizon
        touched: set[Subscription] = set()
        if gap:
            touched = {subscription for subscription in self._all() if not subscription.lagging}
            for subscription in touched:
                subscription.lag()
            return
        for event in handed or ():
            for subscription in self._by_profile.get(event.profile_id, set()) | self._wide:
                if not subscription.lagging and subscription.wants(event):
                    touched.add(subscription)
                    if subscription.queued:
                        subscription.queue.append(event)
        for subscription in self._all():
            if not subscription.lagging:
                subscription.cursor = horizon
        for subscription in touched:
            if len(subscription.queue) > MAX_QUEUED:
                subscription.lag()
            else:
                subscription.wake()

    def _all(self) -> Iterator[Subscription]:
        yield from self._wide
        for subscriptions in self._by_profile.values():
            yield from subscriptions

    @contextlib.contextmanager
    def slot(self, subject: str) -> Iterator[None]:
        """One of the credential's streams, for the body of the `with`; RATE_LIMITED when it holds all of them."""
        cap = self.settings.max_streams_per_credential
        if self._open[subject] >= cap:
            raise ApiError("RATE_LIMITED", f"this credential already has {cap} open streams on this server, the "
                           "most it may hold (WAGW_MAX_STREAMS_PER_CREDENTIAL): close one first", limit=str(cap))
        self._open[subject] += 1
        try:
            yield
        finally:
            self._open[subject] -= 1
            if not self._open[subject]:
                del self._open[subject]

    @contextlib.contextmanager
    def subscribed(self, subscription: Subscription) -> Iterator[Subscription]:
        """`subscription` fed by the hub for the body of the `with`."""
        self._loop = asyncio.get_running_loop()
        group = self._by_profile[subscription.profile_id] if subscription.profile_id else self._wide
        group.add(subscription)
        self._count += 1
        if self._count == 1:
            self.tail().poke()  # the tail may be asleep: nobody was following the log
        try:
            yield subscription
        finally:
            group.discard(subscription)
            if subscription.profile_id and not group:
                del self._by_profile[subscription.profile_id]
            self._count -= 1

    def tail(self) -> event_bus.Tail:
        if self._tail is None:
            self._tail = event_bus.tail()
            self._tail.listen(self)
        return self._tail

    async def read(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)` on a reader thread, with its database connection and the caller's context (its
        principal)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._readers, context.run, connected, work,
                                                                *args)

    async def follow(self, subscription: Subscription, query: peewee.ModelSelect,
                     reauthenticate: Callable[[], Awaitable[None]]) -> AsyncIterator[events_pb2.Event]:
        """The events of `subscription` after its cursor, in id order, as they come: read from the log (`query`,
        the same filters in SQL) while it lags, handed over by the hub once it is live. Ends only by an error:
        credentials that no longer hold (`reauthenticate` raises), or the server stopping."""
        loop = asyncio.get_running_loop()
        recheck_at = loop.time() + REAUTHENTICATE_S
        while True:
            if self.closed:
                raise stopping()
            if subscription.recheck or loop.time() >= recheck_at:
                subscription.recheck = False
                await reauthenticate()
                recheck_at = loop.time() + REAUTHENTICATE_S
            if subscription.lagging:
                if subscription.cursor < self.horizon:
                    page, cursor = await self.read(_page, query, subscription.cursor, self.horizon)
                    for event in page:
                        subscription.sent = event.id  # before the yield: the event is handed over at it
                        yield event
                    subscription.cursor = subscription.sent = cursor
                else:  # read up to the hub's horizon: from here the hub feeds it (no step of the loop between)
                    subscription.lagging = False
                continue
            if subscription.queue:
                event = subscription.queue.popleft()
                subscription.sent = event.id
                yield event
                continue
            subscription.sent = subscription.cursor
            await subscription.wait(max(recheck_at - loop.time(), 0.0))

    async def now(self) -> int:
        """The horizon after a fresh look at the log ("from now on" means now)."""
        self._loop = asyncio.get_running_loop()
        await self.read(self.tail().refresh)
        return self.horizon  # the look's rows were handed over (call_soon_threadsafe) before read returned

    def recheck(self, subject: str) -> None:
        """The credential `subject` changed (a key revoked or deleted): its streams check it again now. Any
        thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._recheck, subject)

    def _recheck(self, subject: str) -> None:
        for subscription in self._all():
            if subscription.subject == subject:
                subscription.recheck = True
                subscription.wake()

    def close(self) -> None:
        """End every stream (UNAVAILABLE: the server is stopping)."""
        self.closed = True
        for subscription in self._all():
            subscription.wake()


def _page(query: peewee.ModelSelect, after: int, horizon: int) -> tuple[list[events_pb2.Event], int]:
    rows, cursor = event_horizon.read(query, after, horizon, PAGE)
    return [events.to_proto(row) for row in rows], cursor


def stopping() -> ApiError:
    return ApiError("UNAVAILABLE", "the server is stopping; watch again with since=<last id>")

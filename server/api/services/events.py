"""EventService: the event log, read page by page (ListEvents) or followed as it grows (WatchEvents)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import peewee

from server.api import auth
from server.api.auth import current_principal
from server.core import event_bus, event_filters, event_horizon, events
from server.core.config import Settings, load
from server.core.db import database
from server.core.errors import ApiError, invalid
from server.core.models import Event
from wagw.v1 import events_pb2, events_pb2_grpc

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# WatchEvents reads the log in pages of this many rows, with a database connection only for each read.
WATCH_PAGE_SIZE = 500
# A waiting stream wakes at least this often to notice a client that left without a word.
WATCH_WAIT_S = 5.0
# A stream's credentials are checked again this often, so a revoked key or an expired JWT stops watching.
REAUTHENTICATE_S = 60.0
# `since` for "only what happens from now on".
FROM_NOW = -1
# The response header (initial metadata) of WatchEvents that tells where the watch starts.
WATCH_START_HEADER = "x-wagw-since"


def visible_events(profile_id: str, filters: list[str]) -> peewee.ModelSelect:
    """The events the caller may see, narrowed to a profile and to event filters (`*`, `message.*`, names)."""
    principal = current_principal()
    query = Event.select()
    if profile_id:
        principal.require_profile(profile_id)
        query = query.where(Event.profile_id == profile_id)
    elif principal.profile_ids is not None:
        query = query.where(Event.profile_id.in_(sorted(principal.profile_ids)))
    filters = event_filters.validate(filters, "events")
    if filters and "*" not in filters:
        condition = None
        for item in filters:
            term = (Event.name.startswith(item[:-1]) if item.endswith(".*") else Event.name == item)
            condition = term if condition is None else condition | term
        query = query.where(condition)
    return query


class EventServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load()

    def ListEvents(self, request: events_pb2.ListEventsRequest, context: grpc.ServicerContext
                   ) -> events_pb2.ListEventsResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
        if request.since < 0:
            raise invalid("since", "must be an event id (0 for the beginning)")
        query = visible_events(request.profile_id, list(request.events))
        # Only up to the settled horizon: an id still being committed is never passed (server/core/event_horizon.py).
        rows, last_id = event_horizon.read(query, request.since, event_bus.tail().settle(), size)
        return events_pb2.ListEventsResponse(events=[events.to_proto(row) for row in rows], last_id=last_id)

    def WatchEvents(self, request: events_pb2.WatchEventsRequest, context: grpc.ServicerContext
                    ) -> Iterator[events_pb2.Event]:
        """The stored events after `since` (-1: none), then each new one as the log grows, in id order.

        The stream reads only up to the horizon of the process's tail (server/core/event_bus.py), the id up to
        which no event can still appear, and moves its cursor to it: so no event is skipped, and none is sent
        twice.
        """
        if request.since < FROM_NOW:
            raise invalid("since", "must be an event id, 0 for the whole log, or -1 for new events only")
        query = visible_events(request.profile_id, list(request.events))  # checks the profile and filters
        tail = event_bus.tail()
        # Each stream holds one of the server's RPC threads: keep a quarter of them for everything else.
        if tail.streams >= self.settings.grpc_workers * 3 // 4:
            raise ApiError("UNAVAILABLE", "too many event streams on this server; retry later")
        waiter = event_bus.Waiter()
        context.add_callback(waiter.wake)  # the client left: stop waiting at once
        try:
            horizon = tail.add(waiter)
            cursor = horizon if request.since == FROM_NOW else request.since
            # Accepted: the headers go now rather than with the first event, which may be hours away, so callers
            # (the WebSocket bridge, curl) can tell a started watch from a refused one. They carry where the
            # watch starts, for a caller that must resume it ("new events only" is an id now).
            context.send_initial_metadata(((WATCH_START_HEADER, str(cursor)),))
            recheck_at = time.monotonic() + REAUTHENTICATE_S
            while context.is_active():
                if tail.closed:
                    raise ApiError("UNAVAILABLE", "the server is stopping; watch again with since=<last id>")
                waiter.clear()
                horizon = tail.horizon
                while cursor < horizon:
                    with database.connection_context():
                        rows, cursor = event_horizon.read(query, cursor, horizon, WATCH_PAGE_SIZE)
                    for row in rows:
                        yield events.to_proto(row)
                if time.monotonic() >= recheck_at:
                    self._reauthenticate(context)
                    recheck_at = time.monotonic() + REAUTHENTICATE_S
                waiter.wait(WATCH_WAIT_S)
        finally:
            tail.remove(waiter)

    def _reauthenticate(self, context: grpc.ServicerContext) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        with database.connection_context():
            principal = auth.authenticate(metadata, self.settings)
        principal.require_scope("events:read")

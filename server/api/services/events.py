"""EventService: the event log, read page by page (ListEvents) or followed as it grows (WatchEvents, a coroutine
served by the stream hub: server/api/streams.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import peewee

from server.api import auth, streams
from server.api.auth import current_principal
from server.core import event_bus, event_filters, event_horizon, events
from server.core.config import Settings, load
from server.core.errors import invalid
from server.core.models import Event
from server.core.rpc import metadata_of
from wagw.v1 import events_pb2, events_pb2_grpc

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
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
    def __init__(self, hub: streams.Hub, settings: Settings | None = None):
        self.hub = hub
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

    async def WatchEvents(self, request: events_pb2.WatchEventsRequest, context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[events_pb2.Event]:
        """The stored events after `since` (-1: none), then each new one as the log grows, in id order, up to the
        settled horizon only (server/core/event_horizon.py): so no event is skipped, and none is sent twice."""
        if request.since < FROM_NOW:
            raise invalid("since", "must be an event id, 0 for the whole log, or -1 for new events only")
        principal = current_principal()
        query = visible_events(request.profile_id, list(request.events))  # checks the profile and filters
        filters = event_filters.validate(list(request.events), "events")
        with self.hub.slot(principal.subject):
            subscription = streams.Subscription(principal.subject, request.profile_id, principal.profile_ids,
                                                filters, request.since)
            with self.hub.subscribed(subscription):
                if request.since == FROM_NOW:
                    subscription.cursor = subscription.sent = await self.hub.now()
                # Accepted: the headers go now rather than with the first event, which may be hours away, so
                # callers (the WebSocket bridge, curl) can tell a started watch from a refused one. They carry
                # where the watch starts, for a caller that must resume it ("new events only" is an id now).
                await context.send_initial_metadata(((WATCH_START_HEADER, str(subscription.cursor)),))
                metadata = metadata_of(context)

                async def reauthenticate() -> None:
                    await self.hub.read(self._reauthenticate, metadata)

                async for event in self.hub.follow(subscription, query, reauthenticate):
                    yield event

    def _reauthenticate(self, metadata: dict[str, str]) -> None:
        auth.authenticate(metadata, self.settings).require_scope("events:read")

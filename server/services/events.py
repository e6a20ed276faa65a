"""EventService: reading the event log. Live streaming (WatchEvents) arrives with the event fan-out."""

from __future__ import annotations

import grpc
import peewee

from server import event_filters, events
from server.auth import current_principal
from server.errors import invalid
from server.models import Event
from wagw.v1 import events_pb2, events_pb2_grpc

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


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
    def ListEvents(self, request: events_pb2.ListEventsRequest, context: grpc.ServicerContext
                   ) -> events_pb2.ListEventsResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
        if request.since < 0:
            raise invalid("since", "must be an event id (0 for the beginning)")
        rows = list(visible_events(request.profile_id, list(request.events))
                    .where(Event.id > request.since).order_by(Event.id).limit(size))
        return events_pb2.ListEventsResponse(events=[events.to_proto(row) for row in rows],
                                             last_id=rows[-1].id if rows else request.since)

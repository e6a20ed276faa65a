"""The durable event log (DESIGN.md §7): every event is a row with an increasing id before anything else
sees it. Fan-out to webhooks and streams reads from here, up to the settled horizon (server/core/event_horizon.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import struct_pb2

from server.core import event_bus, event_horizon
from server.core.convert import to_timestamp
from server.core.db import is_sqlite, utcnow
from server.core.models import Event
from wagw.v1 import events_pb2


def _jsonable(value: Any) -> Any:
    """Event data as stored and sent: datetimes become RFC 3339 UTC strings."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def record(name: str, profile_id: str | None, data: dict[str, Any]) -> Event:
    """Append an event; call it inside the transaction that makes the change it reports.

    On PostgreSQL the statement that takes the id also locks it until the transaction ends, so that readers
    wait for it rather than pass it (server/core/event_horizon.py). Streams are woken at once
    (server/core/event_bus.py); that may be before this transaction commits: the bus only makes them look again,
    and keeps looking until the row is there, so nothing depends on the order.
    """
    values = {"name": name, "profile_id": profile_id, "data": _jsonable(data), "created_at": utcnow()}
    if is_sqlite():
        row = Event.create(**values)
    else:
        [(event_id, _)] = (Event.insert(**values).returning(Event.id, event_horizon.lock_in_flight(Event.id))
                           .tuples().execute())
        row = Event(id=event_id, **values)
    event_bus.announce(row.id)
    return row


def to_proto(row: Event) -> events_pb2.Event:
    data = struct_pb2.Struct()
    data.update(row.data)
    return events_pb2.Event(id=row.id, event=row.name, profile_id=row.profile_id or "",
                            timestamp=to_timestamp(row.created_at), data=data)

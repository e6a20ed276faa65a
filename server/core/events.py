"""The durable event log (DESIGN.md §7): every event is a row with an increasing id before anything else
sees it. Fan-out to webhooks and streams reads from here, up to the settled horizon (server/core/event_horizon.py)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import peewee
from google.protobuf import struct_pb2

from server.core import event_bus, event_horizon
from server.core.convert import to_timestamp
from server.core.db import Prepared, is_sqlite, utcnow
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


# Several events a delivered message: the SQL is built once (server/core/db.py). `data` goes in encoded.
_INSERT = Prepared(lambda name, profile_id, data, created_at: Event.insert(
    name=name, profile_id=profile_id, data=peewee.Value(data, unpack=False), created_at=created_at))
_INSERT_LOCKED = Prepared(lambda name, profile_id, data, created_at: Event.insert(
    name=name, profile_id=profile_id, data=peewee.Value(data, unpack=False), created_at=created_at)
    .returning(Event.id, event_horizon.lock_in_flight(Event.id)))


# An event to record: its name, its profile's id (None: the gateway's), its data.
Record = tuple[str, str | None, dict[str, Any]]


@functools.cache  # one per count: a sent batch item records two (its ack and its batch's progress), its last three
def _insert_rows(count: int) -> Prepared:
    """`count` events in one INSERT … RETURNING their ids, each locked on PostgreSQL as `_INSERT_LOCKED` locks one
    (SQLite has one writer at a time)."""
    def build(*values: Any) -> peewee.Query:
        rows = [dict(name=name, profile_id=profile_id, data=peewee.Value(data, unpack=False), created_at=created_at)
                for name, profile_id, data, created_at in zip(*[iter(values)] * 4, strict=True)]
        inserted = Event.insert_many(rows)
        if is_sqlite():
            return inserted.returning(Event.id)
        return inserted.returning(Event.id, event_horizon.lock_in_flight(Event.id))
    return Prepared(build, arity=4 * count)


def record(name: str, profile_id: str | None, data: dict[str, Any]) -> Event:
    """Append an event; call it inside the transaction that makes the change it reports.

    On PostgreSQL the statement that takes the id also locks it until the transaction ends, so that readers
    wait for it rather than pass it (server/core/event_horizon.py). Streams are woken at once
    (server/core/event_bus.py); that may be before this transaction commits: the bus only makes them look again,
    and keeps looking until the row is there, so nothing depends on the order.
    """
    values = {"name": name, "profile_id": profile_id, "data": _jsonable(data), "created_at": utcnow()}
    stored = (name, profile_id, Event.data.db_value(values["data"]), values["created_at"])
    if is_sqlite():
        event_id = _INSERT.execute(*stored).lastrowid
    else:
        [(event_id, _)] = _INSERT_LOCKED.execute(*stored).fetchall()
    event_bus.announce(event_id)
    return Event(id=event_id, **values)


def insert_per_row(*parts: tuple[str, str, str, list[Any]]) -> tuple[str, list[Any]]:
    """PostgreSQL only: an INSERT of events made of the rows of CTEs, as SQL and parameters for a statement that
    carries it beside the change they report (lifecycle's sends and receipts). Each part is (source, name, data_sql,
    data_params): one `name` event per row of the CTE `source` (it has a `profile_id` column), its data the JSON text
    `data_sql` makes of the row. The parts' events are recorded in their order. Each id is returned and locked as
    `record` locks it; `announce` the largest once the statement has run."""
    selects, params = [], []
    for order, (source, name, data_sql, data_params) in enumerate(parts):
        selects.append(f'SELECT {order} AS "order", %s AS "name", {source}."profile_id", {data_sql} AS "data" '
                       f'FROM {source}')
        params += [name, *data_params]
    sql = (f'INSERT INTO "{Event._meta.table_name}" ("name", "profile_id", "data", "created_at") '
           f'SELECT "name", "profile_id", "data", %s FROM ({" UNION ALL ".join(selects)}) AS made ORDER BY "order" '
           f'RETURNING "id", pg_advisory_xact_lock("id" + %s)')  # event_horizon.lock_in_flight, in SQL
    return sql, [utcnow(), *params, event_horizon.LOCK_TAG]


def announce(event_id: int) -> None:
    """The log has grown to `event_id` (written by a statement of the caller's: insert_per_row)."""
    event_bus.announce(event_id)


def to_proto(row: Event) -> events_pb2.Event:
    data = struct_pb2.Struct()
    data.update(row.data)
    return events_pb2.Event(id=row.id, event=row.name, profile_id=row.profile_id or "",
                            timestamp=to_timestamp(row.created_at), data=data)


def record_all(records: list[Record]) -> None:
    """Append events (name, profile id, data) in this order, as `record` does each, in one statement (a sent batch
    item's ack and its batch's progress, its last one's end): on PostgreSQL one round trip where each was one."""
    if records:
        # Ids are taken row after row, in the order of the VALUES; the log has grown to the last one.
        announce(max(row[0] for row in _insert_rows(len(records)).execute(*_values(records)).fetchall()))


def record_all_statement(records: list[Record]) -> tuple[str, list[Any]]:
    """PostgreSQL only: `record_all`'s INSERT as SQL and parameters, for a statement that carries it beside the
    change the events report (it returns each id, locked); `announce` the largest once the statement has run."""
    return _insert_rows(len(records)).statement(*_values(records))


def _values(records: list[Record]) -> list[Any]:
    now = utcnow()
    return [value for name, profile_id, data in records
            for value in (name, profile_id, Event.data.db_value(_jsonable(data)), now)]

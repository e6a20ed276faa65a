"""The settled end of the event log, and reading up to it: the one way every reader follows the log (ListEvents,
WatchEvents through the event bus's tail, the webhook dispatcher).

Event ids come from a sequence when a row is inserted, not when it commits. On PostgreSQL transactions commit in
any order, so id 12 can be visible while the transaction that took id 11 is still open, and a rolled-back
transaction burns its id for good. A reader that moved on to 12 would never see 11. So readers read only up to
the *horizon*: an id such that every id up to it is settled, committed or never to be.

How a missing id is judged:
- In flight while the transaction that took it is open: `events.record` takes a transaction-scoped advisory lock
  on the id in the very statement that inserts the row, and the horizon looks at pg_locks. PostgreSQL releases the
  lock only after the commit is visible, so an id that was not locked when looked at, and whose row is missing in a
  read made after that look, was rolled back. An open transaction holds the horizon for as long as it stays open.
- Between taking the id and the lock (inside one statement) an id is neither visible nor locked; so a missing id
  counts as rolled back only when it has been missing for SETTLE_S seconds (or the row after it is that old), and
  no lock holds it. pg_locks is read only then, so the common case (a gap that fills within milliseconds) costs
  nothing.
- SQLite serializes writers: ids commit in order and a rolled-back id is taken again, so there is nothing in
  flight to look for; the same rules apply.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import peewee

from server.core.db import Prepared, database, is_sqlite, utcnow
from server.core.logs import fields
from server.core.models import Event

log = logging.getLogger("wagw.event_horizon")

# How long a missing id that no transaction holds may keep the horizon back before it counts as rolled back: the
# window it covers is one INSERT statement's (between the id and the lock), so a second is ample; it is also how
# long a rollback anywhere can hold readers back, so no longer.
SETTLE_S = 1.0
# Rows looked at per query while advancing.
PAGE = 1000
# The advisory-lock key of event id N is N + LOCK_TAG ("wa" in the top bits, so no other use of advisory locks in
# the database can collide with it while ids stay below 2**48).
LOCK_TAG = 0x7761 << 48
# An open transaction holding the horizon this long is worth a warning (once a minute).
STUCK_WARNING_S = 60.0


def lock_in_flight(event_id: peewee.Node) -> peewee.Node:
    """The expression `events.record` evaluates in its INSERT … RETURNING: the id's lock, held until the
    transaction ends."""
    return peewee.fn.pg_advisory_xact_lock(event_id + LOCK_TAG)


def _in_flight() -> set[int]:
    """The event ids whose transactions are open now (PostgreSQL)."""
    cursor = database.execute_sql(
        "SELECT ((classid::bigint << 32) | objid::bigint) - %s FROM pg_locks"
        " WHERE locktype = 'advisory' AND objsubid = 1 AND (classid::bigint >> 16) = %s"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LOCK_TAG, LOCK_TAG >> 48))
    return {row[0] for row in cursor.fetchall()}


# Read on every announcement, by every process following the log: its SQL is built once (server/core/db.py).
_AFTER = Prepared(lambda event_id: Event.select(Event.id, Event.created_at)
                  .where(Event.id > peewee.Value(event_id, unpack=False)).order_by(Event.id).limit(PAGE))


def _after(event_id: int) -> list[tuple[int, dt.datetime]]:
    return [(row.id, row.created_at) for row in _AFTER.all(event_id)]


class Horizon:
    """The horizon as one reader follows it: `value` only grows. It remembers since when it has missed an id,
    so keep one per process (the event bus's tail) or per follower (the webhook dispatcher). `clock` is
    injectable for tests."""

    def __init__(self, clock: Callable[[], dt.datetime] = utcnow):
        self.value = 0
        self._started = False
        self._clock = clock
        self._missing_since: dict[int, dt.datetime] = {}  # first missing id → when this horizon first missed it
        self._warned_at: dt.datetime | None = None

    def settle(self) -> int:
        """Advance as far as the log is settled now, and return the horizon."""
        with database.connection_context():
            self.advance()
        return self.value

    def advance(self) -> bool:
        """Move over every id settled now (a connection must be open); returns whether the horizon moved."""
        if not self._started:
            self.value = self._settled_start()
            self._started = True
        start = self.value
        while True:
            rows = _after(self.value)
            in_flight: set[int] | None = set() if is_sqlite() else None
            horizon, look_at_locks = self._walk(rows, in_flight)
            if look_at_locks:
                in_flight = _in_flight()
                rows = _after(self.value)  # read again after the look at the locks: see the module doc
                horizon, _ = self._walk(rows, in_flight)
            self.value = horizon
            self._missing_since = {gap: seen for gap, seen in self._missing_since.items() if gap > horizon}
            if len(rows) < PAGE or horizon != rows[-1][0]:
                return self.value != start

    def _walk(self, rows: list[tuple[int, dt.datetime]], in_flight: set[int] | None) -> tuple[int, bool]:
        """How far `rows` (the ids after the horizon) settle the log: up to the first missing ids that may still
        come. With `in_flight` None (the locks not looked at yet), answers True when only they can tell."""
        horizon = self.value
        now = self._clock()
        settled_before = now - dt.timedelta(seconds=SETTLE_S)
        for event_id, created_at in rows:
            if event_id > horizon + 1:  # horizon+1 … event_id-1 are missing
                since = self._missing_since.setdefault(horizon + 1, now)
                if since > settled_before and created_at > settled_before:
                    return horizon, False  # may be between its id and its lock, or about to commit
                if in_flight is None:
                    return horizon, True
                held = sorted(missing for missing in in_flight if horizon < missing < event_id)
                if held:
                    self._warn_if_stuck(held[0], since, now)
                    return horizon, False  # its transaction is open: it may commit yet
            horizon = event_id
        return horizon, False

    def _warn_if_stuck(self, event_id: int, since: dt.datetime, now: dt.datetime) -> None:
        waited = (now - since).total_seconds()
        if waited >= STUCK_WARNING_S and (self._warned_at is None or
                                          (now - self._warned_at).total_seconds() >= STUCK_WARNING_S):
            self._warned_at = now
            log.warning("the event log waits for an open transaction", extra=fields(event_id=event_id,
                                                                                   waited_s=round(waited)))

    def _settled_start(self) -> int:
        """Where a new horizon starts: below the oldest id in flight, and at most at the newest row older than
        SETTLE_S (no id below it can still be between its id and its lock). The locks are looked at first, so an
        id that commits in between was either locked then or visible since."""
        in_flight = set() if is_sqlite() else _in_flight()
        old = self._clock() - dt.timedelta(seconds=SETTLE_S)
        start = (Event.select(Event.id).where(Event.created_at < old).order_by(Event.id.desc()).limit(1)
                 .scalar()) or 0
        return min([start, *(event_id - 1 for event_id in in_flight)])


def read(query: peewee.ModelSelect, after: int, horizon: int, limit: int) -> tuple[list[Event], int]:
    """The rows of `query` (a select of Event) with ids in (after, horizon], in id order, at most `limit`; and
    where to read on from: the last row's id when the page is full, else the horizon (nothing else up to it
    matches the query)."""
    rows = list(query.where(Event.id > after, Event.id <= horizon).order_by(Event.id).limit(limit))
    return rows, read_on(rows, after, horizon, limit)


def read_on(rows: list[Event], after: int, horizon: int, limit: int) -> int:
    """Where to read on from after a page of `rows` read as `read` does."""
    return rows[-1].id if len(rows) == limit else max(after, horizon)

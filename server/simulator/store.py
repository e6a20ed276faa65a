"""What the simulated WhatsApp's servers keep when the simulator service (`python -m server.simulator`) stops.

Real WhatsApp's servers outlive any client, and a restart of theirs loses nothing: a message they accepted still
reaches its recipients, a repeated send of the same message id is still recognised, and events a device has not
acknowledged are handed to it when it reconnects. `SqliteNetworkState` keeps that in a small SQLite file
(WAGW_SIMULATOR_STATE), so the simulator service can be restarted (or killed) like any other process:

- messages: sender, sending profile, the gateway's message id, WhatsApp's id, recipients, and who has yet to
  receive and read each one (the dedupe memory, and the deliveries and receipts still to come);
- inboxes: what each number (and group) received;
- the offline queue: events for linked devices (receipts, incoming messages, group changes) not yet
  acknowledged; an engine host acknowledges an event once it has recorded it, as whatsmeow acks a node after
  dispatching it;
- links (which number each profile's device is linked to), and the counters (ids, devices linked, devices
  unlinked: credentials of an unlinked device stay refused).

Not kept, as a real network would not keep them either, or because tests set them up again: phone-side
settings (online, reads, push names), groups, bans, and injected faults.

`NetworkState` (the default) keeps nothing: the network is in memory only.

Writes happen under the network's lock and are committed together when its outermost operation ends, before
any event is handed to a device: what a device sees was durable first.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from server.simulator.events import Event


@dataclass
class Snapshot:
    """What a network starts from."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (chat, entry), oldest first
    queued: list[tuple[str, Event]] = field(default_factory=list)  # (profile id, event with its seq), in order
    links: dict[str, str] = field(default_factory=dict)  # profile id → linked chat id
    counters: dict[str, int] = field(default_factory=dict)


class NetworkState:
    """In memory only: nothing outlives the process."""

    durable = False

    def __init__(self) -> None:
        self._seqs = itertools.count(1)

    def load(self) -> Snapshot:
        return Snapshot()

    def save_message(self, wa_message_id: str, record: dict[str, Any]) -> None:
        """Insert or replace one message's record."""

    def append_inbox(self, chat: str, entry: dict[str, Any]) -> None:
        pass

    def queue_event(self, profile_id: str, event: Event) -> int:
        """Keep an event for a device until it is acknowledged; returns its sequence number (from 1 up)."""
        return next(self._seqs)

    def ack_event(self, seq: int) -> None:
        """The device recorded the event (or it is dropped)."""

    def drop_events(self, profile_id: str) -> None:
        pass

    def set_link(self, profile_id: str, jid: str) -> None:
        """The number a profile's device is linked to ("": none)."""

    def set_counter(self, scope: str, value: int) -> None:
        pass

    def commit(self) -> None:
        """Make everything written since the last commit durable, at once."""

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (wa_message_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, chat TEXT NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queued (seq INTEGER PRIMARY KEY AUTOINCREMENT, profile_id TEXT NOT NULL,
                                   type TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS queued_profile ON queued (profile_id);
CREATE TABLE IF NOT EXISTS links (profile_id TEXT PRIMARY KEY, jid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (scope TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteNetworkState(NetworkState):
    """The network's server side in a SQLite file. WAL with synchronous=NORMAL: a commit survives the process
    being killed (it is in the WAL before COMMIT returns); only a power loss could take the last ones."""

    durable = True

    def __init__(self, path: str, *, inbox_limit: int = 10_000, queue_limit: int = 1_000):
        self.path = path
        self.inbox_limit = inbox_limit
        self.queue_limit = queue_limit
        self._lock = threading.Lock()
        self._open = False  # a transaction is open
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self) -> Snapshot:
        with self._lock:
            db = self._db
            # The same bounds the network keeps in memory, so a long demo's file does not grow without end.
            db.execute("DELETE FROM inbox WHERE seq IN (SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER "
                       "(PARTITION BY chat ORDER BY seq DESC) AS n FROM inbox) WHERE n > ?)", (self.inbox_limit,))
            db.execute("DELETE FROM queued WHERE seq IN (SELECT seq FROM (SELECT seq, ROW_NUMBER() OVER "
                       "(PARTITION BY profile_id ORDER BY seq DESC) AS n FROM queued) WHERE n > ?)",
                       (self.queue_limit,))
            return Snapshot(
                messages=[_decode(record) for (record,) in db.execute("SELECT record FROM messages ORDER BY rowid")],
                inbox=[(chat, _decode(entry))
                       for chat, entry in db.execute("SELECT chat, entry FROM inbox ORDER BY seq")],
                queued=[(profile_id, Event(type, _decode(data), seq)) for seq, profile_id, type, data
                        in db.execute("SELECT seq, profile_id, type, data FROM queued ORDER BY seq")],
                links=dict(db.execute("SELECT profile_id, jid FROM links")),
                counters=dict(db.execute("SELECT scope, value FROM counters")),
            )

    def save_message(self, wa_message_id: str, record: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO messages (wa_message_id, record) VALUES (?, ?)",
                    (wa_message_id, _encode(record)))

    def append_inbox(self, chat: str, entry: dict[str, Any]) -> None:
        self._write("INSERT INTO inbox (chat, entry) VALUES (?, ?)", (chat, _encode(entry)))

    def queue_event(self, profile_id: str, event: Event) -> int:
        seq = self._write("INSERT INTO queued (profile_id, type, data) VALUES (?, ?, ?)",
                          (profile_id, event.type, _encode(event.data)))
        assert seq is not None  # an INSERT into a table with an integer key always has a row id
        return seq

    def ack_event(self, seq: int) -> None:
        self._write("DELETE FROM queued WHERE seq = ?", (seq,))

    def drop_events(self, profile_id: str) -> None:
        self._write("DELETE FROM queued WHERE profile_id = ?", (profile_id,))

    def set_link(self, profile_id: str, jid: str) -> None:
        if jid:
            self._write("INSERT OR REPLACE INTO links (profile_id, jid) VALUES (?, ?)", (profile_id, jid))
        else:
            self._write("DELETE FROM links WHERE profile_id = ?", (profile_id,))

    def set_counter(self, scope: str, value: int) -> None:
        self._write("INSERT OR REPLACE INTO counters (scope, value) VALUES (?, ?)", (scope, value))

    def commit(self) -> None:
        with self._lock:
            if self._open:
                self._db.execute("COMMIT")
                self._open = False

    def close(self) -> None:
        self.commit()
        with self._lock:
            self._db.close()

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> int | None:
        with self._lock:
            if not self._open:
                self._db.execute("BEGIN")
                self._open = True
            return self._db.execute(sql, parameters).lastrowid


def open_state(path: str) -> NetworkState:
    """The state for WAGW_SIMULATOR_STATE: a SQLite file at `path`, or memory only when it is empty."""
    return SqliteNetworkState(path) if path else NetworkState()


# JSON with datetimes (receipts and messages carry timestamps).

def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot keep a {type(value).__name__} in the simulator's state")


def _hook(value: dict[str, Any]) -> Any:
    if len(value) == 1 and "$datetime" in value:
        return dt.datetime.fromisoformat(value["$datetime"])
    return value


def _encode(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def _decode(text: str) -> Any:
    return json.loads(text, object_hook=_hook)

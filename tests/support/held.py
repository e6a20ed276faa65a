"""A slow writer: an event recorded in a transaction of its own, on a thread of its own, held open until the test
commits or rolls it back. On PostgreSQL its id is taken at once, so events recorded meanwhile get higher ids and
may commit first: what the event log's readers must not be fooled by (server/core/event_horizon.py)."""

from __future__ import annotations

import queue
import threading

from server.core import db, events


class _RolledBack(Exception):
    pass


class HeldEvent:
    def __init__(self, profile_id: str, name: str = "message.ack") -> None:
        self.id = 0
        self._recorded = threading.Event()
        self._verdict: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(profile_id, name), name="held-event", daemon=True)
        self._thread.start()
        assert self._recorded.wait(10), "the held event was not recorded"

    def _run(self, profile_id: str, name: str) -> None:
        with db.database.connection_context():
            try:
                with db.write_transaction():
                    self.id = events.record(name, profile_id, {"held": True}).id
                    self._recorded.set()
                    if self._verdict.get(timeout=120) == "rollback":
                        raise _RolledBack
            except _RolledBack:
                pass

    def commit(self) -> None:
        self._verdict.put("commit")
        self._thread.join(10)

    def rollback(self) -> None:
        self._verdict.put("rollback")
        self._thread.join(10)

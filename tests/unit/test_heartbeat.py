"""An engine host's heartbeat is its lease (server/core/hosts.py): a few missed beats and the other hosts take its
profiles. A burst of work that takes every pooled PostgreSQL connection (an engine host restoring many sessions at
once) must not stop the beat: the beating thread keeps a connection of its own. Through the real pool, with real
threads holding every other connection."""

from __future__ import annotations

import threading
import time

import psycopg

from server.core import db, migrations
from server.engine_host.sessions import SessionManager
from tests.support.stack import postgres_database

POOL = 3


def heartbeat_at(url: str) -> float:
    """The host's heartbeat as seconds since the epoch, read outside the pool (which the test has drained)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SELECT extract(epoch FROM heartbeat_at) FROM engine_host").fetchone()
    return float(row[0])


def test_the_heartbeat_goes_on_while_other_threads_hold_every_pooled_connection():
    with postgres_database() as url:
        bound = db.open_database(url, max_connections=POOL)
        try:
            migrations.migrate()
            host = SessionManager("beating-host", "127.0.0.1:1", url)
            threading.Thread(target=host._heartbeat_loop, daemon=True).start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    heartbeat_at(url)
                    break
                except TypeError:  # no row yet
                    time.sleep(0.1)
            released = threading.Event()

            def hold() -> None:
                try:
                    with db.connection():
                        released.wait(20)
                except Exception:  # the pool had none left for this one: the heartbeat keeps its own
                    pass

            holders = [threading.Thread(target=hold, daemon=True) for _ in range(POOL)]
            for holder in holders:
                holder.start()
            time.sleep(0.5)
            drained_at = heartbeat_at(url)
            time.sleep(3.5)
            beaten_at = heartbeat_at(url)
            released.set()
            host._stopping.set()
            for holder in holders:
                holder.join(30)
            assert beaten_at - drained_at >= 2, "no beat while the pool was drained"
        finally:
            bound.close_all()

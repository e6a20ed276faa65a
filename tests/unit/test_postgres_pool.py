"""The PostgreSQL connection pool (server/core/db.py, _PooledPostgres): a connection given back a moment ago goes
out again without a ping; one idle for longer is pinged, so a connection that died in the pool is left out; one
that died within the moment fails its first statement and is never handed out again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import peewee
import psycopg
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from server.core import db
from tests.support.stack import POSTGRES_ADMIN_URL, postgres_database


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A pool on a fresh database; yields the list that counts its pings (peewee's own check, a round trip)."""
    pings: list[int] = []
    own_check = PooledPostgresqlDatabase._is_closed

    def counted(self: PooledPostgresqlDatabase, conn: object) -> bool:
        pings.append(1)
        return own_check(self, conn)

    monkeypatch.setattr(PooledPostgresqlDatabase, "_is_closed", counted)
    with postgres_database() as url:
        bound = db.open_database(url)
        yield pings
        bound.close_all()


def backend() -> int:
    """The server process of the calling thread's connection."""
    return db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def terminate(pid: int) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.01)


def test_a_connection_given_back_a_moment_ago_goes_out_without_a_ping(pool, monkeypatch):
    monkeypatch.setattr(db, "PING_IDLE_S", 60.0)  # a moment, however slow the machine
    with db.database.connection_context():
        first = backend()
    with db.database.connection_context():
        assert backend() == first
    assert pool == []
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)  # every connection counts as idle for long
    with db.database.connection_context():
        assert backend() == first
    assert pool == [1]


def test_a_connection_that_died_while_idle_is_left_out_by_the_ping(pool, monkeypatch):
    with db.database.connection_context():
        dead = backend()
    terminate(dead)
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
    with db.database.connection_context():
        assert backend() != dead
    assert pool == [1]


def test_a_connection_that_died_a_moment_ago_fails_once_and_is_not_handed_out_again(pool, monkeypatch):
    monkeypatch.setattr(db, "PING_IDLE_S", 60.0)
    with db.database.connection_context():
        dead = backend()
    terminate(dead)
    with pytest.raises(peewee.OperationalError), db.database.connection_context():
        backend()
    with db.database.connection_context():
        assert backend() != dead
    assert pool == []

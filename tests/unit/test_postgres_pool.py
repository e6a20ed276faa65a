"""The PostgreSQL connection pool (server/core/db.py, _PooledPostgres): a connection given back a moment ago goes
out again without a ping; one idle for longer is pinged, so a connection that died in the pool is left out; one
that died within the moment fails its first statement and is never handed out again. A transaction's BEGIN goes
with its first statement, in one round trip. A statement past psycopg's cache of converted statements is numbered
once by the pool, not by psycopg on every run."""

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


@pytest.fixture
def sent(pool, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """What the driver is asked to run, each statement with whether it went in a pipeline (batched with the
    statements around it: one round trip for all)."""
    with db.database.connection_context():
        db.database.execute_sql("CREATE TABLE t (id int PRIMARY KEY)")
    run: list[tuple[str, bool]] = []
    execute = psycopg.Cursor.execute

    def recorded(self: psycopg.Cursor, query: str, *args: object, **kwargs: object) -> psycopg.Cursor:
        batched = self.connection.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
        run.append((str(query).split(" (")[0], batched))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    yield run


def count() -> int:
    with db.database.connection_context():
        return db.database.execute_sql("SELECT count(*) FROM t").fetchone()[0]


def test_a_transactions_begin_goes_with_its_first_statement_and_an_empty_one_sends_nothing(sent):
    with db.database.connection_context():  # closed: the transaction connects first, as BEGIN's cursor did
        with db.write_transaction():
            db.database.execute_sql("INSERT INTO t VALUES (1)")
            db.database.execute_sql("INSERT INTO t VALUES (2)")
        assert sent == [("BEGIN", True), ("INSERT INTO t VALUES", True), ("INSERT INTO t VALUES", False),
                        ("COMMIT", False)]
        sent.clear()
        with db.write_transaction():
            pass
        assert sent == []
    assert count() == 2


def test_a_failing_first_statement_fails_as_peewees_error_and_rolls_back(sent):
    with db.database.connection_context():
        db.database.execute_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(peewee.IntegrityError), db.write_transaction():
            db.database.execute_sql("INSERT INTO t VALUES (1)")
        assert not db.database.in_transaction()
        assert sent[-1] == ("ROLLBACK", False)
        with db.write_transaction():  # the connection goes on
            db.database.execute_sql("INSERT INTO t VALUES (2)")
    assert count() == 2


def test_a_cursor_taken_in_a_transaction_runs_inside_it(sent):
    """A statement through a cursor of its own (db.insert_rows' executemany) gets its BEGIN first: rolled back with
    the transaction, not committed by itself."""
    with db.database.connection_context():
        with pytest.raises(RuntimeError), db.write_transaction():
            db.database.cursor().executemany("INSERT INTO t VALUES (%s)", [(1,), (2,)])
            raise RuntimeError("the transaction fails after")
        assert sent[0] == ("BEGIN", False)
    assert count() == 0


def test_placeholders_are_numbered_as_psycopg_numbers_them():
    assert db.numbered("SELECT %s, '100%%', %s WHERE a LIKE '%%s'") == "SELECT $1, '100%', $2 WHERE a LIKE '%s'"
    assert db.numbered("SELECT 1") == "SELECT 1"


def many_values(count: int) -> tuple[str, list[int]]:
    """An INSERT of `count` rows into t, one parameter each: past psycopg's cache of converted statements (more than
    50 parameters), as a group of sends is."""
    return f"INSERT INTO t VALUES {', '.join(['(%s)'] * count)} RETURNING id", list(range(count))


def test_a_long_statement_is_numbered_once_runs_prepared_and_keeps_its_transaction(sent, monkeypatch):
    """psycopg converts a statement of more than 50 parameters (or 4,096 characters) again on every run: the pool
    numbers it once and runs it on a raw cursor, prepared on the server after psycopg's usual five runs, and in the
    transaction it is the first statement of (its BEGIN with it, rolled back with it)."""
    converted: list[int] = []
    convert = psycopg._queries._query2pg_nocache
    monkeypatch.setattr(psycopg._queries, "_query2pg_nocache",
                        lambda *args: converted.append(1) or convert(*args))
    sql, params = many_values(60)
    with db.database.connection_context():
        for _ in range(6):
            db.database.execute_sql("DELETE FROM t")
            assert [id for (id,) in db.database.execute_sql(sql, params).fetchall()] == params
        assert converted == []
        prepared = db.database.execute_sql(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO t VALUES ($1), ($2)%%'")
        assert prepared.fetchone()[0] == 1
        db.database.execute_sql("DELETE FROM t")
        sent.clear()
        with pytest.raises(RuntimeError), db.write_transaction():
            db.database.execute_sql(sql, params)
            raise RuntimeError("the transaction fails after")
        assert sent[0] == ("BEGIN", True)
    assert count() == 0

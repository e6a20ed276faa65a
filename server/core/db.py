"""The database: one Peewee proxy, bound at start to SQLite (WAL) or PostgreSQL from DATABASE_URL.

Peewee keeps one connection per thread. Threads that live as long as the process (the API server's RPC pool, the
event tail) keep theirs open across units of work (`connection(keep=True)`): opening one per RPC was a quarter of
the API server's time. Peewee runs every connection in autocommit mode, so one kept open holds no transaction
between units of work. Threads that come and go take one around each unit of work from a pool of open ones and
give it back after (both backends): opening a SQLite connection and setting its pragmas cost the engine host and
the workers 10-15 % of their time when each unit of work opened its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import peewee
import psycopg
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

database = peewee.DatabaseProxy()
T = TypeVar("T")

_SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    # Several processes write the same file: wait for the lock instead of failing at once.
    "busy_timeout": 10000,
    "synchronous": "normal",
}


# PostgreSQL connections a process may hold at once, unless it asks for more (the API server: one per thread).
DEFAULT_MAX_CONNECTIONS = 32
# A thread that finds them all in use waits this long for one (a burst: an engine host restoring many sessions at
# once) instead of failing at once.
POOL_WAIT_S = 10


# A pooled PostgreSQL connection is pinged on check-out (`SELECT 1`, a round trip) only when it sat in the pool
# longer than this.
PING_IDLE_S = 1.0


# psycopg turns a statement's %s placeholders into PostgreSQL's $n on every run once the statement is longer than
# 4,096 characters or has more than 50 parameters (the limits of its cache: ORMs make VALUES lists of ever new
# lengths). The gateway's long statements are few and the same each time (a group of sends: 57-252 parameters in
# 14 lengths; a sent batch item's one statement: 4,594 characters): such a statement is numbered here, once up to
# NUMBERED_CACHED_CHARS, and runs on a raw cursor, which takes $n as it is. psycopg's conversion was a tenth of an
# API server's time on sends (py-spy, bench.api's POST on PostgreSQL).
_PSYCOPG_CACHED_CHARS = 4096
_PSYCOPG_CACHED_PARAMS = 50
NUMBERED_CACHED_CHARS = 16384
_PLACEHOLDER = re.compile(r"%%|%s")


def numbered(sql: str) -> str:
    """`sql` with its %s placeholders numbered $1, $2, … and each %% as %, as psycopg sends it."""
    return _numbered_cached(sql) if len(sql) <= NUMBERED_CACHED_CHARS else _number(sql)


def _number(sql: str) -> str:
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda found: "%" if found[0] == "%%" else f"${next(numbers)}", sql)


_numbered_cached = functools.lru_cache(maxsize=256)(_number)


class _PooledPostgres(PooledPostgresqlDatabase):
    """Peewee's pool, but for the ping. Peewee pings every connection it hands out, holding the pool's lock: 160 µs
    of CPU and a round trip for every `connection()` (against 130 for a statement), five times a delivered message
    in an engine host. A connection given back less than PING_IDLE_S ago, idle and not closed, goes out as it is; one
    that died since fails its first statement as one lost mid-work does, which every caller survives (a step, a
    group commit or an RPC tried again), and is not given back to the pool."""

    def __init__(self, database: str, **kwargs: Any) -> None:
        super().__init__(database, **kwargs)
        self._returned_at: dict[int, float] = {}

    def _is_closed(self, conn: Any) -> bool:
        returned = self._returned_at.pop(self.conn_key(conn), None)
        if (returned is not None and time.monotonic() - returned < PING_IDLE_S and not conn.closed
                and self._adapter.txn_status(conn) == self._adapter.txn_idle):
            return False
        return super()._is_closed(conn)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        if not close_conn:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        super()._close(conn, close_conn)

    def _close_raw(self, conn: Any) -> None:
        self._returned_at.pop(self.conn_key(conn), None)
        super()._close_raw(conn)

    # A transaction's BEGIN is sent with its first statement, in one round trip (psycopg's pipeline mode), or not
    # at all when it runs none: alone, it was a round trip of every transaction (a tenth of an engine host's).
    # Anything that takes a cursor of its own (executemany) sends it first, alone.

    def begin(self, isolation_level: Any = None) -> None:
        if isolation_level or self._isolation_level:
            super().begin(isolation_level)
            return
        if self.is_closed():  # connected now, as BEGIN's cursor would: connecting later would reset the transaction
            self.connect()
        self._state.begin_pending = True

    def _begun(self) -> bool:
        """Whether a BEGIN was held back, now owed (and no longer held)."""
        pending = getattr(self._state, "begin_pending", False)
        self._state.begin_pending = False
        return pending

    def cursor(self, named_cursor: Any = None, raw: bool = False) -> Any:
        cursor = psycopg.RawCursor(self.connection()) if raw else super().cursor()
        if self._begun():
            with peewee.__exception_wrapper__:
                cursor.execute("BEGIN")
        return cursor

    def _execute_cursor(self, sql: str, params: Any, **cursor_options: Any) -> Any:
        if len(sql) > _PSYCOPG_CACHED_CHARS or len(params or ()) > _PSYCOPG_CACHED_PARAMS:
            sql, cursor_options = numbered(sql), {**cursor_options, "raw": True}
        if not self._begun():
            return super()._execute_cursor(sql, params, **cursor_options)
        # The pipeline sends both when it ends (the statement's error, if any, raised there as peewee's).
        with peewee.__exception_wrapper__, self._state.conn.pipeline():
            self._state.conn.cursor().execute("BEGIN")
            return super()._execute_cursor(sql, params, **cursor_options)

    def commit(self) -> None:
        if not self._begun():
            super().commit()

    def rollback(self) -> None:
        if not self._begun():
            super().rollback()


def open_database(url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> peewee.Database:
    """Bind the proxy to the database at `url` and return it.

    PostgreSQL gets a connection pool of `max_connections`: threads that come and go take a connection from it
    and give it back after each unit of work, and threads that stay keep one.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # No cap: SQLite connections are cheap, and a thread waiting for one would only wait for the write lock.
        db = PooledSqliteDatabase(str(path), pragmas=_SQLITE_PRAGMAS, check_same_thread=False, max_connections=None)
        _sqlite_writers.bind(path)
    elif url.startswith(("postgres://", "postgresql://")):
        params = db_url.parse(url)
        db = _PooledPostgres(params.pop("database"), **params, max_connections=max_connections, stale_timeout=300,
                             timeout=POOL_WAIT_S)
    else:
        raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {url.split(':')[0]}")
    database.initialize(db)
    return db


@contextlib.contextmanager
def connection(*, keep: bool = False) -> Iterator[None]:
    """The calling thread's connection for a unit of work: the one it holds, or one opened for it. With `keep`
    (threads that live as long as the process), one opened here stays open after; without, it is closed after.
    A connection that failed (the server restarted, the network dropped) is closed, so the next unit of work
    opens a fresh one rather than failing on the broken one forever."""
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        yield
    except (peewee.OperationalError, peewee.InterfaceError):
        if not database.in_transaction():
            database.close()
        raise
    finally:
        if opened and not keep and not database.is_closed() and not database.in_transaction():
            database.close()


def connected(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` with the calling thread's connection, kept open after: for the threads of a pool that lives
    as long as the process (the API server's RPC threads, its stream readers)."""
    with connection(keep=True):
        return work(*args)


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def utcnow() -> dt.datetime:
    """Naive UTC: both backends store timestamps without a zone, all of them UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _SqliteWriters:
    """SQLite lets one writer in at a time, and one that finds the database locked sleeps in growing steps (up to
    100 ms) before it tries again: under load, writers would mostly sleep while the lock is free. Writers of every
    process of the gateway (API servers, workers, engine hosts share the file) queue here instead: a thread lock
    among the threads of a process, then an advisory lock on a file beside the database among the processes, which
    the kernel hands to the next waiter the moment it is released (and releases when its holder dies). Whoever holds
    it takes SQLite's own lock at once.

    The wait has no timeout, as SQLite's would: nothing may wait for another process while it holds a write
    transaction (no call to an engine host or a worker inside one), which the gateway's transactions keep to."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # nested write transactions of the holding thread (savepoints): the file lock is taken once
        self._path: Path | None = None
        self._files: dict[Path, int] = {}

    def bind(self, database_path: Path) -> None:
        with self._lock:
            self._path = Path(f"{database_path}-writer.lock")

    def _file(self) -> int:
        assert self._path is not None, "open_database binds the writer lock to the database"
        fd = self._files.get(self._path)
        if fd is None:
            fd = self._files[self._path] = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)


_sqlite_writers = _SqliteWriters()


@contextlib.contextmanager
def write_transaction(*, savepoint: bool = False) -> Iterator[None]:
    """A transaction that takes SQLite's write lock up front, so two writers never deadlock on upgrade (writers of
    every process one after the other: _SqliteWriters).

    Inside another transaction it joins that one: its work commits or rolls back with it. A savepoint there would
    undo only its own work when it fails, which matters only to a caller that catches the failure and goes on
    inside the transaction: such a caller asks for one (`savepoint=True`). Every other nested savepoint was two
    statements for nothing, under SQLite's one write lock (a sent message's record took eleven statements, two of
    them its savepoint's) or two round trips to PostgreSQL."""
    if database.in_transaction():
        with database.atomic() if savepoint else contextlib.nullcontext():
            yield
        return
    if not is_sqlite():
        with database.atomic():
            yield
        return
    with _sqlite_writers.held(), database.obj.atomic("IMMEDIATE"):
        yield


@contextlib.contextmanager
def write_statement() -> Iterator[None]:
    """For a write of one statement: on PostgreSQL no transaction of its own, since outside one the statement
    commits by itself (the connection is in autocommit), which spares a BEGIN and a COMMIT, each a round trip
    (inside one it joins it, as write_transaction does); on SQLite a write transaction, for its turn of the write
    lock (_SqliteWriters). Anything more than one statement belongs in a write_transaction."""
    if not is_sqlite():
        yield
        return
    with write_transaction():
        yield


class _Unit:
    """One caller's work in a commit group, and its outcome."""

    def __init__(self, work: Callable[[], Any] | None, savepoint: bool, item: Any = None, replayable: bool = False):
        self.work = work  # None: an item, written by the group's `flush` with the others of its transaction
        self.savepoint = savepoint
        self.replayable = replayable
        self.item = item
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        # Released when the unit is finished, or when its caller is to lead the next group: a lock held from the
        # start, which its caller blocks on. An Event does the same through a Condition, a lock of its own and a
        # list of waiters, twice the Python per wake on a path every follower of every group takes.
        self._ready = threading.Lock()
        self._ready.acquire()

    def wait(self) -> None:
        self._ready.acquire()

    def wake(self) -> None:
        self._ready.release()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class CommitGroup:
    """Group commit: units of work of one key (a profile) that arrive while a write transaction of that key is
    under way run together in the next one, each in a savepoint of its own. Under load, many sends of a profile
    share one BEGIN and one COMMIT (one turn of SQLite's write lock, one flush of PostgreSQL's log) instead of paying
    for one each. One transaction holds one key's work: on PostgreSQL it locks that key's rows (the profile's send
    gate), and holding several keys' at once could deadlock with a process that locks them in another order (the
    workers renewing their leases).

    Each caller's `run` returns only after the transaction holding its work committed (nothing is answered before
    it is stored), and raises what its own work raised (its savepoint is rolled back; the others' work stands), or
    what failed the commit. Work that can only fail by a database error that fails the whole transaction anyway
    may go without a savepoint (`savepoint=False`): two statements fewer, which on PostgreSQL are round trips.
    Units run in the order they arrived. The work runs on the thread of the group's leader: it must not depend on
    the caller's thread (its context variables).

    Work that does nothing but read and write the database, and so may run again (`replayable`), goes without its
    savepoint in a group of such work alone: when one unit fails, the transaction is rolled back, that unit fails,
    and the others run again in a transaction of their own, each in its savepoint then. Failures are rare and the
    savepoints' statements were on every unit (an engine host's receipts: two round trips each on PostgreSQL).

    Items (`add`) are the cheapest units: plain values that the group's `flush(key, items)` writes all at once, in
    the transaction, before the units of work (a profile's sends: one mark of its gate and one insert for all of
    them, where each send's own would take the gate row's lock for as many round trips). `flush` answers one
    result per item; when it raises, the whole transaction fails. A `flush` that is atomic by itself
    (`atomic_flush`: one statement, or a transaction of its own) runs a group of items alone as write_statement
    does: on PostgreSQL outside a transaction, where BEGIN and COMMIT would be two more round trips of the group's
    leader while the others wait.
    """

    def __init__(self, flush: Callable[[str, list[Any]], list[Any]] | None = None, *,
                 atomic_flush: bool = False) -> None:
        self._flush = flush
        self._atomic_flush = atomic_flush
        self._lock = threading.Lock()
        self._waiting: dict[str, list[_Unit]] = {}  # key → the units waiting for its next transaction
        self._leading: set[str] = set()  # keys with a transaction under way (or about to start)

    def run(self, work: Callable[[], T], key: str = "", *, savepoint: bool = True, replayable: bool = False) -> T:
        return self._join(_Unit(work, savepoint, replayable=replayable), key)

    def add(self, item: Any, key: str = "") -> Any:
        """Have `item` written by `flush` with the others of the key's next transaction; returns its result."""
        if self._flush is None:
            raise TypeError("a CommitGroup without `flush` takes units of work only")
        return self._join(_Unit(None, False, item), key)

    def _join(self, unit: _Unit, key: str) -> Any:
        with self._lock:
            self._waiting.setdefault(key, []).append(unit)
            lead = key not in self._leading
            self._leading.add(key)
        if not lead:
            unit.wait()
            if unit.finished:
                return unit.outcome()
        with self._lock:  # leading: this unit and every one of the key that came while the last group ran
            group = self._waiting.pop(key)
        try:
            self._commit(key, group)
        finally:
            with self._lock:
                if self._waiting.get(key):
                    self._waiting[key][0].wake()  # the next group's leader
                else:
                    self._leading.discard(key)
        return unit.outcome()

    def _commit(self, key: str, group: list[_Unit]) -> None:
        # A unit alone in its transaction goes without its savepoint (two statements, on PostgreSQL round trips):
        # when it fails, the whole transaction is rolled back instead, which undoes the same work, and only its
        # caller hears of it, as with one. So does every unit of a group of replayable work (`plain`).
        alone = group[0] if len(group) == 1 and group[0].savepoint else None
        plain = alone is None and all(unit.replayable for unit in group if unit.work is not None)
        try:
            with connection():
                try:
                    self._transaction(key, group, alone, plain)
                except Exception as error:
                    failed = next((unit for unit in group if unit.error is error), None)
                    if failed is None or (failed is not alone and not plain):
                        raise
                    if plain:  # none of it stands: the others again, in their savepoints
                        self._transaction(key, [unit for unit in group if unit is not failed], None, False)
        except BaseException as error:  # the transaction failed: none of it stands
            for unit in group:
                if unit.error is None:
                    unit.error, unit.result = error, None
        finally:
            for unit in group:
                unit.finished = True
                unit.wake()

    def _transaction(self, key: str, group: list[_Unit], alone: _Unit | None, plain: bool) -> None:
        items_only = self._atomic_flush and all(unit.work is None for unit in group)
        with write_statement() if items_only else write_transaction():
            items = [unit for unit in group if unit.work is None]
            if items and self._flush is not None:
                results = self._flush(key, [unit.item for unit in items])
                for unit, result in zip(items, results, strict=True):
                    unit.result = result
            for unit in group:
                if unit.work is None:
                    continue
                savepoint = unit.savepoint and unit is not alone and not plain
                try:
                    with database.atomic() if savepoint else contextlib.nullcontext():
                        unit.result = unit.work()
                except Exception as error:
                    unit.error = error
                    if not savepoint:
                        raise  # its writes may be half done: none of the group's stand (or, alone, its own)


def _insert_sql(model: type[peewee.Model], names: Iterable[str], count: int) -> tuple[str, list[peewee.Field]]:
    """`INSERT INTO table (columns) VALUES (…)`, with `count` rows of placeholders, and the fields in order."""
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    row = f"({', '.join([database.param] * len(fields))})"
    return f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES {", ".join([row] * count)}', fields


def insert_statement(model: type[peewee.Model], rows: list[dict[str, object]]) -> tuple[str, list[Any]]:
    """One INSERT of all `rows` (`VALUES (…), (…)`): its SQL and parameters, for a statement that carries it (a
    data-modifying CTE on PostgreSQL). Values go through each field's db_value, as in insert_rows; the caller keeps
    the parameters within what one statement may carry (PostgreSQL: 65,535)."""
    sql, fields = _insert_sql(model, rows[0], len(rows))
    return sql, [field.db_value(row[field.name]) for row in rows for field in fields]


def insert_rows(model: type[peewee.Model], rows: list[dict[str, object]]) -> None:
    """Insert rows in one statement batch through the driver's executemany. Peewee's insert_many builds and
    converts every value in Python: ten times slower for a 10,000-item bulk send (and its single insert costs
    several times what this does for one row, on the send path). Values go through each
    field's db_value (JSON fields are encoded); every row must carry the same keys, named like the fields."""
    if not rows:
        return
    with peewee.__exception_wrapper__:  # the driver's errors as Peewee's (IntegrityError), as for Peewee's inserts
        if len(rows) == 1:  # psycopg's executemany goes through its pipeline mode: costly for a single send's row
            database.cursor().execute(*insert_statement(model, rows))
            return
        sql, fields = _insert_sql(model, rows[0], 1)
        database.cursor().executemany(sql, [tuple(field.db_value(row[field.name]) for field in fields)
                                            for row in rows])


def with_ctes(*named: tuple[str, tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """PostgreSQL: a `WITH name AS (…), … ` clause of statements (SQL and parameters, by name) for one statement that
    carries them all: one round trip, and outside a transaction one commit, where each was its own."""
    sql = ", ".join(f"{name} AS ({statement})" for name, (statement, _) in named)
    return f"WITH {sql} ", [param for _, (_, params) in named for param in params]


class _Compiled(NamedTuple):
    """A Prepared statement built for one database: its SQL and parameters (`slots`: which value goes where), and for a
    select how a row becomes a model instance (each field's position, name and conversion, each alias's position),
    worked out once rather than for every run."""

    sql: str
    params: list[Any]
    slots: list[int | None]
    model: type[peewee.Model] | None
    database: peewee.Database
    readers: tuple[tuple[int, str, Callable[[Any], Any]], ...]
    aliases: tuple[tuple[int, str], ...]

    def arguments(self, values: tuple[Any, ...]) -> list[Any]:
        """The driver's parameters for a run with `values`."""
        return [values[slot] if slot is not None else param for param, slot in zip(self.params, self.slots,
                                                                                    strict=True)]


class Prepared:
    """A query Peewee builds into SQL once per database, then runs with other values: the statements of every
    request (a profile by id, the send path's writes). Peewee builds the SQL of a query anew on each run, which for
    a model of twenty columns costs 100-300 µs, many times what the database spends on it.

    `build` makes the query from its values. They go to the driver as given, as Peewee passes text, numbers and
    datetimes (not values a field converts, such as JSON). Rows of a select come back as model instances, as
    Peewee's own would; a selected expression with an alias (`.alias(name)`) as an attribute of that name.
    """

    def __init__(self, build: Callable[..., peewee.Query], arity: int | None = None):
        self._build = build
        self._arity = build.__code__.co_argcount if arity is None else arity  # given when `build` takes *values
        # By the database's id, with the database itself: an id is reused once its object is gone (tests open one
        # database after another), and SQL built for SQLite does not run on PostgreSQL.
        self._compiled: dict[int, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self) -> _Compiled:
        key = id(database.obj)
        compiled = self._compiled.get(key)
        if compiled is None or compiled.database is not database.obj:
            arity = self._arity
            markers = [f"\x00wagw-value-{index}\x00" for index in range(arity)]
            query = self._build(*markers)
            sql, params = query.sql()
            slots = [markers.index(param) if param in markers else None for param in params]
            if set(slots) - {None} != set(range(arity)):
                raise ValueError("Prepared: a value was changed on its way into the query (only values the driver "
                                 "takes as they are can be prepared)")
            columns = getattr(query, "_returning", None) or ()
            fields = [(at, column) for at, column in enumerate(columns) if isinstance(column, peewee.Field)]
            compiled = _Compiled(
                sql, params, slots, getattr(query, "model", None), database.obj,
                tuple((at, field.name, field.python_value) for at, field in fields),
                tuple((at, column._alias) for at, column in enumerate(columns) if not isinstance(column, peewee.Field)))
            with self._lock:
                self._compiled[key] = compiled
        return compiled

    def execute(self, *values: Any) -> Any:
        """Run it; returns the driver's cursor."""
        return self._run(self._compile(), values)

    def statement(self, *values: Any) -> tuple[str, list[Any]]:
        """Its SQL and the driver's parameters for a run with `values`, for a statement that carries it."""
        compiled = self._compile()
        return compiled.sql, compiled.arguments(values)

    @staticmethod
    def _run(compiled: _Compiled, values: tuple[Any, ...]) -> Any:
        return database.execute_sql(compiled.sql, compiled.arguments(values))

    def all(self, *values: Any) -> list[Any]:
        """The rows of a select (of a model's fields), as model instances."""
        compiled = self._compile()
        model, readers, aliases = compiled.model, compiled.readers, compiled.aliases
        rows = []
        for row in self._run(compiled, values).fetchall():
            instance = model(__no_default__=1)
            instance.__data__ = {name: read(row[at]) for at, name, read in readers}
            for at, alias in aliases:
                setattr(instance, alias, row[at])
            rows.append(instance)
        return rows

    def first(self, *values: Any) -> Any | None:
        rows = self.all(*values)
        return rows[0] if rows else None

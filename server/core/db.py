"""The database: one Peewee proxy, bound at start to SQLite (WAL) or PostgreSQL from DATABASE_URL.

Peewee keeps one connection per thread. Threads that live as long as the process (the API server's RPC pool, the
event tail) keep theirs open across units of work (`connection(keep=True)`): opening one per RPC was a quarter of
the API server's time. Peewee runs every connection in autocommit mode, so one kept open holds no transaction
between units of work. Threads that come and go open and close theirs around each unit of work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peewee
from playhouse import db_url

database = peewee.DatabaseProxy()

_SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    # Several processes write the same file: wait for the lock instead of failing at once.
    "busy_timeout": 10000,
    "synchronous": "normal",
}


# PostgreSQL connections a process may hold at once, unless it asks for more (the API server: one per thread).
DEFAULT_MAX_CONNECTIONS = 32


def open_database(url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> peewee.Database:
    """Bind the proxy to the database at `url` and return it.

    PostgreSQL gets a connection pool of `max_connections`: threads that come and go take a connection from it
    and give it back after each unit of work, and threads that stay keep one.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(str(path), pragmas=_SQLITE_PRAGMAS, check_same_thread=False)
    elif url.startswith(("postgres://", "postgresql://")):
        scheme, rest = url.split("://", 1)
        db = db_url.connect(f"{scheme}+pool://{rest}", max_connections=max_connections, stale_timeout=300)
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


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def utcnow() -> dt.datetime:
    """Naive UTC: both backends store timestamps without a zone, all of them UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def write_transaction() -> peewee._transaction:
    """A transaction that takes SQLite's write lock up front, so two writers never deadlock on upgrade."""
    if is_sqlite():
        return database.obj.atomic("IMMEDIATE")
    return database.atomic()


def insert_rows(model: type[peewee.Model], rows: list[dict[str, object]]) -> None:
    """Insert many rows in one statement batch through the driver's executemany. Peewee's insert_many builds
    and converts every value in Python: ten times slower for a 10,000-item bulk send. Values go through each
    field's db_value (JSON fields are encoded); every row must carry the same keys, named like the fields."""
    if not rows:
        return
    fields = [model._meta.fields[name] for name in rows[0]]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    placeholders = ", ".join([database.param] * len(fields))
    sql = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({placeholders})'
    values = [tuple(field.db_value(row[field.name]) for field in fields) for row in rows]
    database.cursor().executemany(sql, values)


class Prepared:
    """A select Peewee builds into SQL once per database, then runs with other values: the hot reads of every
    request (a profile by id). Peewee builds the SQL of a select anew on each run, which for a model of twenty
    columns costs 100-300 µs, many times what the database spends on it.

    `build` makes the query from its values, all text (they are compared with text columns); the rows come back
    as model instances, as Peewee's own would.
    """

    def __init__(self, build: Callable[..., peewee.ModelSelect]):
        self._build = build
        self._compiled: dict[int, tuple[str, list[Any], list[int | None], type[peewee.Model], list[Any]]] = {}
        self._lock = threading.Lock()

    def _compile(self) -> tuple[str, list[Any], list[int | None], type[peewee.Model], list[Any]]:
        key = id(database.obj)
        compiled = self._compiled.get(key)
        if compiled is None:
            arity = self._build.__code__.co_argcount
            markers = [f"\x00wagw-value-{index}\x00" for index in range(arity)]
            query = self._build(*markers)
            sql, params = query.sql()
            slots = [markers.index(param) if param in markers else None for param in params]
            if sorted(slot for slot in slots if slot is not None) != list(range(arity)):
                raise ValueError("Prepared: each value must appear once, unchanged, among the query's parameters")
            fields = list(query._returning)
            compiled = (sql, params, slots, query.model, fields)
            with self._lock:
                self._compiled[key] = compiled
        return compiled

    def all(self, *values: str) -> list[Any]:
        sql, params, slots, model, fields = self._compile()
        cursor = database.execute_sql(sql, [values[slot] if slot is not None else param
                                            for param, slot in zip(params, slots, strict=True)])
        rows = []
        for row in cursor.fetchall():
            instance = model(__no_default__=1)
            instance.__data__ = {field.name: field.python_value(value) for field, value in zip(fields, row,
                                                                                              strict=True)}
            instance._dirty.clear()
            rows.append(instance)
        return rows

    def first(self, *values: str) -> Any | None:
        rows = self.all(*values)
        return rows[0] if rows else None

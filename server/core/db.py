"""The database: one Peewee proxy, bound at start to SQLite (WAL) or PostgreSQL from DATABASE_URL.

Peewee keeps one connection per thread. Threads that live as long as the process (the API server's RPC pool, the
event tail) keep theirs open across units of work (`connection(keep=True)`): opening one per RPC was a quarter of
the API server's time. Peewee runs every connection in autocommit mode, so one kept open holds no transaction
between units of work. Threads that come and go open and close theirs around each unit of work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

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

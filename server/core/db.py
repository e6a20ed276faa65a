"""The database: one Peewee proxy, bound at start to SQLite (WAL) or PostgreSQL from DATABASE_URL."""

from __future__ import annotations

import datetime as dt
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


def open_database(url: str) -> peewee.Database:
    """Bind the proxy to the database at `url` and return it.

    PostgreSQL gets a connection pool, since every RPC opens and closes a connection around its work.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(str(path), pragmas=_SQLITE_PRAGMAS, check_same_thread=False)
    elif url.startswith(("postgres://", "postgresql://")):
        scheme, rest = url.split("://", 1)
        db = db_url.connect(f"{scheme}+pool://{rest}", max_connections=32, stale_timeout=300)
    else:
        raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {url.split(':')[0]}")
    database.initialize(db)
    return db


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

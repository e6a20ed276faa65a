"""The SQL statements a test's code runs, from Peewee's query log (both backends; statements the driver runs
directly, such as BEGIN and COMMIT on PostgreSQL or db.insert_rows, are not in it)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def sql_run() -> Iterator[list[str]]:
    """The SQL statements Peewee runs meanwhile, upper-cased."""
    run: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
            run.append(sql.upper())

    logger, handler = logging.getLogger("peewee"), Capture(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield run
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

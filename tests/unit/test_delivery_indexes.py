"""The delivery path's lookups (server/core/lifecycle.py: a profile's next single send, its next batch item, a
receipt's message) read one index entry each, without a sort, however long the profile's backlog and history are,
and whatever the planner's statistics say. PostgreSQL plans each lookup generically, as for a statement its driver
prepared: once while the table is empty and never analysed (a gateway whose table grew since), once with
statistics. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from server.core import db, lifecycle, migrations
from server.core.db import Prepared
from server.core.models import Batch, Message, Profile
from tests.support.stack import postgres_database

NOW = dt.datetime(2026, 11, 30, 12)
HISTORY, BACKLOG, ITEMS = 600, 400, 300


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        db.open_database(f"sqlite:///{tmp_path / 'd.db'}")
        migrations.migrate()
        yield request.param
    else:
        with postgres_database() as url:
            db.open_database(url)
            migrations.migrate()
            yield request.param
            db.database.close()


def fill() -> None:
    """Profile `busy` gets a long history (READ), a backlog of single sends and a batch; another profile as many
    messages again."""
    for profile_id in ("busy", "other"):
        Profile.create(id=profile_id, name=profile_id, engine="simulator")
    Batch.create(id="b1", profile="busy", status="RUNNING", total=ITEMS, delay_ms=0, created_at=NOW, updated_at=NOW)
    rows = []
    for n in range(HISTORY + BACKLOG + ITEMS):
        read, item = n < HISTORY, n >= HISTORY + BACKLOG
        rows.append(_row(f"msg_{n:05d}", "busy", n, "READ" if read else "PENDING", f"wa{n}" if read else None,
                         "b1" if item else None, n - HISTORY - BACKLOG if item else None,
                         NOW + dt.timedelta(seconds=n) if n == HISTORY + BACKLOG else None))
        rows.append(_row(f"oth_{n:05d}", "other", n, "READ", f"wo{n}", None, None, None))
    with db.database.atomic():
        for start in range(0, len(rows), 500):
            Message.insert_many(rows[start:start + 500]).execute()


def _row(message_id: str, profile_id: str, n: int, status: str, wa_id: str | None, batch_id: str | None,
         index: int | None, not_before: dt.datetime | None) -> dict[str, Any]:
    return {"id": message_id, "profile": profile_id, "chat_id": "62811@s.whatsapp.net", "direction": "OUTBOUND",
            "type": "TEXT", "content": {"text": str(n)}, "status": status, "wa_message_id": wa_id,
            "batch_id": batch_id, "batch_index": index, "not_before": not_before,
            "created_at": NOW + dt.timedelta(milliseconds=n), "updated_at": NOW}


def _prepare(prepared: Prepared, values: tuple[Any, ...]) -> None:
    """PostgreSQL: the lookup prepared and planned generically, as the driver's prepared statement is once it has
    run a few times, here while the table is still small (the plan stays when it grows)."""
    sql, arguments = prepared.statement(*values)
    db.database.execute_sql("SET plan_cache_mode = force_generic_plan")
    types = ", ".join("bigint" if isinstance(value, int) else "timestamp" if isinstance(value, dt.datetime) else "text"
                      for value in arguments)
    numbered = sql.replace("%s", "{}").format(*(f"${n}" for n in range(1, len(arguments) + 1)))
    db.database.execute_sql(f"PREPARE lookup ({types}) AS {numbered}")
    db.database.execute_sql(f"EXPLAIN EXECUTE lookup({_literals(arguments)})")  # plans it now


def _literals(arguments: list[Any]) -> str:
    return ", ".join(str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
                     for value in arguments)


def _plan(kind: str, prepared: Prepared, values: tuple[Any, ...]) -> Any:
    """SQLite's query plan; PostgreSQL's prepared lookup, run."""
    sql, arguments = prepared.statement(*values)
    if kind == "sqlite":
        return [row[-1] for row in db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, arguments)]
    [(plan,)] = db.database.execute_sql(
        f"EXPLAIN (ANALYZE, TIMING off, FORMAT JSON) EXECUTE lookup({_literals(arguments)})")
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("analysed", [False, True], ids=["planned-while-empty", "analysed"])
@pytest.mark.parametrize(("name", "prepared", "values", "found"), [
    ("the next single send and batch item", lifecycle._NEXT, ("busy",), [f"msg_{HISTORY:05d}",
                                                                         f"msg_{HISTORY + BACKLOG:05d}"]),
    ("a receipt's message", lifecycle._OUTBOUND_BY_WA_ID, ("busy", "wa7"), ["msg_00007"]),
])
def test_each_lookup_reads_one_entry_without_sorting(backend, analysed, name, prepared, values, found):
    with db.database.connection_context():  # one connection: a prepared statement is its session's
        if backend == "postgres" and not analysed:
            _prepare(prepared, values)
        fill()
        if backend == "postgres" and analysed:
            db.database.execute_sql("ANALYZE message")
            _prepare(prepared, values)
        assert [row.id for row in prepared.all(*values)] == found
        plan = _plan(backend, prepared, values)
    if backend == "sqlite":
        # Every read of a table searches an index (a UNION's scans of its own subqueries' one row each aside).
        reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and not step.startswith("SCAN (subquery")]
        assert reads and not any("TEMP B-TREE" in step for step in plan), (name, plan)
        assert all(step.startswith("SEARCH") and ("USING INDEX" in step or "USING COVERING INDEX" in step
                                                  or "USING PRIMARY KEY" in step) for step in reads), (name, plan)
    else:
        nodes = list(_nodes(plan))
        assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), (name, plan)
        read = sum(node["Actual Rows"] for node in nodes if "Relation Name" in node)  # rows read from a table
        assert read <= len(found), (name, read, plan)  # one entry each lookup


LEFT = 200  # items of the batch that left the queue before the next is scheduled


@pytest.mark.parametrize("analysed", [False, True], ids=["planned-while-empty", "analysed"])
def test_the_next_item_to_schedule_is_found_without_reading_the_items_that_left(backend, analysed):
    """After each item leaves the queue, the batch's next waiting item gets its time (lifecycle._SCHEDULE_NEXT). In
    the index of all the batch's items it was the first PENDING one after every item that had left, each read and
    passed: a batch's schedules took time in the square of its size. It is found in an index of the waiting items
    alone."""
    values = (NOW, "b1")
    with db.database.connection_context():
        if backend == "postgres" and not analysed:
            _prepare(lifecycle._SCHEDULE_NEXT, values)
        fill()
        Message.update(status="READ").where((Message.batch_id == "b1") & (Message.batch_index < LEFT)).execute()
        if backend == "postgres" and analysed:
            db.database.execute_sql("ANALYZE message")
            _prepare(lifecycle._SCHEDULE_NEXT, values)
        plan = _plan(backend, lifecycle._SCHEDULE_NEXT, values)  # on PostgreSQL run too (EXPLAIN ANALYZE)
        if backend == "sqlite":
            assert any("USING INDEX message_waiting_batch_items" in step for step in plan), plan
            lifecycle._SCHEDULE_NEXT.execute(*values)
        else:
            nodes = list(_nodes(plan))
            assert not any(node["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan") for node in nodes), plan
            assert not any(node.get("Rows Removed by Filter") for node in nodes), plan  # none read and passed
        scheduled = Message.select().where((Message.batch_id == "b1") & Message.not_before.is_null(False))
        assert sorted(row.batch_index for row in scheduled) == [0, LEFT]

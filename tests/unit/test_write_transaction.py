"""Nested write transactions (server/core/db.py's write_transaction), on SQLite: one inside another joins it, with no
savepoint of its own (two statements, each a turn of the write lock, on every record of a sent message or a
receipt); one that asks for a savepoint undoes only its own work when it fails and its caller goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core import db, migrations
from server.core.models import Profile


@pytest.fixture(autouse=True)
def statements(tmp_path: Path) -> Iterator[list[str]]:
    """The SQL the connection runs, from here on."""
    db.open_database(f"sqlite:///{tmp_path / 'nested.db'}")
    migrations.migrate()
    run: list[str] = []
    with db.connection():
        db.database.connection().set_trace_callback(run.append)
        yield run
    db.database.close()


def create(profile_id: str) -> None:
    Profile.create(id=profile_id, name=profile_id, engine="simulator")


def stored() -> list[str]:
    return sorted(profile.id for profile in Profile.select())


def savepoints(statements: list[str]) -> list[str]:
    return [sql for sql in statements if "SAVEPOINT" in sql.upper()]


def test_a_nested_write_transaction_joins_the_outer_one(statements):
    with db.write_transaction():
        create("outer")
        with db.write_transaction():
            create("inner")
    assert stored() == ["inner", "outer"]
    assert savepoints(statements) == []

    with pytest.raises(RuntimeError), db.write_transaction():
        create("second-outer")
        with db.write_transaction():
            create("second-inner")
        raise RuntimeError("the outer transaction fails after the inner one finished")
    assert stored() == ["inner", "outer"]  # the inner one's work went with the outer one's


def test_a_nested_failure_fails_the_whole_transaction_when_nobody_catches_it(statements):
    with pytest.raises(RuntimeError), db.write_transaction():
        create("outer")
        with db.write_transaction():
            create("inner")
            raise RuntimeError("the inner work fails")
    assert stored() == []


def test_a_savepoint_asked_for_undoes_only_its_own_work(statements):
    with db.write_transaction():
        create("outer")
        with pytest.raises(RuntimeError), db.write_transaction(savepoint=True):
            create("inner")
            raise RuntimeError("the inner work fails; its caller goes on")
        create("after")
    assert stored() == ["after", "outer"]
    assert len(savepoints(statements)) == 2  # SAVEPOINT, then ROLLBACK TO SAVEPOINT


def test_an_outermost_write_transaction_asked_for_a_savepoint_is_a_transaction(statements):
    with pytest.raises(RuntimeError), db.write_transaction(savepoint=True):
        create("alone")
        raise RuntimeError("fails")
    with db.write_transaction(savepoint=True):
        create("kept")
    assert stored() == ["kept"]
    assert savepoints(statements) == []

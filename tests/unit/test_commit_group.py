"""Group commit (server/core/db.py's CommitGroup), on SQLite: work that arrives while a transaction runs shares the
next one; each unit's failure is its own; nothing is answered before its transaction committed."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core import db, migrations
from server.core.models import Profile

TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[None]:
    db.open_database(f"sqlite:///{tmp_path / 'group.db'}")
    migrations.migrate()
    yield
    db.database.close()


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the write transactions (one entry each)."""
    count: list[int] = []
    real = db.write_transaction

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        count.append(1)
        with real():
            yield

    monkeypatch.setattr(db, "write_transaction", counted)
    return count


def stored() -> list[str]:
    with db.connection():
        return sorted(profile.id for profile in Profile.select())


def create(profile_id: str) -> str:
    Profile.create(id=profile_id, name=profile_id, engine="simulator")
    return profile_id


def in_threads(group: db.CommitGroup, names: list[str]) -> tuple[list[threading.Thread], dict[str, object]]:
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = group.run(lambda: create("p1") if name == "bad" else create(name),
                                       key="pz" if name == "bad" else name)
        except Exception as error:
            outcomes[name] = error

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    return threads, outcomes


def test_work_that_arrives_during_a_transaction_shares_the_next_one(transactions):
    group = db.CommitGroup()
    started, release = threading.Event(), threading.Event()

    def first() -> str:
        started.set()
        assert release.wait(TIMEOUT)
        return create("p0")

    leader = threading.Thread(target=group.run, args=(first,), kwargs={"key": "p0"})
    leader.start()
    assert started.wait(TIMEOUT)
    threads, outcomes = in_threads(group, [f"p{i}" for i in range(1, 6)])
    while len(group._waiting) < 5:  # every one of them waits for the running transaction
        threading.Event().wait(0.01)
    assert stored() == []
    release.set()
    for thread in [leader, *threads]:
        thread.join(TIMEOUT)
    assert outcomes == {f"p{i}": f"p{i}" for i in range(1, 6)}
    assert stored() == [f"p{i}" for i in range(6)]
    assert len(transactions) == 2  # the first alone, then the five together


def test_a_units_failure_is_its_own(transactions):
    group = db.CommitGroup()
    started, release = threading.Event(), threading.Event()

    def first() -> str:
        started.set()
        assert release.wait(TIMEOUT)
        return create("p0")

    leader = threading.Thread(target=group.run, args=(first,))
    leader.start()
    assert started.wait(TIMEOUT)
    threads, outcomes = in_threads(group, ["bad", "p1", "p2"])  # "bad" creates p1 again, after it: a duplicate
    while len(group._waiting) < 3:
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *threads]:
        thread.join(TIMEOUT)
    assert outcomes["p1"] == "p1" and outcomes["p2"] == "p2"
    assert "UNIQUE" in str(outcomes["bad"]) or "unique" in str(outcomes["bad"])
    assert stored() == ["p0", "p1", "p2"]  # the failed unit's savepoint only was rolled back
    assert len(transactions) == 2


def test_a_failed_commit_fails_every_unit_of_it(monkeypatch):
    group = db.CommitGroup()

    @contextlib.contextmanager
    def failing() -> Iterator[None]:
        with db.database.atomic() as transaction:
            yield
            transaction.rollback()
        raise db.peewee.OperationalError("disk I/O error")

    monkeypatch.setattr(db, "write_transaction", failing)
    with pytest.raises(db.peewee.OperationalError, match="disk I/O error"):
        group.run(lambda: create("p0"))
    assert stored() == []
    monkeypatch.undo()
    assert group.run(lambda: create("p1")) == "p1"  # the group leads again after a failure
    assert stored() == ["p1"]


def test_work_without_a_savepoint_that_fails_fails_its_whole_group():
    group = db.CommitGroup()
    started, release = threading.Event(), threading.Event()

    def first() -> str:
        started.set()
        assert release.wait(TIMEOUT)
        return create("p0")

    leader = threading.Thread(target=group.run, args=(first,))
    leader.start()
    assert started.wait(TIMEOUT)
    outcomes: dict[str, object] = {}

    def run(name: str, work: object, savepoint: bool) -> None:
        try:
            outcomes[name] = group.run(work, key=name, savepoint=savepoint)
        except Exception as error:
            outcomes[name] = error

    def half_done() -> str:
        create("p2")
        raise db.peewee.OperationalError("the connection broke")

    threads = [threading.Thread(target=run, args=("p1", lambda: create("p1"), True)),
               threading.Thread(target=run, args=("p2", half_done, False))]
    for thread in threads:
        thread.start()
    while len(group._waiting) < 2:
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *threads]:
        thread.join(TIMEOUT)
    assert isinstance(outcomes["p1"], db.peewee.OperationalError)  # not stored: it is not answered as stored
    assert isinstance(outcomes["p2"], db.peewee.OperationalError)
    assert stored() == ["p0"]

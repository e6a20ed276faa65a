"""Group commit (server/core/db.py's CommitGroup), on SQLite: a key's work that arrives while a transaction of that
key runs shares the next one; other keys' work runs in transactions of its own; each unit's failure is its own;
nothing is answered before its transaction committed."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.core import db, migrations
from server.core.models import Profile
from tests.support.sql import sql_run

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


class Held:
    """A group whose first transaction (key "k") is held open until `release`, so that work queues behind it."""

    def __init__(self, flush: Callable[[str, list[object]], list[object]] | None = None) -> None:
        self.group = db.CommitGroup(flush)
        self.outcomes: dict[str, object] = {}
        self.threads: list[threading.Thread] = []
        started, self._release = threading.Event(), threading.Event()

        def first() -> str:
            started.set()
            assert self._release.wait(TIMEOUT)
            return create("p0")

        self.submit("p0", first, "k", True)
        assert started.wait(TIMEOUT)

    def submit(self, name: str, work: Callable[[], object] | None, key: str, savepoint: bool,
               item: object = None, replayable: bool = False) -> None:
        def run() -> None:
            try:
                self.outcomes[name] = (self.group.run(work, key=key, savepoint=savepoint, replayable=replayable)
                                       if work is not None else self.group.add(item, key=key))
            except Exception as error:
                self.outcomes[name] = error

        self.threads.append(threading.Thread(target=run))
        self.threads[-1].start()

    def queue(self, name: str, work: Callable[[], object] | None, key: str = "k", savepoint: bool = True,
              item: object = None, replayable: bool = False) -> None:
        """Submit `work` (or `item`) and wait until it waits behind the held transaction (so units queue in this
        order)."""
        before = len(self.group._waiting.get(key, []))
        self.submit(name, work, key, savepoint, item, replayable)
        while len(self.group._waiting.get(key, [])) == before:
            threading.Event().wait(0.005)

    def release(self) -> dict[str, object]:
        self._release.set()
        for thread in self.threads:
            thread.join(TIMEOUT)
        return self.outcomes


def test_a_keys_work_that_arrives_during_its_transaction_shares_the_next_one(transactions):
    held = Held()
    for index in range(1, 6):
        held.queue(f"p{index}", lambda index=index: create(f"p{index}"))
    assert stored() == []  # nothing is answered before it is committed
    outcomes = held.release()
    assert outcomes == {"p0": "p0", **{f"p{i}": f"p{i}" for i in range(1, 6)}}
    assert stored() == [f"p{i}" for i in range(6)]
    assert len(transactions) == 2  # the first alone, then the five together


def test_other_keys_work_goes_in_transactions_of_its_own(transactions):
    held = Held()
    held.queue("p1", lambda: create("p1"))
    held.submit("other", lambda: create("other"), "another profile", True)
    while "another profile" not in held.group._leading:  # it leads its own key's group (SQLite makes it wait)
        threading.Event().wait(0.005)
    held.release()
    assert stored() == ["other", "p0", "p1"]
    assert len(transactions) == 3  # p0; p1; and the other key's, not joined to p1's


def test_a_units_failure_is_its_own(transactions):
    held = Held()
    held.queue("p1", lambda: create("p1"))
    held.queue("again", lambda: create("p1"))  # a duplicate key
    held.queue("p2", lambda: create("p2"))
    outcomes = held.release()
    assert outcomes["p1"] == "p1" and outcomes["p2"] == "p2"
    assert isinstance(outcomes["again"], db.peewee.IntegrityError)
    assert stored() == ["p0", "p1", "p2"]  # only the failed unit's savepoint was rolled back
    assert len(transactions) == 2


@pytest.fixture
def savepoints() -> Iterator[list[str]]:
    """The savepoints taken meanwhile."""
    with sql_run() as run:
        yield run


def taken(run: list[str]) -> list[str]:
    return [sql for sql in run if sql.startswith("SAVEPOINT")]


def counted(runs: collections.Counter[str], name: str, profile_id: str) -> Callable[[], str]:
    def work() -> str:
        runs[name] += 1
        return create(profile_id)
    return work


def test_replayable_work_goes_without_savepoints(transactions, savepoints):
    held = Held()
    runs: collections.Counter[str] = collections.Counter()
    for index in (1, 2, 3):
        held.queue(f"p{index}", counted(runs, f"p{index}", f"p{index}"), replayable=True)
    assert held.release() == {f"p{index}": f"p{index}" for index in range(4)}
    assert stored() == ["p0", "p1", "p2", "p3"]
    assert (taken(savepoints), runs, len(transactions)) == ([], {"p1": 1, "p2": 1, "p3": 1}, 2)


def test_a_failure_of_replayable_work_is_still_its_own_and_the_others_run_again(transactions, savepoints):
    held = Held()
    runs: collections.Counter[str] = collections.Counter()
    held.queue("p1", counted(runs, "p1", "p1"), replayable=True)
    held.queue("again", counted(runs, "again", "p1"), replayable=True)  # a duplicate key
    held.queue("p2", counted(runs, "p2", "p2"), replayable=True)
    outcomes = held.release()
    assert outcomes["p1"] == "p1" and outcomes["p2"] == "p2"
    assert isinstance(outcomes["again"], db.peewee.IntegrityError)
    assert stored() == ["p0", "p1", "p2"]
    # Rolled back with the transaction (p2 had not run yet), then the two others, each in its savepoint.
    assert (runs, len(taken(savepoints)), len(transactions)) == ({"p1": 2, "again": 1, "p2": 1}, 2, 3)


def test_a_unit_alone_in_its_transaction_goes_without_a_savepoint_and_its_failure_is_still_its_own():
    """Two statements fewer (on PostgreSQL round trips) for work that arrives when no other does: rolled back with
    the transaction, it fails as it would have in a savepoint."""
    group = db.CommitGroup()
    run: list[str] = []
    with db.connection():
        db.database.connection().set_trace_callback(run.append)

        def half_done() -> str:
            create("p1")
            raise ValueError("refused after its first write")

        with pytest.raises(ValueError):
            group.run(half_done, key="k")
        assert group.run(lambda: create("p2"), key="k") == "p2"
        db.database.connection().set_trace_callback(None)
    assert not [sql for sql in run if "SAVEPOINT" in sql.upper()]
    assert stored() == ["p2"]


def test_work_without_a_savepoint_that_fails_fails_its_whole_group():
    held = Held()

    def half_done() -> str:
        create("p2")
        raise db.peewee.OperationalError("the connection broke")

    held.queue("p1", lambda: create("p1"))
    held.queue("p2", half_done, savepoint=False)
    outcomes = held.release()
    assert isinstance(outcomes["p1"], db.peewee.OperationalError)  # not stored, so not answered as stored
    assert isinstance(outcomes["p2"], db.peewee.OperationalError)
    assert stored() == ["p0"]


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


def test_the_items_of_a_transaction_are_written_together_by_one_flush(transactions):
    flushed: list[tuple[str, list[object]]] = []

    def flush(key: str, items: list[object]) -> list[object]:
        flushed.append((key, items))
        for item in items:
            create(str(item))
        return [f"{item} stored" for item in items]

    held = Held(flush)
    held.queue("one", None, item="p1")
    held.queue("work", lambda: create("p2"))
    held.queue("two", None, item="p3")
    assert stored() == []
    outcomes = held.release()
    assert outcomes == {"p0": "p0", "one": "p1 stored", "work": "p2", "two": "p3 stored"}
    assert flushed == [("k", ["p1", "p3"])]  # once for the transaction's items, in the order they came
    assert stored() == ["p0", "p1", "p2", "p3"]
    assert len(transactions) == 2


def test_a_flush_that_fails_fails_its_whole_group():
    def flush(key: str, items: list[object]) -> list[object]:
        create("p1")
        raise db.peewee.OperationalError("the connection broke")

    held = Held(flush)
    held.queue("work", lambda: create("p2"))
    held.queue("item", None, item="p1")
    outcomes = held.release()
    assert isinstance(outcomes["work"], db.peewee.OperationalError)
    assert isinstance(outcomes["item"], db.peewee.OperationalError)
    assert stored() == ["p0"]

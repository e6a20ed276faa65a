"""Fixtures of the unit layer: a migrated database of each backend (no processes), and the in-process broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import peewee
import pytest
from dramatiq.brokers.stub import StubBroker

from server.core import broker, db, hosts, jobs, migrations
from server.core.config import Settings
from server.core.models import ALL_MODELS
from tests.support.stack import postgres_database


@pytest.fixture(scope="session")
def _postgres() -> Iterator[peewee.Database]:
    """One throwaway PostgreSQL database (and one connection pool) for the whole unit run."""
    with postgres_database() as url:
        bound = db.open_database(url)
        migrations.migrate()
        yield bound
        bound.close_all()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[peewee.Database]:
    """A migrated, empty database of each backend, bound and connected for the test."""
    if request.param == "sqlite":
        bound = db.open_database(f"sqlite:///{tmp_path / 'unit.db'}")
        migrations.migrate()
    else:
        bound = request.getfixturevalue("_postgres")
        db.database.initialize(bound)
        with db.database.connection_context():  # DELETE, not TRUNCATE: far quicker on tables this small
            for model in reversed(peewee.sort_models(ALL_MODELS)):
                model.delete().execute()
    hosts._view.taken_at = float("-inf")  # the live hosts a worker or API server saw belong to the last test's rows
    with db.database.connection_context():
        yield bound
    for lease in jobs.keeper().held():  # the leases a test took end with it
        jobs.keeper().drop(lease)
    bound.close()


@pytest.fixture
def stub_broker() -> StubBroker:
    """The in-process broker, with its queues emptied: what the code under test queued is in `.queues`."""
    broker.configure(Settings(broker="memory"))
    current = broker.current()
    assert isinstance(current, StubBroker)
    current.flush_all()
    return current


@pytest.fixture
def queued(stub_broker: StubBroker) -> Callable[[str], list[dramatiq.Message]]:
    """`queued(queue_name)`: the messages waiting on a queue of the in-process broker (`name.DQ`: delayed ones)."""
    return lambda name: [dramatiq.Message.decode(data) for data in list(stub_broker.queues[name].queue)]

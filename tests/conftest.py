"""Fixtures shared by the integration tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.support.stack import Stack, postgres_database, running_stack


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running gateway (API server process + Envoy), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "wagw.db"
        with running_stack(f"sqlite:///{path}") as running:
            yield running
    else:
        with postgres_database() as url, running_stack(url) as running:
            yield running


_counter = itertools.count()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Distinct ids for resources of one test, since the stack (and its database) is shared."""
    return lambda prefix: f"{prefix}-{next(_counter)}"

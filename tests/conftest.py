"""Fixtures shared by the tests: the running stack (once per backend), clients of it, and distinct ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.grpc_rest import GrpcRestClient
from tests.support.stack import Stack, postgres_database, running_stack

TRANSPORTS = ["envoy", "grpc"]


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


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """How a test's REST-shaped calls reach the API server: "envoy" is REST through the real Envoy (transcoder
    and envelope), "grpc" the same calls straight to the API server over gRPC (tests/support/grpc_rest.py)."""
    return request.param


@pytest.fixture
def api(stack: Stack, transport: str) -> Iterator[Callable[..., httpx.Client | GrpcRestClient]]:
    """`api(key=None, headers=None)`: a client of the stack over this test's transport, as `key` (default: the
    admin key) or with exactly `headers`. Each test runs once per backend and transport; the stack is shared."""
    clients: list[httpx.Client | GrpcRestClient] = []

    def make(key: str | None = None, *, headers: dict[str, str] | None = None) -> httpx.Client | GrpcRestClient:
        clients.append(stack.client(transport, key, headers=headers))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def rest(stack: Stack) -> Iterator[httpx.Client]:
    """REST through Envoy as the admin, on the shared stack of this test's backend."""
    with stack.rest() as client:
        yield client


_counter = itertools.count()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Distinct ids for resources of one test, since the stack (and its database) is shared."""
    return lambda prefix: f"{prefix}-{next(_counter)}"

"""The whole gateway as a user runs it: the API server as its own process (`python -m server.api`) on a
fresh database, and the real Envoy in front. Integration tests talk to it over REST and gRPC.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import psycopg
from google.protobuf import json_format, struct_pb2

from gateway import envoy as envoy_mod
from server.api import auth
from server.core import db, migrations
from server.core.config import ROOT, Settings
from server.launch import Child
from tests.support.grpc_rest import GrpcRestClient
from tests.support.net import LOCALHOST, free_port, wait_for_port
from tests.support.web import Web, the_internet
from wagw.engine.v1 import engine_host_pb2, engine_host_pb2_grpc

# The engine host's internal token for every test stack (the test process talks to the simulator directly).
INTERNAL_TOKEN = secrets.token_urlsafe(16)
POSTGRES_ADMIN_URL = os.environ.get("WAGW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def test_admin_key() -> str:
    return f"wagw_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test session; dropped afterwards."""
    name = f"wagw_it_{secrets.token_hex(4)}"
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """A fresh database URL of either backend, removed afterwards: a throwaway PostgreSQL database, or a SQLite
    file in a temporary directory."""
    if kind == "postgres":
        with postgres_database() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="wagw-") as tmp:
            yield f"sqlite:///{tmp}/wagw.db"


@dataclass
class Stack:
    database_url: str
    admin_key: str
    grpc_port: int
    envoy: envoy_mod.Envoy
    api: Child
    engines: Child
    workers: Child
    engine_port: int
    env: dict[str, str] = field(default_factory=dict)
    websocket: Child | None = None  # the WebSocket bridge (gateway/websocket.py), behind Envoy's /ws
    web: Web = field(default_factory=the_internet)  # the Internet the gateway may reach (tests/support/web.py)

    @property
    def ws_url(self) -> str:
        """The WebSocket API through Envoy."""
        return f"ws://{LOCALHOST}:{self.envoy.listen_port}/ws"

    def simulator(self, operation: str, **arguments: Any) -> Any:
        """Run an operation of the engine host's simulated network (the test phone): scan, inbox, inject…"""
        with grpc.insecure_channel(f"{LOCALHOST}:{self.engine_port}") as channel:
            args = struct_pb2.Struct()
            args.update(arguments)
            reply = engine_host_pb2_grpc.SimulatorServiceStub(channel).Control(
                engine_host_pb2.ControlRequest(operation=operation, arguments=args), timeout=10,
                metadata=[("x-wagw-internal-token", INTERNAL_TOKEN)])
        return json_format.MessageToDict(reply.result)

    def restart_engines(self, *, kill: bool = False) -> None:
        """Stop the engine host (SIGTERM, or SIGKILL with kill=True) and start it again."""
        if kill:
            self.engines.process.kill()
            self.engines.process.wait()
        else:
            self.engines.stop()
        self.engines.start()
        wait_for_port(self.engine_port, timeout=20)

    @property
    def base_url(self) -> str:
        return f"{self.envoy.url}/api"

    @property
    def grpc_target(self) -> str:
        """The API server itself, without Envoy."""
        return f"{LOCALHOST}:{self.grpc_port}"

    @property
    def envoy_grpc_target(self) -> str:
        return self.envoy.grpc_target

    def rest(self, key: str | None = None, *, headers: dict[str, str] | None = None) -> httpx.Client:
        """REST through Envoy, as `key` (default: the admin key), or with exactly `headers` if given."""
        return httpx.Client(base_url=self.base_url, headers=self._credentials(key, headers), timeout=10)

    def grpc_rest(self, key: str | None = None, *, headers: dict[str, str] | None = None) -> GrpcRestClient:
        """The same REST-shaped calls, made straight to the API server over gRPC (tests/support/grpc_rest.py)."""
        return GrpcRestClient(self.grpc_target, headers=self._credentials(key, headers), timeout=10)

    def client(self, transport: str, key: str | None = None, *, headers: dict[str, str] | None = None
               ) -> httpx.Client | GrpcRestClient:
        """`rest` for the transport "envoy", `grpc_rest` for "grpc"."""
        return {"envoy": self.rest, "grpc": self.grpc_rest}[transport](key, headers=headers)

    def _credentials(self, key: str | None, headers: dict[str, str] | None) -> dict[str, str]:
        return dict(headers) if headers is not None else {"X-API-Key": key or self.admin_key}


def _prepare(database_url: str, admin_key: str) -> None:
    """What `make run` does before starting the roles: migrate, and make sure the admin key exists."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        auth.ensure_admin_key(Settings(database_url=database_url, admin_api_key=admin_key))
    db.database.close()


@contextmanager
def running_stack(database_url: str, **extra_env: str) -> Iterator[Stack]:
    """The API server and the engine host as processes (python -m server.api / server.engine_host), Envoy in
    front. The simulator's clock runs 20 times faster than real time, so a 60 s QR code lasts 3 s. Outbound
    URLs may reach the test Internet (`Stack.web`) and no other local address."""
    admin_key = test_admin_key()
    _prepare(database_url, admin_key)
    grpc_port, engine_port, ws_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    # The simulated WhatsApp's server side outlives an engine-host restart, as the real one would.
    state_dir = tempfile.TemporaryDirectory(prefix="wagw-simulator-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WAGW_GRPC_HOST": LOCALHOST,
        "WAGW_GRPC_PORT": str(grpc_port),
        "WAGW_ENGINE_HOST": LOCALHOST,
        "WAGW_ENGINE_PORT": str(engine_port),
        "WAGW_WS_PORT": str(ws_port),
        "WAGW_METRICS_PORT": str(metrics_port),
        "WAGW_ADMIN_API_KEY": admin_key,
        "WAGW_LOG_LEVEL": "WARNING",
        "WAGW_SIMULATOR_TIME_SCALE": "0.05",
        "WAGW_RATE_LIMIT_PAUSE_S": "2",
        "WAGW_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "WAGW_SIMULATOR_STATE": os.path.join(state_dir.name, "network.db"),
        # The real Redis at REDIS_URL, in a namespace of this stack's own.
        "WAGW_BROKER": "redis",
        "WAGW_REDIS_NAMESPACE": f"wagw-test-{secrets.token_hex(4)}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        # Private addresses stay refused, but for the test Internet (tests/support/web.py), as for a public host.
        "WAGW_TRUSTED_URL_HOSTS": the_internet().trusted,
        **extra_env,
    }
    api = Child("api", lambda: subprocess.Popen([sys.executable, "-m", "server.api"], env=env, cwd=ROOT))
    engines = Child("engines", lambda: subprocess.Popen([sys.executable, "-m", "server.engine_host"], env=env,
                                                        cwd=ROOT))
    workers = Child("workers", lambda: subprocess.Popen([sys.executable, "-m", "worker"], env=env, cwd=ROOT))
    websocket = Child("websocket", lambda: subprocess.Popen([sys.executable, "-m", "gateway.websocket"], env=env,
                                                            cwd=ROOT))
    api.start()
    engines.start()
    workers.start()
    websocket.start()
    try:
        wait_for_port(grpc_port, timeout=20)
        wait_for_port(engine_port, timeout=20)
        wait_for_port(ws_port, timeout=20)
        with envoy_mod.start(free_port(), grpc_port, free_port(), websocket_port=ws_port,
                             metrics_port=metrics_port) as envoy:
            yield Stack(database_url, admin_key, grpc_port, envoy, api, engines, workers, engine_port, env,
                        websocket=websocket)
    finally:
        websocket.stop()
        workers.stop()
        engines.stop()
        api.stop()
        state_dir.cleanup()

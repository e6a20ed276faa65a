"""The whole gateway as a user runs it: the simulated WhatsApp (`python -m server.simulator`), the API server,
the engine host(s), the workers and the WebSocket bridge as processes on a fresh database, and the real Envoy in
front. Integration tests talk to it over REST and gRPC, and drive the simulated phones through the simulator
service (Stack.simulator).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import psycopg
import redis
from google.protobuf import json_format

from gateway import envoy as envoy_mod
from server.api import auth
from server.core import db, migrations
from server.core.config import ROOT, Settings
from server.launch import Child
from tests.support.grpc_rest import GrpcRestClient
from tests.support.net import LOCALHOST, free_port, wait_for_port
from tests.support.web import Web, the_internet
from wagw.simulator.v1 import simulator_pb2, simulator_pb2_grpc

# The internal token of every test stack (the test process talks to the simulator service directly).
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
class EngineHost:
    """One engine host process: its id (WAGW_ENGINE_HOST_ID) and port."""

    child: Child
    port: int
    host_id: str


@dataclass
class ApiServer:
    """One API server process and its gRPC ports: the main one (every method) and the unary one (Envoy's)."""

    child: Child
    port: int
    unary_port: int


@dataclass
class Stack:
    database_url: str
    admin_key: str
    envoy: envoy_mod.Envoy
    api_servers: list[ApiServer]
    engine_hosts: list[EngineHost]
    worker_processes: list[Child]
    simulator_service: Child  # the simulated WhatsApp, which every engine host connects to
    simulator_port: int
    env: dict[str, str] = field(default_factory=dict)
    websocket: Child | None = None  # the WebSocket bridge (gateway/websocket.py), behind Envoy's /ws
    web: Web = field(default_factory=the_internet)  # the Internet the gateway may reach (tests/support/web.py)

    @property
    def api(self) -> Child:
        """The (first) API server."""
        return self.api_servers[0].child

    @property
    def grpc_port(self) -> int:
        return self.api_servers[0].port

    @property
    def workers(self) -> Child:
        """The (first) worker process."""
        return self.worker_processes[0]

    @property
    def engines(self) -> Child:
        """The (first) engine host."""
        return self.engine_hosts[0].child

    @property
    def engine_port(self) -> int:
        return self.engine_hosts[0].port

    @property
    def ws_url(self) -> str:
        """The WebSocket API through Envoy."""
        return f"ws://{LOCALHOST}:{self.envoy.listen_port}/ws"

    def simulator(self, operation: str, **arguments: Any) -> Any:
        """A call of the simulator service's PhoneService (the simulated phones and faults), named as the network's
        method: scan, enter_pairing_code, send_from, join_by_invite, inbox, inject, set_reads… `content` goes
        and comes back as a dict; an answer of one field is that field's value (inbox: the list of messages)."""
        method = "".join(part.title() for part in operation.split("_"))
        if "content" in arguments:
            arguments["content"] = json.dumps(arguments["content"])
        request = json_format.ParseDict(arguments, getattr(simulator_pb2, f"{method}Request")())
        with grpc.insecure_channel(f"{LOCALHOST}:{self.simulator_port}") as channel:
            reply = getattr(simulator_pb2_grpc.PhoneServiceStub(channel), method)(
                request, timeout=10, metadata=[("x-wagw-internal-token", INTERNAL_TOKEN)])
        answer = _with_content(json_format.MessageToDict(reply, preserving_proto_field_name=True,
                                                         always_print_fields_with_no_presence=True))
        return next(iter(answer.values())) if len(answer) == 1 else answer or None

    def restart_engines(self, *, kill: bool = False) -> None:
        """Stop the engine host (SIGTERM, or SIGKILL with kill=True) and start it again."""
        _restart(self.engines, self.engine_port, kill=kill)

    def restart_simulator(self, *, kill: bool = False) -> None:
        """Stop the simulator service (SIGTERM, or SIGKILL with kill=True) and start it again: its state is kept
        (WAGW_SIMULATOR_STATE), as WhatsApp's servers keep theirs."""
        _restart(self.simulator_service, self.simulator_port, kill=kill)

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


def _restart(child: Child, port: int, *, kill: bool) -> None:
    if kill:
        child.process.kill()
        child.process.wait()
    else:
        child.stop()
    child.start()
    wait_for_port(port, timeout=20)


def _with_content(value: Any) -> Any:
    """A PhoneService answer with every `content` (JSON text on the wire) as a dict."""
    if isinstance(value, list):
        return [_with_content(item) for item in value]
    if isinstance(value, dict):
        return {key: json.loads(item) if key == "content" and isinstance(item, str) else _with_content(item)
                for key, item in value.items()}
    return value


def _prepare(database_url: str, admin_key: str) -> None:
    """What `make run` does before starting the roles: migrate, and make sure the admin key exists."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        auth.ensure_admin_key(Settings(database_url=database_url, admin_api_key=admin_key))
    db.database.close()


@contextmanager
def running_stack(database_url: str, *, engine_hosts: int = 1, api_servers: int = 1, workers: int = 1,
                  prepared: bool = True, engine_host_module: str = "server.engine_host",
                  **extra_env: str) -> Iterator[Stack]:
    """The simulator service, `api_servers` API servers, `engine_hosts` engine hosts (ids engine-host-1, -2, …),
    `workers` worker processes and the WebSocket bridge as processes, Envoy in front of every API server. The
    simulator's clock runs 20 times faster than real time, so a 60 s QR code lasts 3 s. Outbound URLs may reach
    the test Internet (`Stack.web`) and no other local address. With prepared=False the database is left empty
    and every process is started at once: they migrate it and ensure the admin key themselves, concurrently.
    `engine_host_module` is what the engine hosts run (tests/support/whatsmeow_offline.py: one whose whatsmeow
    sessions reach an offline WhatsApp)."""
    admin_key = test_admin_key()
    if prepared:
        _prepare(database_url, admin_key)
    api_ports = [(free_port(), free_port(), free_port()) for _ in range(api_servers)]  # gRPC, unary gRPC, metrics
    grpc_port, ws_port, simulator_port = api_ports[0][0], free_port(), free_port()
    # The simulated WhatsApp's server side outlives a restart of its service, as the real one would.
    state_dir = tempfile.TemporaryDirectory(prefix="wagw-simulator-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WAGW_GRPC_HOST": LOCALHOST,
        "WAGW_GRPC_PORT": str(grpc_port),
        "WAGW_API_SERVERS": ",".join(f"{LOCALHOST}:{port}" for port, _, _ in api_ports),
        "WAGW_ENGINE_HOST": LOCALHOST,
        "WAGW_WS_PORT": str(ws_port),
        "WAGW_GRPC_UNARY_PORT": str(api_ports[0][1]),
        "WAGW_METRICS_PORT": str(api_ports[0][2]),
        "WAGW_ADMIN_API_KEY": admin_key,
        "WAGW_LOG_LEVEL": "WARNING",
        "WAGW_SIMULATOR_HOST": LOCALHOST,
        "WAGW_SIMULATOR_PORT": str(simulator_port),
        "WAGW_SIMULATOR_TIME_SCALE": "0.05",
        "WAGW_SIMULATOR_STATE": os.path.join(state_dir.name, "network.db"),
        # The engine hosts' media store (downloaded media), the stack's own.
        "WAGW_MEDIA_DIR": os.path.join(state_dir.name, "media"),
        "WAGW_RATE_LIMIT_PAUSE_S": "2",
        "WAGW_INTERNAL_TOKEN": INTERNAL_TOKEN,
        # The real Redis at REDIS_URL, in a namespace of this stack's own.
        "WAGW_BROKER": "redis",
        "WAGW_REDIS_NAMESPACE": f"wagw-test-{secrets.token_hex(4)}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        # Private addresses stay refused, but for the test Internet (tests/support/web.py), as for a public host.
        "WAGW_TRUSTED_URL_HOSTS": the_internet().trusted,
        **extra_env,
    }

    def child(name: str, module: str, **own_env: str) -> Child:
        return Child(name, lambda: subprocess.Popen([sys.executable, "-m", module], env={**env, **own_env}, cwd=ROOT))

    simulator = child("simulator", "server.simulator")
    apis = [ApiServer(child(f"api-{number}", "server.api", WAGW_GRPC_PORT=str(port), WAGW_GRPC_UNARY_PORT=str(unary),
                            WAGW_METRICS_PORT=str(metrics)), port, unary)
            for number, (port, unary, metrics) in enumerate(api_ports, 1)]
    hosts = []
    for number in range(1, engine_hosts + 1):
        port, host_id = free_port(), f"engine-host-{number}"
        hosts.append(EngineHost(child(host_id, engine_host_module, WAGW_ENGINE_PORT=str(port),
                                      WAGW_ENGINE_HOST_ID=host_id), port, host_id))
    worker_processes = [child(f"workers-{number}", "worker") for number in range(1, workers + 1)]
    websocket = child("websocket", "gateway.websocket")
    processes = [*(api.child for api in apis), *(host.child for host in hosts), *worker_processes]
    simulator.start()
    try:
        if prepared:
            wait_for_port(simulator_port, timeout=20)  # before the engine hosts, which connect to it
        for process in processes:
            process.start()
        websocket.start()
        for port in [simulator_port, *(api.port for api in apis), *(api.unary_port for api in apis),
                     *(host.port for host in hosts), ws_port]:
            wait_for_port(port, timeout=40)
        with envoy_mod.start(free_port(), [f"{LOCALHOST}:{api.port}" for api in apis], free_port(),
                             websocket_servers=[f"{LOCALHOST}:{ws_port}"],
                             metrics_servers=[f"{LOCALHOST}:{metrics}" for _, _, metrics in api_ports],
                             api_unary_servers=[f"{LOCALHOST}:{api.unary_port}" for api in apis]) as envoy:
            yield Stack(database_url, admin_key, envoy, apis, hosts, worker_processes, simulator, simulator_port,
                        env, websocket=websocket)
    finally:
        websocket.stop()
        for process in reversed(processes):
            process.stop()
        simulator.stop()
        state_dir.cleanup()
        forget_namespace(env)


def forget_namespace(env: Mapping[str, str]) -> None:
    """Delete the keys of a stopped gateway started with `env` (its queues, their dead letters, the workers'
    heartbeats) from its Redis, so runs leave nothing behind in a shared Redis; a test's own Redis may be gone
    already."""
    try:
        with redis.Redis.from_url(env.get("REDIS_URL", Settings().redis_url), socket_timeout=5) as client:
            keys = list(client.scan_iter(match=f"{env['WAGW_REDIS_NAMESPACE']}:*", count=1000))
            if keys:
                client.delete(*keys)
    except redis.exceptions.ConnectionError:
        pass

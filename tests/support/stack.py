"""The whole gateway as a user runs it: the API server as its own process (`python -m server.app`) on a
fresh database, and the real Envoy in front. Integration tests talk to it over REST and gRPC.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import psycopg

from gateway import envoy as envoy_mod
from server import auth, db, migrations
from server.config import ROOT, Settings
from tests.support.net import LOCALHOST, free_port, wait_for_port

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


@dataclass
class Stack:
    database_url: str
    admin_key: str
    grpc_port: int
    envoy: envoy_mod.Envoy
    api: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

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

    def rest(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key or self.admin_key}, timeout=10)


def _prepare(database_url: str, admin_key: str) -> None:
    """What `make run` does before starting the roles: migrate, and make sure the admin key exists."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        auth.ensure_admin_key(Settings(database_url=database_url, admin_api_key=admin_key))
    db.database.close()


@contextmanager
def running_stack(database_url: str, **extra_env: str) -> Iterator[Stack]:
    admin_key = test_admin_key()
    _prepare(database_url, admin_key)
    grpc_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WAGW_GRPC_HOST": LOCALHOST,
        "WAGW_GRPC_PORT": str(grpc_port),
        "WAGW_ADMIN_API_KEY": admin_key,
        "WAGW_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        **extra_env,
    }
    api = subprocess.Popen([sys.executable, "-m", "server.app"], env=env, cwd=ROOT)
    try:
        wait_for_port(grpc_port, timeout=20)
        with envoy_mod.start(free_port(), grpc_port, free_port()) as envoy:
            yield Stack(database_url, admin_key, grpc_port, envoy, api, env)
    finally:
        api.terminate()
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()

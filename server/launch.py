"""`make run`: every role of the gateway as one process tree on this machine.

Prepares the database (migrations, a first admin key), then starts the simulated WhatsApp (the `simulator`
engine's network), the gRPC API server, the engine host, Envoy and the WebSocket bridge as child processes,
restarts a child that dies, and stops them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import envoy
from server.api import app, auth
from server.core import broker, db, logs, migrations
from server.core.config import ROOT, Settings, load
from server.core.logs import fields
from worker import runner

log = logging.getLogger("wagw.launch")


@dataclass
class Child:
    """A role run as a child process, restarted with a growing pause when it dies."""

    name: str
    spawn: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = self.spawn()
        self.started_at = time.monotonic()

    def check(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        # A child that ran a while before dying starts again at once; one that keeps dying backs off.
        self.restarts = 0 if time.monotonic() - self.started_at > 30 else self.restarts + 1
        pause = min(2**self.restarts, 30) if self.restarts else 0
        log.warning("child exited; restarting", extra=fields(child=self.name, code=self.process.returncode,
                                                             pause_s=pause))
        time.sleep(pause)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def banner(settings: Settings, first_key: str | None, embedded: bool) -> str:
    base = f"http://localhost:{settings.http_port}/api"
    key = first_key or "<your API key>"
    broker = "an in-process broker" if embedded else f"Redis at {settings.redis_url}"
    lines = [
        "",
        f"WA Gateway is running: REST on {base}, gRPC on localhost:{settings.http_port}, deliveries through {broker}",
    ]
    if first_key:
        lines += [
            "",
            "A first admin API key was created. It is shown only this once: keep it.",
            f"    {first_key}",
        ]
    elif settings.admin_api_key:
        lines.append("Admin API key: the one in WAGW_ADMIN_API_KEY.")
    else:
        lines.append("API keys exist already; make another with: .venv/bin/python -m server.cli keys create "
                     "--name me --scopes '*'")
    lines += ["", "Try it:", f"    curl -s -H 'X-API-Key: {key}' {base}/profiles", ""]
    return "\n".join(lines)


def main() -> None:
    settings = load()
    logs.configure(settings.log_level)
    db.open_database(settings.database_url)
    migrations.migrate()
    with db.database.connection_context():
        first_key = auth.ensure_admin_key(settings)
    db.database.close()

    envoy_dir = ROOT / "data" / "envoy"  # its rendered config and log
    envoy_dir.mkdir(parents=True, exist_ok=True)
    # Every process must agree on the broker: decide once, here, and tell the children.
    embedded = not broker.uses_redis(settings)
    os.environ["WAGW_BROKER"] = "memory" if embedded else "redis"
    # The engine host and the simulator only answer the gateway's own processes.
    os.environ.setdefault("WAGW_INTERNAL_TOKEN", secrets.token_urlsafe(32))
    children = [
        # The simulated WhatsApp, before the engine host that connects to it (which waits for it anyway).
        Child("simulator", lambda: subprocess.Popen([sys.executable, "-m", "server.simulator"])),
        # With the in-process broker, the workers must live in the API server's process (api_with_workers).
        Child("api", lambda: subprocess.Popen(
            [sys.executable, "-m", "server.launch", "api-with-workers"] if embedded
            else [sys.executable, "-m", "server.api"])),
        Child("engines", lambda: subprocess.Popen([sys.executable, "-m", "server.engine_host"])),
        # envoy.start returns once Envoy listens, so the banner below is printed when curl can work.
        Child("envoy", lambda: envoy.start(
            settings.http_port, settings.grpc_port, settings.envoy_admin_port,
            listen_address=settings.http_host, websocket_port=settings.ws_port, metrics_port=settings.metrics_port,
            workdir=envoy_dir,
        ).process),
        # The WebSocket API on /ws: a client of the API server's event streams.
        Child("websocket", lambda: subprocess.Popen([sys.executable, "-m", "gateway.websocket"])),
    ]
    if not embedded:  # with the in-process broker, the API server runs the workers itself
        children.append(Child("workers", lambda: subprocess.Popen([sys.executable, "-m", "worker"])))
    for child in children:
        child.start()
    print(banner(settings, first_key, embedded), flush=True)

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for child in children:
            child.check()
        time.sleep(0.5)
    for child in reversed(children):
        child.stop()


def api_with_workers() -> None:
    """The API server with the workers in its own process: the roles' composition for the in-process broker."""
    app.serve(load(), beside=runner.running)


if __name__ == "__main__":
    if sys.argv[1:] == ["api-with-workers"]:
        api_with_workers()
    else:
        main()

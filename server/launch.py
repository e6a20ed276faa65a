"""`make run`: every role of the gateway as one process tree on this machine.

Prepares the database (migrations, a first admin key), then starts the simulated WhatsApp (the `simulator`
engine's network), the gRPC API servers (one per core: api_processes), the engine host, Envoy and the WebSocket
bridge as child processes, restarts a child that dies, and stops them all on Ctrl-C or SIGTERM. Once every role
answers, it prints what a newcomer needs, last, below the roles' start-up logs: where the API, the docs and the
console are, and the first admin key.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import envoy
from server.api import app, auth
from server.core import broker, db, logs, migrations
from server.core.config import ROOT, Settings, load, reachable
from server.core.logs import fields
from worker import runner

log = logging.getLogger("wagw.launch")

# How long the banner waits for every role to answer before it is printed anyway, with a warning.
READY_TIMEOUT_S = 60.0


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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _listening(host: str, port: int) -> bool:
    """Whether a server listens on host:port, found without connecting to it (the WebSocket bridge would log a
    probe's connection as a client's): its address cannot be bound while it does. SO_REUSEADDR lets the probe
    bind past connections of an earlier run that linger in TIME_WAIT, never past a listening socket."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((reachable(host), port))
        except OSError:
            return True
        return False


def ready(settings: Settings) -> bool:
    """Whether every role answers: Envoy's /healthz (an API server passes its health check behind Envoy), every
    API server, the WebSocket bridge, the engine host and the simulated WhatsApp."""
    return (_answers(f"http://{reachable(settings.http_host)}:{settings.http_port}/healthz")
            and all(_listening(host, int(port)) for host, port in
                    (address.rsplit(":", 1) for address in settings.api_upstreams))
            and _listening(settings.ws_host, settings.ws_port)
            and _listening(settings.engine_host, settings.engine_port)
            and _listening(settings.simulator_host, settings.simulator_port))


def wait_until_ready(settings: Settings, children: list[Child], stopping: threading.Event,
                     timeout: float = READY_TIMEOUT_S) -> bool:
    """Whether every role answered within `timeout` (children that die meanwhile are restarted)."""
    deadline = time.monotonic() + timeout
    while not ready(settings):
        if time.monotonic() > deadline or stopping.is_set():
            return False
        for child in children:
            child.check()
        stopping.wait(0.2)
    return True


def banner(settings: Settings, first_key: str | None, embedded: bool, is_ready: bool = True) -> str:
    """What `make run` prints once the gateway answers: the console and the admin key come last, where a
    newcomer looks."""
    site = f"http://localhost:{settings.http_port}"
    key = first_key or "<your API key>"
    broker = "an in-process broker" if embedded else f"Redis at {settings.redis_url}"
    lines = [
        "",
        f"WA Gateway is running: REST on {site}/api (reference and \"Try it out\": {site}/docs), gRPC on "
        f"localhost:{settings.http_port}, deliveries through {broker}.",
    ]
    if not is_ready:
        lines.append(f"Not every role answered within {READY_TIMEOUT_S:.0f} s: see the logs above.")
    lines += ["", "Try it:", f"    curl -s -H 'X-API-Key: {key}' {site}/api/profiles", "",
              f"Open the console: {site}/"]
    if first_key:
        lines += ["Sign in with the first admin API key, created now and shown only this once (keep it):",
                  f"    {first_key}"]
    elif settings.admin_api_key:
        lines.append("Sign in with the admin API key in WAGW_ADMIN_API_KEY.")
    else:
        lines.append("Sign in with an API key: the one printed at the first start, or a new one from "
                     ".venv/bin/python -m server.cli keys create --name me --scopes '*'")
    return "\n".join([*lines, ""])


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
    api_servers = api_processes(settings, embedded)
    settings = load()  # with the API servers' addresses, for Envoy and the WebSocket bridge
    children = [
        # The simulated WhatsApp, before the engine host that connects to it (which waits for it anyway).
        Child("simulator", lambda: subprocess.Popen([sys.executable, "-m", "server.simulator"])),
        *api_servers,
        Child("engines", lambda: subprocess.Popen([sys.executable, "-m", "server.engine_host"])),
        # envoy.start returns once Envoy listens.
        Child("envoy", lambda: envoy.start(
            settings.http_port, settings.api_upstreams, settings.envoy_admin_port,
            listen_address=settings.http_host, websocket_servers=settings.ws_upstreams,
            metrics_servers=settings.metrics_upstreams, api_unary_servers=settings.api_unary_upstreams,
            workdir=envoy_dir,
        ).process),
        # The WebSocket API on /ws: a client of the API server's event streams.
        Child("websocket", lambda: subprocess.Popen([sys.executable, "-m", "gateway.websocket"])),
    ]
    if not embedded:  # with the in-process broker, the API server runs the workers itself
        children.append(Child("workers", lambda: subprocess.Popen([sys.executable, "-m", "worker"])))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    for child in children:
        child.start()
    # The banner comes once every role answers, so it is the last thing on the screen, below their start-up logs.
    is_ready = wait_until_ready(settings, children, stopping)
    if not stopping.is_set():
        print(banner(settings, first_key, embedded, is_ready), flush=True)
    while not stopping.wait(0.5):
        for child in children:
            child.check()
    for child in reversed(children):
        child.stop()


def api_processes(settings: Settings, embedded: bool) -> list[Child]:
    """The API server processes (WAGW_API_PROCESSES), each on ports of its own, named to Envoy and the WebSocket
    bridge through WAGW_API_SERVERS and WAGW_METRICS_SERVERS. One with the in-process broker (the workers live in
    its process: api_with_workers), and one when WAGW_API_SERVERS names the servers already (a deployment that
    places them itself)."""
    count = 1 if embedded or settings.api_servers else max(1, settings.api_processes)
    check_ports(settings, count)
    if embedded:
        return [Child("api", lambda: subprocess.Popen([sys.executable, "-m", "server.launch", "api-with-workers"]))]
    if count == 1:
        return [Child("api", lambda: subprocess.Popen([sys.executable, "-m", "server.api"]))]
    ports = [(settings.grpc_port + index, settings.grpc_unary_port + index, settings.metrics_port + index)
             for index in range(count)]
    host = reachable(settings.grpc_host)
    os.environ["WAGW_API_SERVERS"] = ",".join(f"{host}:{grpc}" for grpc, _, _ in ports)
    os.environ["WAGW_API_UNARY_SERVERS"] = ",".join(f"{host}:{unary}" for _, unary, _ in ports)
    os.environ["WAGW_METRICS_SERVERS"] = ",".join(f"{reachable(settings.metrics_host)}:{metrics}"
                                                  for _, _, metrics in ports)

    def spawn(grpc: int, unary: int, metrics: int) -> Callable[[], subprocess.Popen]:
        env = {**os.environ, "WAGW_GRPC_PORT": str(grpc), "WAGW_GRPC_UNARY_PORT": str(unary),
               "WAGW_METRICS_PORT": str(metrics)}
        return lambda: subprocess.Popen([sys.executable, "-m", "server.api"], env=env)

    return [Child(f"api-{index + 1}", spawn(*addresses)) for index, addresses in enumerate(ports)]


def check_ports(settings: Settings, api_count: int) -> None:
    """Stop at once, naming both settings, when two roles of this machine would listen on one port (each API server
    takes the ports after the first's: WAGW_API_PROCESSES=12 reaches 30061, the engine host's), rather than start
    a role that keeps dying on its bind."""
    wanted = [("WAGW_HTTP_PORT", settings.http_port), ("WAGW_ENVOY_ADMIN_PORT", settings.envoy_admin_port),
              ("WAGW_WS_PORT", settings.ws_port), ("WAGW_ENGINE_PORT", settings.engine_port),
              ("WAGW_SIMULATOR_PORT", settings.simulator_port)]
    for name, first in (("WAGW_GRPC_PORT", settings.grpc_port), ("WAGW_GRPC_UNARY_PORT", settings.grpc_unary_port),
                        ("WAGW_METRICS_PORT", settings.metrics_port)):
        wanted += [(f"{name} + {index}" if index else name, first + index) for index in range(api_count)]
    taken: dict[int, str] = {}
    for name, port in wanted:
        if port in taken:
            raise SystemExit(f"{taken[port]} and {name} are both port {port}: set one of them to a free port "
                             f"(README, Configuration)")
        taken[port] = name


def api_with_workers() -> None:
    """The API server with the workers in its own process: the roles' composition for the in-process broker."""
    app.serve(load(), beside=runner.running)


if __name__ == "__main__":
    if sys.argv[1:] == ["api-with-workers"]:
        api_with_workers()
    else:
        main()

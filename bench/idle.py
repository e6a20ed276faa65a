"""Idle cost and memory of the gateway as `make run` starts it (`python -m server.launch`: simulator service, API
server, engine host, workers, WebSocket bridge, Envoy), on a fresh SQLite file and the Redis at REDIS_URL (in a
namespace of its own), every port chosen by the OS.

  - idle cost: the CPU time every process of the tree used over --seconds while nothing happens, read from
    /proc, as a share of one core: first with no profile (the baseline), then with --idle-profiles connected
    simulator profiles (target: under 3 % of one core in all);
  - memory: the resident memory of every process with no profile (the baseline), then with --memory-profiles
    connected simulator profiles on the one engine host (target: under 1 GiB).

    .venv/bin/python -m bench.idle [--seconds 30] [--idle-profiles 100] [--memory-profiles 1000]

Every wait is bounded by a deadline; it stops by itself (make bench runs it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bench import fleet
from server.core.config import ROOT, Settings
from tests.support.net import free_port
from tests.support.stack import test_admin_key

READY_TIMEOUT_S = 90
# After a change (start-up, profiles connecting) the processes settle this long before a measurement.
SETTLE_S = 10
IDLE_TARGET = 0.03
MEMORY_TARGET_MIB = 1024


@dataclass
class Launched:
    process: subprocess.Popen
    base_url: str
    key: str

    def processes(self) -> list[int]:
        return fleet.tree(self.process.pid)


@contextmanager
def launched() -> Iterator[Launched]:
    """`python -m server.launch` on a fresh database and state, stopped (SIGTERM, as Ctrl-C) afterwards."""
    key = test_admin_key()
    http_port = free_port()
    with tempfile.TemporaryDirectory(prefix="wagw-idle-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/wagw.db",
            "WAGW_ADMIN_API_KEY": key,
            "WAGW_HTTP_HOST": "127.0.0.1",
            "WAGW_HTTP_PORT": str(http_port),
            **{name: str(free_port()) for name in ("WAGW_ENVOY_ADMIN_PORT", "WAGW_WS_PORT", "WAGW_ENGINE_PORT",
                                                   "WAGW_SIMULATOR_PORT")},
            # Each API server process takes the ports after the first's (server/launch.py, check_ports).
            **{name: str(free_port(span=Settings().api_processes))
               for name in ("WAGW_GRPC_PORT", "WAGW_GRPC_UNARY_PORT", "WAGW_METRICS_PORT")},
            "WAGW_SIMULATOR_STATE": f"{tmp}/simulator.db",
            "WAGW_MEDIA_DIR": f"{tmp}/media",
            "WAGW_REDIS_NAMESPACE": f"wagw-idle-{os.getpid()}",
            "WAGW_LOG_LEVEL": "WARNING",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        }
        process = subprocess.Popen([sys.executable, "-m", "server.launch"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL)
        try:
            stack = Launched(process, f"http://127.0.0.1:{http_port}/api", key)
            wait_ready(stack)
            yield stack
        finally:
            pids = fleet.tree(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            for pid in pids[1:]:  # a child the launcher failed to stop
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def wait_ready(stack: Launched) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": stack.key}, timeout=5) as rest:
        while True:
            try:
                if rest.get("/profiles").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if stack.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the launched gateway did not answer")
            time.sleep(0.5)


def cpu(stack: Launched, seconds: float) -> dict[str, float]:
    """Each process's share of one core over `seconds`, by name."""
    time.sleep(SETTLE_S)
    return fleet.by_name((usage.name, share) for usage, share in fleet.cpu_over(stack.processes(), seconds).values())


def memory(stack: Launched) -> dict[str, float]:
    """Each process's resident memory (MiB), by name."""
    time.sleep(SETTLE_S)
    return fleet.by_name((usage.name, usage.rss_mib) for usage in fleet.usages(stack.processes()).values())


def table(title: str, unit: str, baseline: dict[str, float], measured: dict[str, float], scale: float = 1.0,
          digits: int = 1) -> None:
    print(title)
    for name in sorted(set(baseline) | set(measured), key=lambda n: -measured.get(n, 0)):
        base, value = baseline.get(name, 0.0) * scale, measured.get(name, 0.0) * scale
        print(f"  {name:<28} {base:8.{digits}f} {unit} -> {value:8.{digits}f} {unit}")
    base, total = sum(baseline.values()) * scale, sum(measured.values()) * scale
    print(f"  {'all':<28} {base:8.{digits}f} {unit} -> {total:8.{digits}f} {unit} = {total / max(base, 1e-9):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of each CPU measurement")
    parser.add_argument("--idle-profiles", type=int, default=100)
    parser.add_argument("--memory-profiles", type=int, default=1000)
    args = parser.parse_args()
    if not (1 <= args.seconds <= 300 and 1 <= args.idle_profiles <= args.memory_profiles <= 2000):
        parser.error("need 1 <= seconds <= 300 and 1 <= idle-profiles <= memory-profiles <= 2000")
    ids = [f"bench-idle-{i}" for i in range(args.memory_profiles)]
    with launched() as stack:
        idle_base, rss_base = cpu(stack, args.seconds), memory(stack)
        fleet.connect_profiles(stack.base_url, stack.key, ids[:args.idle_profiles], no_gap=False)
        idle = cpu(stack, args.seconds)
        connect_s = fleet.connect_profiles(stack.base_url, stack.key, ids[args.idle_profiles:], no_gap=False,
                                           timeout_s=900)
        rss, idle_many = memory(stack), cpu(stack, args.seconds)
    table(f"idle CPU over {args.seconds:g} s, share of one core: 0 profiles -> {args.idle_profiles} connected "
          f"(target < {IDLE_TARGET:.0%} in all)", "%", idle_base, idle, scale=100, digits=2)
    table(f"idle CPU, share of one core: 0 profiles -> {args.memory_profiles} connected", "%", idle_base,
          idle_many, scale=100, digits=2)
    print(f"({args.memory_profiles - args.idle_profiles} more profiles connected in {connect_s:.0f} s)")
    table(f"resident memory (VmRSS): 0 profiles -> {args.memory_profiles} connected on one engine host "
          f"(target < {MEMORY_TARGET_MIB} MiB)", "MiB", rss_base, rss, digits=0)


if __name__ == "__main__":
    main()

"""`make run`'s first start as a newcomer sees it: `python -m server.launch` on a fresh database prints the roles'
start-up logs, then, last, where the console is and the first admin key, both of which work; Envoy's health
checks (every second) are not in the logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx

from server.core.config import ROOT
from tests.support.api import ok, wait_for
from tests.support.net import LOCALHOST, free_port
from tests.support.stack import forget_namespace

STARTED = ("grpc server listening", "engine host listening", "websocket bridge listening", "metrics listening",
           "simulator listening")


def _messages(lines: list[str]) -> list[str]:
    return [json.loads(line).get("msg", "") if line.startswith("{") else "" for line in lines]


def _launch_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("WAGW_ADMIN_API_KEY", "WAGW_LOG_LEVEL", "WAGW_INTERNAL_TOKEN", "WAGW_SIMULATOR_ADDRESS",
                          "WAGW_API_SERVERS", "WAGW_API_UNARY_SERVERS", "WAGW_METRICS_SERVERS",
                          "WAGW_API_PROCESSES")}
    return env | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'wagw.db'}",
        "WAGW_HTTP_HOST": LOCALHOST,
        "WAGW_HTTP_PORT": str(port),
        "WAGW_SIMULATOR_STATE": str(tmp_path / "simulator.db"),
        **{name: str(free_port()) for name in ("WAGW_GRPC_PORT", "WAGW_GRPC_UNARY_PORT", "WAGW_ENGINE_PORT",
                                               "WAGW_WS_PORT", "WAGW_METRICS_PORT", "WAGW_ENVOY_ADMIN_PORT",
                                               "WAGW_SIMULATOR_PORT")},
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        **extra,
    }


KEY_LINE = re.compile(r"^    (wagw_\w{8}_[\w-]+)$")


def _launch(env: dict[str, str]) -> tuple[subprocess.Popen, list[str], threading.Thread]:
    """`python -m server.launch`, its output gathered line by line as it comes."""
    process = subprocess.Popen([sys.executable, "-m", "server.launch"], env=env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    return process, lines, reader


def test_first_run_ends_with_the_console_and_the_admin_key(tmp_path: Path) -> None:
    port = free_port()
    process, lines, reader = _launch(_launch_env(tmp_path, port, WAGW_BROKER="memory"))
    try:
        key_line = KEY_LINE
        wait_for(lambda: any(key_line.match(line) for line in lines), "the admin key in the banner", timeout=90)
        seen = list(lines)
        start = next(i for i, line in enumerate(seen) if line.startswith("WA Gateway is running"))
        end = next(i for i, line in enumerate(seen) if key_line.match(line))
        key = key_line.match(seen[end])[1]

        # Every role's start-up log came first, and nothing is mixed into the banner.
        messages = _messages(seen)
        for started in STARTED:
            assert started in messages[:start], (started, seen)
        assert not any(line.startswith("{") for line in seen[start:end]), seen
        # Its last lines: the console, then the key to sign in with.
        banner = [line for line in seen[start:end + 1] if line.strip()]
        assert banner[-3] == f"Open the console: http://localhost:{port}/"
        assert banner[-2].startswith("Sign in with the first admin API key")

        site = f"http://{LOCALHOST}:{port}"
        page = httpx.get(f"{site}/", timeout=10)
        assert page.status_code == 200 and "WA Gateway console" in page.text
        ok(httpx.get(f"{site}/api/profiles", headers={"X-API-Key": key}, timeout=10))
        # The banner waited for /healthz, so the API server has answered health checks: none was logged.
        assert not [line for line in lines if "grpc.health.v1" in line]
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)


def test_with_redis_make_run_serves_the_api_from_one_process_per_core(tmp_path: Path) -> None:
    """WAGW_API_PROCESSES API servers, each on ports of its own, all behind Envoy: requests reach every one."""
    # Two API processes: the second one listens on each port + 1.
    port, grpc_port, unary_port, metrics_port = free_port(), *(free_port(span=2) for _ in range(3))
    env = _launch_env(tmp_path, port, WAGW_BROKER="redis", WAGW_API_PROCESSES="2",
                      WAGW_REDIS_NAMESPACE=f"wagw-first-run-{uuid.uuid4().hex[:8]}")
    env |= {"WAGW_GRPC_PORT": str(grpc_port), "WAGW_GRPC_UNARY_PORT": str(unary_port),
            "WAGW_METRICS_PORT": str(metrics_port)}
    process, lines, reader = _launch(env)
    try:
        wait_for(lambda: any(KEY_LINE.match(line) for line in lines), "the admin key in the banner", timeout=90)
        key = next(KEY_LINE.match(line)[1] for line in lines if KEY_LINE.match(line))
        assert _messages(lines).count("grpc server listening") == 2, lines
        def served(metrics: int) -> float:
            text = httpx.get(f"http://{LOCALHOST}:{metrics}/metrics", timeout=10).text
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("wagw_rpc_requests_total{") and "ListProfiles" in line)

        with httpx.Client(base_url=f"http://{LOCALHOST}:{port}/api", headers={"X-API-Key": key},
                          timeout=10) as rest:
            def both_served() -> bool:  # Envoy sends to a server once its health check passed
                for _ in range(10):
                    ok(rest.get("/profiles"))
                return all(served(metrics) > 0 for metrics in (metrics_port, metrics_port + 1))

            wait_for(both_served, "requests on both API servers", timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)
        forget_namespace(env)

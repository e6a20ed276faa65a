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
from pathlib import Path

import httpx

from server.core.config import ROOT
from tests.support.api import ok, wait_for
from tests.support.net import LOCALHOST, free_port

STARTED = ("grpc server listening", "engine host listening", "websocket bridge listening", "metrics listening",
           "simulator listening")


def _messages(lines: list[str]) -> list[str]:
    return [json.loads(line).get("msg", "") if line.startswith("{") else "" for line in lines]


def test_first_run_ends_with_the_console_and_the_admin_key(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("WAGW_ADMIN_API_KEY", "WAGW_LOG_LEVEL", "WAGW_INTERNAL_TOKEN", "WAGW_SIMULATOR_ADDRESS")}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'wagw.db'}",
        "WAGW_BROKER": "memory",
        "WAGW_HTTP_HOST": LOCALHOST,
        "WAGW_HTTP_PORT": str(port),
        "WAGW_SIMULATOR_STATE": str(tmp_path / "simulator.db"),
        **{name: str(free_port()) for name in ("WAGW_GRPC_PORT", "WAGW_ENGINE_PORT", "WAGW_WS_PORT",
                                               "WAGW_METRICS_PORT", "WAGW_ENVOY_ADMIN_PORT", "WAGW_SIMULATOR_PORT")},
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
    }
    process = subprocess.Popen([sys.executable, "-m", "server.launch"], env=env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    try:
        key_line = re.compile(r"^    (wagw_\w{8}_[\w-]+)$")
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

"""What the crash tests share: faster recovery settings, killing a process for real, and a Redis of their own."""

from __future__ import annotations

import subprocess
import time

from server.launch import Child
from tests.support.net import LOCALHOST, free_port, wait_for_port

# Faster recovery than production, so each test takes seconds: a queued wake-up that is 3 s overdue (lost with
# Redis) is queued again (not after 30 s), and a killed worker's hold on its jobs lapses after 3 s (not 5 s).
FAST_RECOVERY = {"WAGW_SWEEP_OVERDUE_S": "3", "WAGW_JOB_LEASE_S": "3"}

def kill_and_restart(child: Child, port: int | None) -> None:
    assert child.process is not None and child.process.poll() is None, f"{child.name} is not running"
    child.process.kill()
    child.process.wait()
    time.sleep(0.5)  # down for a moment: requests and deliveries meet a dead process
    child.start()
    if port is not None:
        wait_for_port(port, timeout=20)

class PrivateRedis:
    """A redis-server of the test's own on a free port (never the machine's shared one), started empty each
    time: no snapshot, no append-only file."""

    def __init__(self, workdir: str):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", LOCALHOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir)
        wait_for_port(self.port, timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

"""Ports for tests: everything binds 127.0.0.1 only.

Ports are chosen below the kernel's ephemeral range (ip_local_port_range). A port the OS picks with bind(0) lies
inside that range, and between the choice and the server's own bind any outgoing connection on the machine (a
process connecting to PostgreSQL, Redis or gRPC) may be given it as its local port: the scale drill, starting
six processes at once, lost an API server that way. Each pytest-xdist worker takes its own slice of the range,
and a process hands its ports out in turn, so two servers of one test never get the same one.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from pathlib import Path

LOCALHOST = "127.0.0.1"
_SLICE = 2000  # ports per pytest process
_LOWEST = 10000


def _slice() -> range:
    """This process's ports: a slice of those below the ephemeral range, chosen by the xdist worker number."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    slices = max(1, (ephemeral - _LOWEST) // _SLICE)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = _LOWEST + (int(worker) if worker.isdigit() else 0) % slices * _SLICE
    return range(start, start + _SLICE)


_PORTS = _slice()
_lock = threading.Lock()
_next = random.randrange(len(_PORTS))  # a random start: a bench or a second pytest run beside this one


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOCALHOST, span: int = 1) -> int:
    """The first of `span` consecutive TCP ports nothing is bound to right now, none handed out by this process
    before (until its slice of ports wraps around)."""
    global _next
    with _lock:
        for _ in range(len(_PORTS)):
            if _next + span > len(_PORTS):
                _next = 0
            first = _PORTS[_next]
            _next += span
            if all(_bindable(host, port) for port in range(first, first + span)):
                return first
    raise RuntimeError(f"no {span} free consecutive ports in {_PORTS}")


def wait_for_port(port: int, host: str = LOCALHOST, timeout: float = 10.0) -> None:
    """Returns once something accepts connections on host:port; raises TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)

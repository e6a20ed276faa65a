"""The tests' port picker (tests/support/net.py): ports outside the ephemeral range, never handed out twice."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support import net
from tests.support.net import LOCALHOST, free_port


def test_ports_lie_below_the_ephemeral_range_and_are_not_repeated() -> None:
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == 200
    assert all(1024 <= port < ephemeral for port in ports)


def test_a_span_is_consecutive_free_ports_and_the_next_pick_skips_it() -> None:
    first = free_port(span=3)
    for port in range(first, first + 3):
        with socket.socket() as sock:
            sock.bind((LOCALHOST, port))
    assert free_port() not in range(first, first + 3)


def test_a_port_in_use_is_skipped(monkeypatch) -> None:
    monkeypatch.setattr(net, "_next", 0)
    upcoming = net._PORTS[0]  # the port the picker tries next
    with socket.socket() as blocker:
        blocker.bind((LOCALHOST, upcoming))
        blocker.listen()
        assert free_port() == upcoming + 1

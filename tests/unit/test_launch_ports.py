"""`make run`'s ports (server/launch.py, server/core/config.py): defaults outside the ephemeral range, and two roles
on one port stopped before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.config import Settings
from server.launch import check_ports

PORT_SETTINGS = ("WAGW_HTTP_PORT", "WAGW_ENVOY_ADMIN_PORT", "WAGW_WS_PORT", "WAGW_ENGINE_PORT", "WAGW_SIMULATOR_PORT",
                 "WAGW_GRPC_PORT", "WAGW_GRPC_UNARY_PORT", "WAGW_METRICS_PORT")


@pytest.fixture
def defaults(monkeypatch) -> Settings:
    for name in PORT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return Settings()


def test_every_default_port_lies_below_the_ephemeral_range(defaults: Settings) -> None:
    # In the range, an outgoing connection of the machine may hold the port when the gateway starts.
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [defaults.http_port, defaults.envoy_admin_port, defaults.ws_port, defaults.engine_port,
             defaults.simulator_port, defaults.metrics_port, defaults.grpc_port, defaults.grpc_unary_port]
    assert all(port + 4 < min(ephemeral, 32768) for port in ports), ports  # 4: make run's API servers at most


def test_the_default_ports_leave_room_for_every_default_api_server(defaults: Settings) -> None:
    check_ports(defaults, 4)


def test_api_servers_reaching_another_roles_port_stop_the_start(defaults: Settings) -> None:
    with pytest.raises(SystemExit, match=r"WAGW_ENGINE_PORT and WAGW_GRPC_PORT \+ 10 are both port 30061"):
        check_ports(defaults, 12)


def test_two_settings_on_one_port_stop_the_start(monkeypatch, defaults: Settings) -> None:
    monkeypatch.setenv("WAGW_WS_PORT", str(defaults.http_port))
    with pytest.raises(SystemExit, match=r"WAGW_HTTP_PORT and WAGW_WS_PORT are both port 3001"):
        check_ports(Settings(), 1)

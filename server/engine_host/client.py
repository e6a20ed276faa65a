"""How the API server (and the workers) reach the engine host that holds, or should hold, a profile.

Channels are kept per host address. gRPC's own reconnect backoff grows to two minutes while a host is down, so a
cached channel to a host that died and came back (same address) would refuse calls for up to that long: the
backoff here stays within RECONNECT_MAX_MS, and a call waits for the connection (wait-for-ready) up to
CONNECT_WAIT_S before it fails, so a host that restarts within seconds is reached within seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import grpc

from server.core.config import load
from server.core.errors import ApiError, passed_on
from server.core.hosts import alive_hosts, late_hosts
from server.core.models import Profile
from server.core.rpc import internal_metadata
from wagw.engine.v1 import engine_host_pb2_grpc

Reply = TypeVar("Reply")
_hosts: dict[str, _Host] = {}
_lock = threading.Lock()
CALL_TIMEOUT_S = 30.0
# DownloadMedia answers with whole files: documents are up to 100 MiB (gRPC's default limit is 4 MiB).
MAX_REPLY_BYTES = 101 * 1024 * 1024
# Reconnect attempts to a host that went away: every 100 ms at first, never more than a second apart.
RECONNECT_MIN_MS = 100
RECONNECT_MAX_MS = 1000
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_REPLY_BYTES),
    ("grpc.initial_reconnect_backoff_ms", RECONNECT_MIN_MS),
    ("grpc.min_reconnect_backoff_ms", RECONNECT_MIN_MS),
    ("grpc.max_reconnect_backoff_ms", RECONNECT_MAX_MS),
)
# How long a call waits for a host that cannot be reached before it fails UNAVAILABLE (the caller tries again
# later: a worker's delivery re-queues itself).
CONNECT_WAIT_S = 2.0


@cache
def _metadata() -> tuple[tuple[str, str], ...]:
    """The internal token every call carries, from the settings of the first call (not at import)."""
    return internal_metadata(load())


class _Host:
    """The channel to one engine host address, and whether the last call found it connected. Not a subscription
    to its state: grpcio polls a subscribed channel five times a second for as long as it lives, 0.45 % of a core
    in every process that ever called an engine host (most of an idle API server's CPU, bench/idle.py)."""

    def __init__(self, address: str):
        self.address = address
        self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = engine_host_pb2_grpc.EngineHostServiceStub(self.channel)
        self.connected = False

    def ready_stub(self) -> engine_host_pb2_grpc.EngineHostServiceStub:
        """The stub: at once while the calls go through, else once the channel is connected, after waiting up to
        CONNECT_WAIT_S for a (re)connection."""
        if not self.connected:
            try:
                grpc.channel_ready_future(self.channel).result(timeout=CONNECT_WAIT_S)
            except grpc.FutureTimeoutError:
                raise ApiError("UNAVAILABLE", f"the engine host at {self.address} cannot be reached; "
                                              "retry later") from None
            self.connected = True
        return self.stub


def _host(address: str) -> _Host:
    with _lock:
        host = _hosts.get(address)
        if host is None:
            host = _hosts[address] = _Host(address)
    return host


def host_address(profile: Profile, hosts: dict[str, str] | None = None) -> str:
    """The profile's own host while it is alive; otherwise the live host holding the fewest profiles. `hosts`:
    the live hosts as the caller read them (alive_hosts), if it did."""
    hosts = alive_hosts() if hosts is None else hosts
    if profile.host_id in hosts:
        return hosts[profile.host_id]
    if not hosts:
        hosts = late_hosts()
        if profile.host_id in hosts:
            return hosts[profile.host_id]
    if not hosts:
        raise ApiError("UNAVAILABLE", "no engine host is running; profiles that should be connected will "
                                      "connect when one starts")
    load = {host_id: 0 for host_id in hosts}
    for row in Profile.select(Profile.host_id).where(Profile.host_id.in_(list(hosts))):
        load[row.host_id] += 1
    return hosts[min(load, key=lambda host_id: (load[host_id], host_id))]


def call(profile: Profile, method: Callable[[engine_host_pb2_grpc.EngineHostServiceStub], Callable[..., Reply]],
         request: object, hosts: dict[str, str] | None = None) -> Reply:
    """Call one EngineHostService method for the profile; the host's errors come back as ApiErrors."""
    return call_at(host_address(profile, hosts), method, request)


def call_at(address: str, method: Callable[[engine_host_pb2_grpc.EngineHostServiceStub], Callable[..., Reply]],
            request: object) -> Reply:
    """Call one EngineHostService method of the host at `address`."""
    host = _host(address)
    try:
        return method(host.ready_stub())(request, timeout=CALL_TIMEOUT_S, metadata=_metadata())
    except grpc.RpcError as error:  # the host's own error, passed on whole (code, message, details such as the field)
        if error.code() is grpc.StatusCode.UNAVAILABLE:
            host.connected = False  # the connection may be gone: the next call waits for it first
        raise passed_on(error, f"the engine host at {address} did not answer") from error

"""How the API server (and the workers) reach the engine host that holds, or should hold, a profile."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import grpc

from server.core.config import load
from server.core.errors import ApiError, passed_on
from server.core.hosts import alive_hosts
from server.core.models import Profile
from server.core.rpc import internal_metadata
from wagw.engine.v1 import engine_host_pb2_grpc

Reply = TypeVar("Reply")
_channels: dict[str, grpc.Channel] = {}
_lock = threading.Lock()
CALL_TIMEOUT_S = 30.0
# DownloadMedia answers with whole files: documents are up to 100 MiB (gRPC's default limit is 4 MiB).
MAX_REPLY_BYTES = 101 * 1024 * 1024


@cache
def _metadata() -> tuple[tuple[str, str], ...]:
    """The internal token every call carries, from the settings of the first call (not at import)."""
    return internal_metadata(load())


def _stub(address: str) -> engine_host_pb2_grpc.EngineHostServiceStub:
    with _lock:
        channel = _channels.get(address)
        if channel is None:
            channel = _channels[address] = grpc.insecure_channel(
                address, options=[("grpc.max_receive_message_length", MAX_REPLY_BYTES)])
    return engine_host_pb2_grpc.EngineHostServiceStub(channel)


def host_address(profile: Profile) -> str:
    """The profile's own host while it is alive; otherwise the live host holding the fewest profiles."""
    hosts = alive_hosts()
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
         request: object) -> Reply:
    """Call one EngineHostService method for the profile; the host's errors come back as ApiErrors."""
    address = host_address(profile)
    try:
        return method(_stub(address))(request, timeout=CALL_TIMEOUT_S, metadata=_metadata())
    except grpc.RpcError as error:  # the host's own error, passed on whole (code, message, details such as the field)
        raise passed_on(error, f"the engine host at {address} did not answer") from error

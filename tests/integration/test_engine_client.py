"""The workers' and API servers' channel to an engine host (server/engine_host/client.py) reaches a host that died
and came back on the same address within a second or two, however long it was down: gRPC's own reconnect backoff
would grow towards two minutes, and a cached channel would refuse calls for that long (issue 14 point 8)."""

from __future__ import annotations

import time
from concurrent import futures

import grpc
import pytest

from server.core.errors import ApiError
from server.engine_host import client
from tests.support.net import LOCALHOST, free_port
from wagw.engine.v1 import engine_host_pb2, engine_host_pb2_grpc

DOWN_S = 30  # long enough for gRPC's default backoff to reach 10-17 s between attempts


class Host(engine_host_pb2_grpc.EngineHostServiceServicer):
    def Send(self, request, context):
        return engine_host_pb2.SendResponse(wa_message_id=f"wa-{request.message_id}")


def serve(port: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=[("grpc.so_reuseport", 0)])
    engine_host_pb2_grpc.add_EngineHostServiceServicer_to_server(Host(), server)
    server.add_insecure_port(f"{LOCALHOST}:{port}")
    server.start()
    return server


def send(address: str) -> str:
    return client.call_at(address, lambda host: host.Send, engine_host_pb2.SendRequest(message_id="m1")).wa_message_id


@pytest.mark.timeout(90)
def test_a_restarted_engine_host_is_reached_within_seconds() -> None:
    port = free_port()
    address = f"{LOCALHOST}:{port}"
    server = serve(port)
    assert send(address) == "wa-m1"
    server.stop(grace=None).wait()

    down_until = time.monotonic() + DOWN_S
    while time.monotonic() < down_until:  # callers keep trying meanwhile, as workers do
        with pytest.raises(ApiError) as refused:
            send(address)
        assert refused.value.code == "UNAVAILABLE"
        time.sleep(0.5)

    server = serve(port)
    try:
        back = time.monotonic()
        while True:
            try:
                assert send(address) == "wa-m1"
                break
            except ApiError:
                # A bound from the issue ("reconnect promptly"), generous for a loaded machine: the reconnect
                # backoff is at most a second and a call waits two for the connection (gRPC's default would wait
                # up to the next attempt of its grown backoff, most often well past this bound).
                assert time.monotonic() - back < 3, "the restarted host was not reached within 3 s"
                time.sleep(0.1)
    finally:
        server.stop(grace=None)

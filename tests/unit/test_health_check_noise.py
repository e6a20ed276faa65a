"""Health checks are not noise: Envoy asks the API server's grpc.health.v1 service every second, so those calls
are logged at DEBUG (every other RPC at INFO) and counted in wagw_health_checks_total, apart from the per-method
RPC metrics. Through a real in-process gRPC server with the API server's interceptor."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server.api import metrics
from server.api.interceptors import GatewayInterceptor
from server.core.config import Settings
from server.core.db import open_database

OTHER_METHOD = "/test.Echo/Say"  # not a health check: needs credentials, which this test does not send


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    """The API server's interceptor on a grpc.aio server of its own, on an event loop of its own thread."""
    database = open_database(f"sqlite:///{tmp_path / 'wagw.db'}")
    pool = futures.ThreadPoolExecutor(4)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(interceptors=[GatewayInterceptor(Settings(internal_token=""), pool)])
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request,
                                                   request_deserializer=empty_pb2.Empty.FromString,
                                                   response_serializer=empty_pb2.Empty.SerializeToString)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", {"Say": echo})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as client:
            yield client
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        pool.shutdown()
        database.close()


def _check(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _other(channel: grpc.Channel) -> None:
    call = channel.unary_unary(OTHER_METHOD, request_serializer=empty_pb2.Empty.SerializeToString,
                               response_deserializer=empty_pb2.Empty.FromString)
    with pytest.raises(grpc.RpcError) as refused:
        call(empty_pb2.Empty(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _eventually(condition: Callable[[], bool]) -> bool:
    """An aborted RPC's status reaches the client before the interceptor's `finally` logs and counts it."""
    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def _rpc_records(caplog: pytest.LogCaptureFixture, method: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == "rpc" and record.fields["method"] == method]


def test_health_checks_are_logged_at_debug(channel: grpc.Channel, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="wagw.rpc"):
        _check(channel)
        _other(channel)
        assert _eventually(lambda: bool(_rpc_records(caplog, OTHER_METHOD)))
    checks = _rpc_records(caplog, "/grpc.health.v1.Health/Check")
    others = _rpc_records(caplog, OTHER_METHOD)
    assert [record.levelno for record in checks] == [logging.DEBUG]
    assert [record.levelno for record in others] == [logging.INFO]


def test_health_checks_are_counted_apart(channel: grpc.Channel) -> None:
    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    checks, rpcs = sample("wagw_health_checks_total", code="OK"), sample(
        "wagw_rpc_requests_total", method=OTHER_METHOD, code="UNAUTHORIZED")
    for _ in range(3):
        _check(channel)
    _other(channel)
    assert sample("wagw_health_checks_total", code="OK") == checks + 3
    assert _eventually(lambda: sample("wagw_rpc_requests_total", method=OTHER_METHOD, code="UNAUTHORIZED") == rpcs + 1)
    assert sample("wagw_rpc_requests_total", method="/grpc.health.v1.Health/Check", code="OK") == 0
    assert sample("wagw_rpc_duration_seconds_count", method="/grpc.health.v1.Health/Check") == 0

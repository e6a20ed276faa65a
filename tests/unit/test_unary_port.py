"""The API server's unary port is a thread-pool server behind server.core.rpc.Interceptor (issue 15): its threads
keep their database connections between calls, the request id rides in the trailers and a handler's response
headers in the initial metadata (as on the asyncio port), and a coroutine stream, which that port cannot serve
without holding a thread, is refused with the port that serves it. Through a real in-process gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import wrappers_pb2

from server.core import runtime
from server.core.config import Settings
from server.core.db import database, open_database
from server.core.rpc import Interceptor, add_response_header


def _connection_id(request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> wrappers_pb2.StringValue:
    add_response_header("content-disposition", 'attachment; filename="a.txt"')
    return wrappers_pb2.StringValue(value=str(id(database.connection())))


async def _watch(request: wrappers_pb2.StringValue, context: grpc.aio.ServicerContext
                 ) -> AsyncIterator[wrappers_pb2.StringValue]:
    yield request


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """`serve(keeps_connections)`: (a channel to a one-thread server with the rules, that server's pool)."""
    opened = open_database(f"sqlite:///{tmp_path / 'wagw.db'}")
    servers, channels, pools = [], [], []

    def start(keeps_connections: bool) -> tuple[grpc.Channel, futures.ThreadPoolExecutor]:
        pool = futures.ThreadPoolExecutor(1)
        interceptor = Interceptor(Settings(internal_token=""), keeps_connections=keeps_connections)
        server = runtime.new_server(Settings(), interceptor, pool=pool)
        handlers = {
            "Connection": grpc.unary_unary_rpc_method_handler(
                _connection_id, request_deserializer=wrappers_pb2.StringValue.FromString,
                response_serializer=wrappers_pb2.StringValue.SerializeToString),
            "Watch": grpc.unary_stream_rpc_method_handler(
                _watch, request_deserializer=wrappers_pb2.StringValue.FromString,
                response_serializer=wrappers_pb2.StringValue.SerializeToString),
        }
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Rpc", handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        pools.append(pool)
        channels.append(grpc.insecure_channel(f"127.0.0.1:{port}"))
        return channels[-1], pool

    yield start
    for channel in channels:
        channel.close()
    for server in servers:
        server.stop(None).wait()
    for pool in pools:
        pool.submit(database.close).result()
        pool.shutdown()
    opened.close()


def _call(channel: grpc.Channel) -> grpc.Call:
    method = channel.unary_unary("/test.Rpc/Connection", request_serializer=wrappers_pb2.StringValue.SerializeToString,
                                 response_deserializer=wrappers_pb2.StringValue.FromString)
    return method.with_call(wrappers_pb2.StringValue(), metadata=(("x-request-id", "req-1"),), timeout=10)


def test_a_pool_thread_keeps_its_connection_between_calls(serve) -> None:
    channel, pool = serve(keeps_connections=True)
    first, _ = _call(channel)
    second, _ = _call(channel)
    assert first.value == second.value
    assert pool.submit(database.is_closed).result() is False


def test_without_keeping_a_call_closes_the_connection_it_opened(serve) -> None:
    channel, pool = serve(keeps_connections=False)
    _call(channel)
    assert pool.submit(database.is_closed).result() is True


def test_the_request_id_rides_in_the_trailers_and_response_headers_in_the_initial_metadata(serve) -> None:
    channel, _ = serve(keeps_connections=True)
    _, call = _call(channel)
    assert ("x-request-id", "req-1") in call.trailing_metadata()
    assert ("content-disposition", 'attachment; filename="a.txt"') in call.initial_metadata()
    assert "x-request-id" not in dict(call.initial_metadata())


def test_a_coroutine_stream_is_refused_naming_the_port_that_serves_it(serve) -> None:
    channel, _ = serve(keeps_connections=True)
    watch = channel.unary_stream("/test.Rpc/Watch", request_serializer=wrappers_pb2.StringValue.SerializeToString,
                                 response_deserializer=wrappers_pb2.StringValue.FromString)
    with pytest.raises(grpc.RpcError) as refused:
        list(watch(wrappers_pb2.StringValue(value="x"), timeout=10))
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "WAGW_GRPC_PORT" in refused.value.details()

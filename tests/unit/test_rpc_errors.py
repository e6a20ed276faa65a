"""What a failed call answers (server/core/rpc.py): a database that refused or dropped the connection is
UNAVAILABLE, to try again (a worker sends the message again later, REST answers 503), and any other bug INTERNAL;
both name the request id. Through a real in-process gRPC server behind the gateway's Interceptor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import peewee
import pytest
from google.protobuf import wrappers_pb2

from server.core import runtime
from server.core.config import Settings
from server.core.db import open_database
from server.core.rpc import Interceptor

FAILURES: dict[str, Callable[[], Exception]] = {
    "TooManyClients": lambda: peewee.OperationalError("FATAL: sorry, too many clients already"),
    "ConnectionClosed": lambda: peewee.InterfaceError("connection already closed"),
    "Bug": lambda: KeyError("profile"),
}


def _failing(name: str) -> Callable[[wrappers_pb2.StringValue, grpc.ServicerContext], wrappers_pb2.StringValue]:
    def handler(request: wrappers_pb2.StringValue, context: grpc.ServicerContext) -> wrappers_pb2.StringValue:
        raise FAILURES[name]()

    return handler


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    opened = open_database(f"sqlite:///{tmp_path / 'wagw.db'}")
    server = runtime.new_server(Settings(), Interceptor(Settings(internal_token="")))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Rpc", {
        name: grpc.unary_unary_rpc_method_handler(
            _failing(name), request_deserializer=wrappers_pb2.StringValue.FromString,
            response_serializer=wrappers_pb2.StringValue.SerializeToString)
        for name in FAILURES})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as opened_channel:
        yield opened_channel
    server.stop(None).wait()
    opened.close()


@pytest.mark.parametrize(("name", "code", "message"), [
    ("TooManyClients", grpc.StatusCode.UNAVAILABLE, "the database is unavailable; try again (request id req-9)"),
    ("ConnectionClosed", grpc.StatusCode.UNAVAILABLE, "the database is unavailable; try again (request id req-9)"),
    ("Bug", grpc.StatusCode.INTERNAL, "internal error (request id req-9)"),
])
def test_a_failed_call_answers_what_the_caller_can_do(channel, name, code, message) -> None:
    call = channel.unary_unary(f"/test.Rpc/{name}", request_serializer=wrappers_pb2.StringValue.SerializeToString,
                               response_deserializer=wrappers_pb2.StringValue.FromString)
    with pytest.raises(grpc.RpcError) as raised:
        call(wrappers_pb2.StringValue(), metadata=(("x-request-id", "req-9"),), timeout=10)
    assert (raised.value.code(), raised.value.details()) == (code, message)

"""A real gRPC server and a real Envoy in front of it, as context managers for module-scoped fixtures.

A test module registers its servicers, then yields the Envoy from a fixture (see tests/test_gateway.py):
`with grpc_server(lambda s: add_FooServicer_to_server(Foo(), s)) as port, envoy_gateway(port) as envoy:`.
`envoy.url` is the base URL for HTTP clients, `envoy.grpc_target` the target for gRPC channels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc

from gateway.envoy import Envoy, start
from server.core.runtime import SERVER_OPTIONS
from tests.support.net import LOCALHOST, free_port

Registration = Callable[[grpc.Server], None]


@contextmanager
def grpc_server(*registrations: Registration, max_workers: int = 8) -> Iterator[int]:
    """Runs a grpc.server with the given servicers on 127.0.0.1 and yields its port.

    Each registration adds servicers, e.g. `lambda s: add_FooServicer_to_server(Foo(), s)`. The OS picks the
    port (port 0), and the gateway servers' options apply (no SO_REUSEPORT, so two servers never share a port;
    the same message size limits).
    """
    server = grpc.server(ThreadPoolExecutor(max_workers=max_workers), options=list(SERVER_OPTIONS))
    for register in registrations:
        register(server)
    port = server.add_insecure_port(f"{LOCALHOST}:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait()


@contextmanager
def envoy_gateway(upstream_port: int) -> Iterator[Envoy]:
    """Runs Envoy (envoy.yaml, on free ports, 127.0.0.1 only) in front of the gRPC server at upstream_port."""
    envoy = start(listen_port=free_port(), api_servers=[f"127.0.0.1:{upstream_port}"], admin_port=free_port())
    try:
        yield envoy
    finally:
        envoy.stop()

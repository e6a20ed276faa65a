"""What every gateway process does the same way: start up (logs, database, migrations), make a gRPC server
with the gateway interceptor, and wait for SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import threading
from concurrent import futures

import grpc

from server.core import db, logs, migrations
from server.core.config import Settings
from server.core.logs import fields

log = logging.getLogger("wagw.runtime")


# How long a thread may keep the GIL while another asks for it (Python's default: 5 ms). A thread inside a database
# transaction gives the GIL up at every statement and waits that long to get it back from a busy thread, all the
# while holding the database's write lock (SQLite) or its rows (PostgreSQL), which every other writer of every
# process waits for: a transaction of ten statements held SQLite's lock for up to 50 ms.
SWITCH_INTERVAL_S = 0.0005
# Python's cyclic garbage collector, by default, makes a young-generation pass every 700 net allocations of
# container objects and walks every object of the process every 100 such passes, holding the GIL while it does.
# Passes every 20,000 allocations, and what start-up made (the modules, the database schema) left out of them
# (`gc.freeze`), took the p99 of sends from 43-47 ms to 31-36 ms (bench.api's stack, SQLite, three runs each way),
# at the same throughput; cyclic garbage is collected a little later.
GC_THRESHOLDS = (20_000, 20, 20)


def prepare(settings: Settings, max_connections: int = db.DEFAULT_MAX_CONNECTIONS) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logs.configure(settings.log_level)
    db.open_database(settings.database_url, max_connections)
    migrations.migrate()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


# The largest request Envoy lets through (inline media, 24 MiB; envoy.yaml), with room for the protobuf framing.
MAX_REQUEST_BYTES = 24 * 1024 * 1024 + 64 * 1024
SERVER_OPTIONS = (
    # Without this, grpcio binds with SO_REUSEPORT and two servers could silently share a port.
    ("grpc.so_reuseport", 0),
    # Envoy limits request bodies per route; the server must not be the tighter limit (gRPC's default is 4 MiB),
    # nor a looser one for callers that reach it without Envoy.
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
)


def new_server(settings: Settings, interceptor: grpc.ServerInterceptor, *, thread_name: str = "rpc",
               max_message_bytes: int = MAX_REQUEST_BYTES, pool: futures.ThreadPoolExecutor | None = None
               ) -> grpc.Server:
    """A thread-pool gRPC server; `interceptor` is a server.core.rpc.Interceptor (the API server's checks callers'
    credentials, the engine host's the internal token). `max_message_bytes`: the largest request it takes (an
    internal service may take more than Envoy lets through). `pool`: threads it shares (the API server's two
    servers share theirs); by default WAGW_GRPC_WORKERS of its own."""
    options = [*SERVER_OPTIONS, ("grpc.max_receive_message_length", max_message_bytes)]
    return grpc.server(
        pool or futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix=thread_name),
        interceptors=[interceptor],
        options=list(dict(options).items()),
    )


def new_async_server(interceptor: grpc.aio.ServerInterceptor) -> grpc.aio.Server:
    """A grpc.aio server (call it on its event loop); `interceptor` is a server.core.rpc.AsyncInterceptor, which
    runs synchronous handlers on its own thread pool."""
    return grpc.aio.server(interceptors=[interceptor], options=list(SERVER_OPTIONS))


def listen(server: grpc.Server | grpc.aio.Server, address: str) -> int:
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return port


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping", extra=fields(signal=signal.Signals(signum).name))
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()


async def signalled() -> None:
    """Return on SIGTERM or SIGINT (for a process that runs an event loop)."""
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        log.info("stopping", extra=fields(signal=signal.Signals(signum).name))
        stopping.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    await stopping.wait()

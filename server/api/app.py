"""The gRPC API server: every wagw.v1 service, health and reflection, behind one interceptor, on two ports.

The main port (WAGW_GRPC_PORT) is a grpc.aio server and serves every method: its unary handlers are synchronous
(Peewee is) and run on a pool of WAGW_GRPC_WORKERS threads, each keeping its database connection open
(server/core/rpc.py); the streams (WatchEvents, WatchBatch) are coroutines fed by the stream hub
(server/api/streams.py), so a waiting stream holds no thread and a server carries thousands of them.

The unary port (WAGW_GRPC_UNARY_PORT) is a thread-pool grpcio server with the same servicers and the same pool,
which serves the unary methods only; Envoy sends every REST call and every unary gRPC call there, and only the
streams, health watches and reflection to the main port (envoy.yaml's grpc_unary and grpc_api clusters). Why two:
a unary call on the asyncio server passes from grpc's poller to the event loop, to a pool thread and back, and on
two cores those hand-offs were most of the API server's CPU; on the thread-pool port the same calls went 1.4-1.6x
as fast for reads and 1.1-1.6x for sends (bench/README.md "Issue 15, the latest session: the unary methods on a
thread-pool port"). A thread-pool server alone would hold a thread per open stream. gRPC callers that reach the API
server directly (the WebSocket bridge, the operator CLI) use the main port, which answers everything; through
Envoy they are routed like REST.

`python -m server.api` needs Redis (WAGW_BROKER=redis, or auto with Redis answering): with the in-process broker,
the workers must live in the API server's own process, which only `python -m server.launch` (make run) arranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.api import auth, metrics, streams
from server.api.interceptors import GatewayInterceptor, UnaryGatewayInterceptor
from server.api.services.api_keys import ApiKeyServicer
from server.api.services.bulk import BulkServicer
from server.api.services.chats import ChatServicer
from server.api.services.cloudapi_webhooks import CloudApiWebhookServicer
from server.api.services.contacts import ContactServicer
from server.api.services.events import EventServicer
from server.api.services.groups import GroupServicer
from server.api.services.messages import MessageServicer
from server.api.services.profiles import ProfileServicer
from server.api.services.templates import TemplateServicer
from server.api.services.webhooks import WebhookServicer
from server.core import broker, runtime
from server.core.config import Settings, load
from server.core.db import database
from server.core.logs import fields
from wagw.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    bulk_pb2,
    bulk_pb2_grpc,
    chats_pb2,
    chats_pb2_grpc,
    cloudapi_pb2,
    cloudapi_pb2_grpc,
    contacts_pb2,
    contacts_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    groups_pb2,
    groups_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
    profiles_pb2,
    profiles_pb2_grpc,
    templates_pb2,
    templates_pb2_grpc,
    webhooks_pb2,
    webhooks_pb2_grpc,
)

log = logging.getLogger("wagw.server")

SERVICE_NAMES = [
    service.full_name
    for module in (profiles_pb2, messages_pb2, chats_pb2, bulk_pb2, groups_pb2, contacts_pb2, webhooks_pb2,
                   events_pb2, api_keys_pb2, cloudapi_pb2, templates_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
]


def _servicers(settings: Settings, hub: streams.Hub) -> list[tuple[Callable[[Any, Any], None], Any]]:
    """Each servicer of the API, once, with the function that adds it to a server."""
    return [
        (profiles_pb2_grpc.add_ProfileServiceServicer_to_server, ProfileServicer(settings)),
        (contacts_pb2_grpc.add_ContactServiceServicer_to_server, ContactServicer()),
        (webhooks_pb2_grpc.add_WebhookServiceServicer_to_server, WebhookServicer(settings)),
        (api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server, ApiKeyServicer(hub)),
        (cloudapi_pb2_grpc.add_CloudApiWebhookServiceServicer_to_server, CloudApiWebhookServicer()),
        (messages_pb2_grpc.add_MessageServiceServicer_to_server, MessageServicer(settings)),
        (chats_pb2_grpc.add_ChatServiceServicer_to_server, ChatServicer()),
        (bulk_pb2_grpc.add_BulkServiceServicer_to_server, BulkServicer(hub)),
        (groups_pb2_grpc.add_GroupServiceServicer_to_server, GroupServicer()),
        (templates_pb2_grpc.add_TemplateServiceServicer_to_server, TemplateServicer()),
        (events_pb2_grpc.add_EventServiceServicer_to_server, EventServicer(hub, settings)),
    ]


@dataclass
class Servers:
    """The API server's two gRPC servers (not started yet), their bound ports and the stream hub."""

    main: grpc.aio.Server
    unary: grpc.Server
    port: int
    unary_port: int
    hub: streams.Hub


async def build_servers(settings: Settings, address: str, unary_address: str) -> Servers:
    """Both servers, bound to `address` (every method) and `unary_address` (the unary ones), on the running event
    loop."""
    pool = futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="rpc")
    main = runtime.new_async_server(GatewayInterceptor(settings, pool))
    unary = runtime.new_server(settings, UnaryGatewayInterceptor(settings), pool=pool)
    hub = streams.Hub(settings)
    for add, servicer in _servicers(settings, hub):
        add(servicer, main)
        add(servicer, unary)

    main_health, unary_health = health.aio.HealthServicer(), health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(main_health, main)
    health_pb2_grpc.add_HealthServicer_to_server(unary_health, unary)
    for name in ["", *SERVICE_NAMES]:
        await main_health.set(name, health_pb2.HealthCheckResponse.SERVING)
        unary_health.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME], main)
    return Servers(main, unary, runtime.listen(main, address), runtime.listen(unary, unary_address), hub)


def serve(settings: Settings, beside: Callable[[Settings], contextlib.AbstractContextManager[None]] | None = None
          ) -> None:
    """Run until SIGTERM or SIGINT, then end the streams, finish the calls in flight (up to 10 s) and stop.
    `beside` runs along (the workers, when the broker is in-process: server/launch.py)."""
    # A connection for each RPC thread and stream reader, and room for the rest (the event tail, the metrics, the
    # in-process workers).
    runtime.prepare(settings, max_connections=settings.grpc_workers + streams.READER_THREADS + 16)
    with database.connection_context():
        auth.ensure_configured_admin_key(settings)  # WAGW_ADMIN_API_KEY works whichever process started first
    embedded = broker.configure(settings)
    with beside(settings) if beside else contextlib.nullcontext():
        asyncio.run(_serve(settings, embedded))


async def _serve(settings: Settings, embedded: bool) -> None:
    servers = await build_servers(settings, f"{settings.grpc_host}:{settings.grpc_port}",
                                  f"{settings.grpc_host}:{settings.grpc_unary_port}")
    await servers.main.start()
    servers.unary.start()
    log.info("grpc server listening", extra=fields(address=f"{settings.grpc_host}:{servers.port}",
                                                   unary_port=servers.unary_port, embedded=embedded))
    metrics.serve(settings.metrics_host, settings.metrics_port)
    await runtime.signalled()
    servers.hub.close()  # open streams end now (UNAVAILABLE: watch again), not after the grace
    unary_stopped = servers.unary.stop(grace=10)
    await servers.main.stop(grace=10)
    await asyncio.to_thread(unary_stopped.wait)


def main() -> None:
    settings = load()
    if not broker.uses_redis(settings):
        sys.exit("python -m server.api needs Redis (REDIS_URL, WAGW_BROKER=redis): without it, deliveries go "
                 "through an in-process broker that only `python -m server.launch` (make run) can serve")
    serve(settings)

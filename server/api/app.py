"""The gRPC API server: every wagw.v1 service, health and reflection, behind one interceptor.

A grpc.aio server. The unary handlers are synchronous (Peewee is) and run on a pool of WAGW_GRPC_WORKERS threads,
each keeping its database connection open (server/core/rpc.py); the streams (WatchEvents, WatchBatch) are
coroutines fed by the stream hub (server/api/streams.py), so a waiting stream holds no thread and a server
carries thousands of them. Why not a second, streaming-only server: see server/api/streams.py.

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

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server.api import auth, metrics, streams
from server.api.interceptors import GatewayInterceptor
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


async def build_server(settings: Settings, address: str) -> tuple[grpc.aio.Server, int, streams.Hub]:
    """A server bound to `address`, not started yet (on the running event loop); returns it, the bound port and
    its stream hub."""
    pool = futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="rpc")
    server = runtime.new_async_server(GatewayInterceptor(settings, pool))
    hub = streams.Hub(settings)
    profiles_pb2_grpc.add_ProfileServiceServicer_to_server(ProfileServicer(settings), server)
    contacts_pb2_grpc.add_ContactServiceServicer_to_server(ContactServicer(), server)
    webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(settings), server)
    api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyServicer(hub), server)
    cloudapi_pb2_grpc.add_CloudApiWebhookServiceServicer_to_server(CloudApiWebhookServicer(), server)
    # The contract's routes whose behaviour later work builds: the generated servicers (and the methods our
    # servicers do not define yet) answer NotImplementedError, which the interceptor reports as
    # NOT_IMPLEMENTED (501).
    messages_pb2_grpc.add_MessageServiceServicer_to_server(MessageServicer(settings), server)
    chats_pb2_grpc.add_ChatServiceServicer_to_server(ChatServicer(), server)
    bulk_pb2_grpc.add_BulkServiceServicer_to_server(BulkServicer(hub), server)
    groups_pb2_grpc.add_GroupServiceServicer_to_server(GroupServicer(), server)
    templates_pb2_grpc.add_TemplateServiceServicer_to_server(TemplateServicer(), server)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(hub, settings), server)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *SERVICE_NAMES]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME], server)
    return server, runtime.listen(server, address), hub


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
    server, port, hub = await build_server(settings, f"{settings.grpc_host}:{settings.grpc_port}")
    await server.start()
    log.info("grpc server listening", extra=fields(address=f"{settings.grpc_host}:{port}", embedded=embedded))
    metrics.serve(settings.metrics_host, settings.metrics_port)
    await runtime.signalled()
    hub.close()  # open streams end now (UNAVAILABLE: watch again), not after the grace
    await server.stop(grace=10)


def main() -> None:
    settings = load()
    if not broker.uses_redis(settings):
        sys.exit("python -m server.api needs Redis (REDIS_URL, WAGW_BROKER=redis): without it, deliveries go "
                 "through an in-process broker that only `python -m server.launch` (make run) can serve")
    serve(settings)

"""The gRPC API server: every wagw.v1 service, health and reflection, behind one interceptor.

A thread pool, not grpc.aio: Peewee is synchronous, and grpcio-testing drives sync servicers. Each open
stream holds a thread, so the pool is sized by WAGW_GRPC_WORKERS for the watchers a server should carry.
"""

from __future__ import annotations

import contextlib
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server import event_bus, metrics, runtime
from server.config import Settings, load
from server.logs import fields
from server.services.api_keys import ApiKeyServicer
from server.services.bulk import BulkServicer
from server.services.cloudapi_webhooks import CloudApiWebhookServicer
from server.services.contacts import ContactServicer
from server.services.events import EventServicer
from server.services.groups import GroupServicer
from server.services.messages import MessageServicer
from server.services.profiles import ProfileServicer
from server.services.webhooks import WebhookServicer
from wagw.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    bulk_pb2,
    bulk_pb2_grpc,
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
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from worker import runner
from worker.broker import EMBEDDED

log = logging.getLogger("wagw.server")

SERVICE_NAMES = [
    service.full_name
    for module in (profiles_pb2, messages_pb2, bulk_pb2, groups_pb2, contacts_pb2, webhooks_pb2, events_pb2,
                   api_keys_pb2, cloudapi_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
]


def build_server(settings: Settings, address: str) -> tuple[grpc.Server, int]:
    """A started-but-not-yet-serving server bound to `address`; returns it and the bound port."""
    server = runtime.new_server(settings)
    profiles_pb2_grpc.add_ProfileServiceServicer_to_server(ProfileServicer(settings), server)
    contacts_pb2_grpc.add_ContactServiceServicer_to_server(ContactServicer(), server)
    webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(settings), server)
    api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyServicer(), server)
    cloudapi_pb2_grpc.add_CloudApiWebhookServiceServicer_to_server(CloudApiWebhookServicer(), server)
    # The contract's routes whose behaviour later work builds: the generated servicers (and the methods our
    # servicers do not define yet) answer NotImplementedError, which the interceptor reports as
    # NOT_IMPLEMENTED (501).
    messages_pb2_grpc.add_MessageServiceServicer_to_server(MessageServicer(), server)
    bulk_pb2_grpc.add_BulkServiceServicer_to_server(BulkServicer(), server)
    groups_pb2_grpc.add_GroupServiceServicer_to_server(GroupServicer(), server)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(), server)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *SERVICE_NAMES]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*SERVICE_NAMES, reflection.SERVICE_NAME, health.SERVICE_NAME], server)
    return server, runtime.listen(server, address)


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then finish the calls in flight (up to 10 s) and stop."""
    runtime.prepare(settings)
    server, port = build_server(settings, f"{settings.grpc_host}:{settings.grpc_port}")
    server.start()
    log.info("grpc server listening", extra=fields(address=f"{settings.grpc_host}:{port}", embedded=EMBEDDED))
    metrics.serve(settings.metrics_host, settings.metrics_port)
    # With no Redis, the broker lives in this process, and so must the workers that consume it.
    with runner.running(settings) if EMBEDDED else contextlib.nullcontext():
        runtime.wait_for_signal()
        event_bus.close()  # open event streams end now (UNAVAILABLE: watch again), not after the grace
        server.stop(grace=10).wait()


if __name__ == "__main__":
    serve(load())

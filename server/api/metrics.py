"""Prometheus metrics of the API server, served on WAGW_METRICS_PORT (127.0.0.1 by default) and routed by
Envoy at /metrics.

    wagw_rpc_requests_total{method, code}          RPCs finished, by full method and our error code (OK)
    wagw_rpc_duration_seconds{method}              RPC latency histogram (streams: their whole life)
    wagw_health_checks_total{code}                 gRPC health checks answered (Envoy's, every second), counted
                                                   apart so they do not swamp the RPC metrics
    wagw_outbox_messages{status}                   messages in the outbox by status, counted on scrape
    wagw_webhook_deliveries{status}                webhook deliveries by status, counted on scrape

The RPC metrics are recorded by server/api/interceptors.py where server/core/rpc.py writes the access log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import peewee
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.core.logs import fields
from server.core.rpc import is_health_check

log = logging.getLogger("wagw.metrics")

REGISTRY = CollectorRegistry()

RPC_REQUESTS = Counter("wagw_rpc_requests", "RPCs finished, by method and code.", ["method", "code"],
                       registry=REGISTRY)
RPC_DURATION = Histogram("wagw_rpc_duration_seconds", "RPC latency in seconds, by method.", ["method"],
                         registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
HEALTH_CHECKS = Counter("wagw_health_checks", "gRPC health checks answered, by code.", ["code"], registry=REGISTRY)


# The labelled children by their labels: `labels()` builds and looks them up under a lock on every call.
_requests: dict[tuple[str, str], Counter] = {}
_durations: dict[str, Histogram] = {}


def observe_rpc(method: str, code: str, seconds: float) -> None:
    if is_health_check(method):
        HEALTH_CHECKS.labels(code).inc()
        return
    counter = _requests.get((method, code))
    if counter is None:
        counter = _requests[method, code] = RPC_REQUESTS.labels(method, code)
    counter.inc()
    duration = _durations.get(method)
    if duration is None:
        duration = _durations[method] = RPC_DURATION.labels(method)
    duration.observe(seconds)


class _TableCollector(Collector):
    """Row counts by status, read from the database on each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from server.core import models
        from server.core.db import database

        tables = (
            ("wagw_outbox_messages", "Messages in the outbox, by status.", models.Message),
            ("wagw_webhook_deliveries", "Webhook deliveries, by status.", models.WebhookDelivery),
        )
        try:
            with database.connection_context():
                counts = {
                    name: list(model.select(model.status, peewee.fn.COUNT(peewee.SQL('*')).alias("n"))
                               .group_by(model.status).tuples())
                    for name, _, model in tables
                }
        except Exception:  # a scrape must not fail because the database is away; the gauges are left out
            log.warning("metrics: cannot count rows", exc_info=True)
            return
        for name, documentation, _ in tables:
            family = GaugeMetricFamily(name, documentation, labels=["status"])
            for status, n in sorted(counts[name]):
                family.add_metric([status], n)
            yield family


REGISTRY.register(_TableCollector())


def serve(host: str, port: int) -> None:
    """Starts the metrics HTTP server in a daemon thread."""
    start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics listening", extra=fields(address=f"{host}:{port}"))

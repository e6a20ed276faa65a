"""Every API server (its main and its unary port), WebSocket bridge and metrics endpoint is listed by configuration
(WAGW_API_SERVERS, WAGW_API_UNARY_SERVERS, WAGW_WS_SERVERS, WAGW_METRICS_SERVERS): Envoy's clusters and the
WebSocket bridge's channel name all of them, each on its own port, and Envoy's /healthz asks for one healthy API
server, not all (issue 14 point 11). Envoy sends the streams to the main ports and every unary method to the unary
ports (issue 15)."""

from __future__ import annotations

import re

import pytest

from gateway import envoy
from gateway.websocket import api_target
from server.core.config import Settings


def cluster(config: dict, name: str) -> dict:
    return next(c for c in config["static_resources"]["clusters"] if c["name"] == name)


def endpoints(config: dict, name: str) -> list[tuple[str, int]]:
    return [(e["endpoint"]["address"]["socket_address"]["address"], e["endpoint"]["address"]["socket_address"][
        "port_value"]) for locality in cluster(config, name)["load_assignment"]["endpoints"]
        for e in locality["lb_endpoints"]]


def test_every_server_is_an_endpoint_on_its_own_port() -> None:
    config = envoy.render_config(3001, ["10.0.0.1:50051", "10.0.0.2:50052"], 9901,
                                 websocket_servers=["10.0.0.1:3002", "10.0.0.3:3003"],
                                 metrics_servers=["10.0.0.1:9464", "10.0.0.2:9465"],
                                 api_unary_servers=["10.0.0.1:50151", "10.0.0.2:50152"])
    assert endpoints(config, "grpc_api") == [("10.0.0.1", 50051), ("10.0.0.2", 50052)]
    assert endpoints(config, "grpc_unary") == [("10.0.0.1", 50151), ("10.0.0.2", 50152)]
    assert endpoints(config, "websocket") == [("10.0.0.1", 3002), ("10.0.0.3", 3003)]
    assert endpoints(config, "metrics") == [("10.0.0.1", 9464), ("10.0.0.2", 9465)]
    assert cluster(config, "grpc_api")["type"] == "STATIC"
    # Servers named without their unary ports: their main ports answer unary calls too.
    assert endpoints(envoy.render_config(api_servers=["10.0.0.1:50051"]), "grpc_unary") == [("10.0.0.1", 50051)]


def test_names_are_resolved_by_dns_and_bad_addresses_refused() -> None:
    config = envoy.render_config(api_servers=["api-1.internal:50051", "[::1]:50052"])
    assert cluster(config, "grpc_api")["type"] == "STRICT_DNS"
    assert endpoints(config, "grpc_api") == [("api-1.internal", 50051), ("::1", 50052)]
    with pytest.raises(envoy.EnvoyError, match="'api-1' is not host:port"):
        envoy.render_config(api_servers=["api-1"])


def test_healthz_is_healthy_while_any_api_server_is_and_dead_servers_are_ejected() -> None:
    config = envoy.render_config()
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    health = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.health_check")
    assert health["typed_config"]["cluster_min_healthy_percentages"] == {"grpc_api": {"value": 1},
                                                                         "grpc_unary": {"value": 1}}
    for name in ("grpc_api", "grpc_unary", "websocket", "metrics"):
        assert cluster(config, name)["outlier_detection"]["consecutive_local_origin_failure"] == 2
    for name in ("grpc_api", "grpc_unary"):
        assert cluster(config, name)["health_checks"][0]["grpc_health_check"] == {}


def route_cluster(config: dict, path: str, headers: dict[str, str] | None = None) -> str:
    """The cluster of the first route matching a gRPC path (as Envoy's router sees it, after transcoding)."""
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    for route in manager["route_config"]["virtual_hosts"][0]["routes"]:
        match = route["match"]
        if any(header["name"] not in (headers or {}) for header in match.get("headers", [])):
            continue
        if (match.get("path") == path or ("prefix" in match and path.startswith(match["prefix"]))
                or ("safe_regex" in match and re.fullmatch(match["safe_regex"]["regex"], path))):
            return route["route"]["cluster"]
    raise AssertionError(f"no route for {path}")


def test_streams_go_to_the_main_ports_and_every_unary_method_to_the_unary_ports() -> None:
    config = envoy.render_config()
    for path in ("/wagw.v1.EventService/WatchEvents", "/wagw.v1.BulkService/WatchBatch",
                 "/grpc.health.v1.Health/Watch", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        assert route_cluster(config, path) == "grpc_api", path
    for path in ("/wagw.v1.ProfileService/GetProfile", "/wagw.v1.MessageService/SendText",
                 "/wagw.v1.MessageService/SendImage", "/wagw.v1.BulkService/SendBulk", "/wagw.v1.GroupService/Leave",
                 "/wagw.v1.ApiKeyService/CreateApiKey"):
        assert route_cluster(config, path) == "grpc_unary", path
        assert route_cluster(config, path, {"idempotency-key": "k"}) == "grpc_unary", path


def test_the_settings_list_every_server_or_this_machines_own(monkeypatch) -> None:
    monkeypatch.setenv("WAGW_API_SERVERS", " 10.0.0.1:50051, 10.0.0.2:50051 ,")
    monkeypatch.setenv("WAGW_GRPC_PORT", "50099")
    assert Settings().api_upstreams == ("10.0.0.1:50051", "10.0.0.2:50051")
    monkeypatch.delenv("WAGW_API_SERVERS")
    assert Settings().api_upstreams == ("127.0.0.1:50099",)
    monkeypatch.setenv("WAGW_GRPC_UNARY_PORT", "50199")
    assert Settings().api_unary_upstreams == ("127.0.0.1:50199",)
    monkeypatch.setenv("WAGW_API_SERVERS", "10.0.0.1:50051")
    assert Settings().api_unary_upstreams == ("10.0.0.1:50051",)  # named without theirs: the main ports
    monkeypatch.setenv("WAGW_API_UNARY_SERVERS", "10.0.0.1:50151")
    assert Settings().api_unary_upstreams == ("10.0.0.1:50151",)
    monkeypatch.setenv("WAGW_WS_SERVERS", "bridge")
    with pytest.raises(ValueError, match="WAGW_WS_SERVERS: 'bridge' is not host:port"):
        Settings()


def test_the_websocket_bridge_names_every_api_server() -> None:
    assert api_target(["127.0.0.1:50051", "localhost:50052"]) == "ipv4:127.0.0.1:50051,127.0.0.1:50052"

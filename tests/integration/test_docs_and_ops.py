"""The operations routes through the real stack: the OpenAPI document generated from the protos
(gateway/openapi.py) and /docs (Swagger UI over it), the operator console's files (console/dist, routed by
gateway/envoy.py), /healthz (Envoy's health_check filter over the API server's gRPC health check) and /metrics
(server/metrics.py); and which of an API server's two ports Envoy sends calls to."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc
import httpx
import pytest

from server.core.config import ROOT
from tests.support.contract import SEED_ROUTES, annotated_routes, path_shape
from tests.support.net import LOCALHOST, wait_for_port
from wagw.v1 import events_pb2, events_pb2_grpc, profiles_pb2, profiles_pb2_grpc

UI_PACKAGE = ROOT / "node_modules" / "swagger-ui-dist"
CONSOLE_DIST = ROOT / "console" / "dist"


def _get(stack, path: str) -> httpx.Response:
    return httpx.get(f"{stack.envoy.url}{path}", timeout=10)  # no credentials: these routes are open


def _resolve(document: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_openapi_document(stack):
    response = _get(stack, "/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.1")

    operations = {(verb.upper(), path_shape(path)) for path, ops in document["paths"].items() for verb in ops}
    for route in SEED_ROUTES:
        verb, path = route.split(" ")
        assert (verb, path_shape(path)) in operations, route
    # Every annotated route, not only the seed's.
    assert set(annotated_routes()) <= operations
    assert "/api/bulk/batch/{batchId}" in document["paths"]

    for ref in set(_refs(document)):
        _resolve(document, ref)

    send = document["paths"]["/api/bulk/send"]["post"]
    body = _resolve(document, send["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert {"profileId", "messages", "options"} <= set(body["properties"])
    item = _resolve(document, body["properties"]["messages"]["items"]["$ref"])
    # The seed's `"type": "text"` is a value the document accepts.
    assert {"TEXT", "text"} <= set(item["properties"]["type"]["enum"])
    assert body["required"] == ["profileId", "messages"]
    envelope = send["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["properties"]["success"] == {"const": True}
    error = _resolve(document, "#/components/schemas/ErrorEnvelope")
    assert "VALIDATION_ERROR" in error["properties"]["error"]["properties"]["code"]["enum"]
    assert {"ApiKey", "BearerAuth"} <= set(document["components"]["securitySchemes"])
    assert "application/x-ndjson" in document["paths"]["/api/events/watch"]["get"]["responses"]["200"]["content"]
    # What Envoy serves is the generated document itself.
    assert response.content == (ROOT / "gen" / "openapi.json").read_bytes()


def test_docs_page_is_swagger_ui_over_the_openapi_document(stack):
    """/docs is Swagger UI (npm swagger-ui-dist, as `make setup` installs it) over /api/openapi.json, every file
    served by Envoy itself."""
    response = _get(stack, "/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'url: "/api/openapi.json"' in page
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
    assert sorted(assets) == ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]
    kinds = {".js": "text/javascript", ".css": "text/css"}
    for asset in assets:
        served = _get(stack, asset)
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(kinds[Path(asset).suffix]), asset
        assert served.content == (UI_PACKAGE / Path(asset).name).read_bytes(), asset
    assert b"SwaggerUIBundle" in _get(stack, "/docs/assets/swagger-ui-bundle.js").content
    assert _get(stack, "/docs/").text == page
    missing = _get(stack, "/docs/assets/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_console_is_served_by_envoy(stack):
    """The console's page at /, /console and /console/, and every file of its build at its own path: what `make
    console` wrote, byte for byte, with its content-type; the page with a policy that keeps it to the gateway."""
    page = (CONSOLE_DIST / "index.html").read_bytes()
    for path in ("/", "/console", "/console/"):
        response = _get(stack, path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert response.content == page, path
        assert response.headers["cache-control"] == "no-cache"
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    referenced = set(re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page.decode()))
    built = {f"/console/assets/{item.relative_to(CONSOLE_DIST / 'assets').as_posix()}"
             for item in (CONSOLE_DIST / "assets").rglob("*") if item.is_file()}
    assert referenced and referenced <= built
    kinds = {".js": "text/javascript", ".css": "text/css"}
    for path in sorted(built):
        served = _get(stack, path)
        assert served.status_code == 200, path
        assert served.content == (CONSOLE_DIST / path.removeprefix("/console/")).read_bytes(), path
        assert served.headers["content-type"].startswith(kinds[Path(path).suffix]), path
        assert "immutable" in served.headers["cache-control"], path
    missing = _get(stack, "/console/assets/index-nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert _get(stack, "/console/elsewhere").status_code == 404


def _healthz_until(stack, status: int, timeout: float = 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = _get(stack, "/healthz")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_healthz_follows_the_api_server(stack):
    response = _healthz_until(stack, 200)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}

    stack.api.stop()
    try:
        response = _healthz_until(stack, 503)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
    finally:
        stack.api.start()
        wait_for_port(stack.grpc_port, timeout=20)
    assert _healthz_until(stack, 200).status_code == 200


def test_metrics(stack):
    with stack.rest() as client:
        assert client.get("/profiles").status_code == 200
    # Envoy's health checks (every second) are counted apart, not as RPCs of their own.
    health_checks = re.compile(r'^wagw_health_checks_total\{code="OK"\} [1-9]', re.MULTILINE)
    deadline = time.monotonic() + 10
    while True:
        response = _get(stack, "/metrics")
        if (response.status_code == 200 and health_checks.search(response.text)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the API server may just have restarted (test_healthz_follows_the_api_server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'wagw_rpc_requests_total{code="OK",method="/wagw.v1.ProfileService/ListProfiles"}' in text
    assert "wagw_rpc_duration_seconds_bucket{" in text
    assert "# TYPE wagw_outbox_messages gauge" in text
    assert health_checks.search(text), text
    assert "grpc.health.v1" not in text


def _upstream_requests(stack, cluster: str) -> int:
    stats = httpx.get(f"http://{LOCALHOST}:{stack.envoy.admin_port}/stats", timeout=10).text
    return int(re.search(rf"^cluster\.{cluster}\.upstream_rq_total: (\d+)$", stats, re.MULTILINE)[1])


def test_unary_calls_go_to_the_unary_port_and_streams_to_the_main_port(stack):
    """REST calls reach the API server's thread-pool port (grpc_unary); its main port still answers every method
    (direct gRPC callers use it), and the unary port refuses streams, naming the port that serves them."""
    before = _upstream_requests(stack, "grpc_unary")
    with stack.rest() as client:
        for _ in range(5):
            assert client.get("/profiles").status_code == 200
    assert _upstream_requests(stack, "grpc_unary") >= before + 5

    key = (("x-api-key", stack.admin_key),)
    server = stack.api_servers[0]
    for port in (server.port, server.unary_port):
        with grpc.insecure_channel(f"{LOCALHOST}:{port}") as channel:
            profiles_pb2_grpc.ProfileServiceStub(channel).ListProfiles(profiles_pb2.ListProfilesRequest(),
                                                                       metadata=key, timeout=10)
    with grpc.insecure_channel(f"{LOCALHOST}:{server.unary_port}") as channel:
        watch = events_pb2_grpc.EventServiceStub(channel).WatchEvents(events_pb2.WatchEventsRequest(since=-1),
                                                                      metadata=key, timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            next(watch)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "WAGW_GRPC_PORT" in refused.value.details()

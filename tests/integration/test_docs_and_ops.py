"""The operations routes through the real stack: the OpenAPI document and docs page generated from the protos
(gateway/openapi.py), /healthz (Envoy's health_check filter over the API server's gRPC health check) and
/metrics (server/metrics.py)."""

from __future__ import annotations

import time

import httpx

from tests.support.contract import SEED_ROUTES, annotated_routes, path_shape
from tests.support.net import wait_for_port


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
    type_schema = item["properties"]["type"]
    type_schema = _resolve(document, (type_schema.get("allOf") or [type_schema])[0]["$ref"])
    assert "TEXT" in type_schema["enum"]
    envelope = send["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["properties"]["success"] == {"const": True}
    error = _resolve(document, "#/components/schemas/ErrorEnvelope")
    assert "VALIDATION_ERROR" in error["properties"]["error"]["properties"]["code"]["enum"]
    assert {"ApiKey", "BearerAuth"} <= set(document["components"]["securitySchemes"])
    assert "application/x-ndjson" in document["paths"]["/api/events/watch"]["get"]["responses"]["200"]["content"]


def test_docs_page(stack):
    response = _get(stack, "/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/bulk/send" in response.text
    assert "<script" not in response.text.lower()


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
    deadline = time.monotonic() + 10
    while True:
        response = _get(stack, "/metrics")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the API server may just have restarted (test_healthz_follows_the_api_server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'wagw_rpc_requests_total{code="OK",method="/wagw.v1.ProfileService/ListProfiles"}' in text
    assert "wagw_rpc_duration_seconds_bucket{" in text
    assert "# TYPE wagw_outbox_messages gauge" in text

"""The Envoy gateway end to end: a real Envoy (envoy.yaml) in front of a real grpcio server with small stub
servicers. Checks the REST envelope, the HTTP status of each error code, Envoy's own replies, native gRPC
through the same port, and the seed's bulk example."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway import envoy as gateway_envoy
from server.core.errors import ApiError, conflict, error_reason, invalid, not_found
from tests.support.net import free_port
from tests.support.servers import envoy_gateway, grpc_server
from wagw.v1 import bulk_pb2, bulk_pb2_grpc, messages_pb2, messages_pb2_grpc, profiles_pb2, profiles_pb2_grpc

CREATED = timestamp_pb2.Timestamp(seconds=1_770_285_600)  # 2026-02-05T10:00:00Z
QUOTED_MESSAGE = 'say "hi" \\ back\nslash / tab\t {braces}, [brackets]: ünïcødé ✓ 😀'
AWKWARD_FIELD = 'we"ird}{[\\'


# GetProfile's id → the ApiError the stub raises.
ERRORS = {
    "bad": invalid("phoneNumber", "not a phone number"),
    "unauth": ApiError("UNAUTHORIZED", "no credentials"),
    "forbidden": ApiError("FORBIDDEN", "not your profile"),
    "missing": not_found("profile", "missing"),
    "dup": conflict("profile 'dup' exists"),
    "busy": conflict("profile is connecting", state=True),
    "offline": ApiError("PROFILE_NOT_CONNECTED", "profile is not connected"),
    "huge": ApiError("PAYLOAD_TOO_LARGE", "media over 16 MiB"),
    "limited": ApiError("RATE_LIMITED", "daily cap reached"),
    "unsupported": ApiError("NOT_SUPPORTED", "polls are not supported by the Cloud API"),
    "refused": ApiError("ENGINE_ERROR", "WhatsApp refused: 463"),
    "down": ApiError("UNAVAILABLE", "engine host down"),
    "bug": ApiError("INTERNAL", "internal error (request r-1)"),
    "quoted": ApiError("VALIDATION_ERROR", QUOTED_MESSAGE, field=AWKWARD_FIELD, note="}"),
}


class Profiles(profiles_pb2_grpc.ProfileServiceServicer):
    """Fixed profiles, and an error for each of the ids in ERRORS. ConnectProfile is left unimplemented."""

    def ListProfiles(self, request, context):
        return profiles_pb2.ListProfilesResponse(
            profiles=[
                profiles_pb2.Profile(id="p1", name="One", create_time=CREATED),
                profiles_pb2.Profile(id="p2", name="Two", status=profiles_pb2.Profile.CONNECTED),
            ],
            total_size=2,
        )

    def CreateProfile(self, request, context):
        return profiles_pb2.Profile(
            id=request.id or "profile-new",
            name=request.name,
            engine=request.engine,
            phone_number=request.phone_number,
            status=profiles_pb2.Profile.DISCONNECTED,
            create_time=CREATED,
        )

    def GetProfile(self, request, context):
        if request.id in ERRORS:
            context.abort_with_status(ERRORS[request.id].to_status())
        if request.id == "crash":
            raise RuntimeError("secret internals: /etc/passwd")
        if request.id == "bare":
            context.abort(grpc.StatusCode.NOT_FOUND, "no ErrorInfo here")
        if request.id == "late":
            # Headers first, the error in trailers: not the trailers-only reply grpcio sends otherwise.
            context.send_initial_metadata((("x-stage", "started"),))
            context.abort_with_status(conflict("changed meanwhile", state=True).to_status())
        return profiles_pb2.Profile(id=request.id)

    def DeleteProfile(self, request, context):
        return empty_pb2.Empty()


class Bulk(bulk_pb2_grpc.BulkServiceServicer):
    """Answers SendBulk from what it parsed (and keeps the request); streams three progress updates."""

    def __init__(self) -> None:
        self.requests: list[bulk_pb2.SendBulkRequest] = []
        self.lock = threading.Lock()

    def SendBulk(self, request, context):
        with self.lock:
            self.requests.append(request)
        total = len(request.messages)
        return bulk_pb2.Batch(
            batch_id="batch-1",
            profile_id=request.profile_id,
            status=bulk_pb2.Batch.QUEUED,
            progress=bulk_pb2.BatchProgress(total=total, pending=total),
            options=request.options,
        )

    def WatchBatch(self, request, context):
        if request.batch_id != "batch-1":
            context.abort_with_status(not_found("batch", request.batch_id).to_status())
        for sent in range(3):
            yield bulk_pb2.Batch(batch_id="batch-1", progress=bulk_pb2.BatchProgress(total=2, sent=sent))


class Messages(messages_pb2_grpc.MessageServiceServicer):
    """Answers a media send with its size, so a test sees the whole body arrived."""

    def SendDocument(self, request, context):
        return messages_pb2.Message(id="msg-1", content=messages_pb2.MessageContent(
            caption=str(len(request.media.data))))

    SendAudio = SendSticker = SendDocument


@pytest.fixture(scope="module")
def bulk() -> Bulk:
    return Bulk()


@pytest.fixture(scope="module")
def gateway(bulk: Bulk) -> Iterator[gateway_envoy.Envoy]:
    with (
        grpc_server(
            lambda server: profiles_pb2_grpc.add_ProfileServiceServicer_to_server(Profiles(), server),
            lambda server: bulk_pb2_grpc.add_BulkServiceServicer_to_server(bulk, server),
            lambda server: messages_pb2_grpc.add_MessageServiceServicer_to_server(Messages(), server),
        ) as port,
        envoy_gateway(port) as envoy,
    ):
        yield envoy


@pytest.fixture(scope="module")
def http(gateway: gateway_envoy.Envoy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def channel(gateway: gateway_envoy.Envoy) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.grpc_target) as chan:
        yield chan


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON body, after the checks every REST reply must pass."""
    assert response.headers["content-type"].startswith("application/json")
    leftovers = [name for name in response.headers if name.startswith(("grpc-", "x-wagw-"))]
    assert not leftovers, f"internal headers reached the caller: {leftovers}"
    body = response.json()
    assert isinstance(body["success"], bool)
    return body


def connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    """The HTTP connection manager's config in a loaded envoy.yaml."""
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body = envelope(response)
    assert response.status_code == status, body
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert set(body) == {"success", "error"}
    return body["error"]


# --- config --------------------------------------------------------------------------------------------------


def test_envoy_yaml_validates_as_is() -> None:
    result = subprocess.run(
        [gateway_envoy.envoy_binary(), "--mode", "validate", "-c", "envoy.yaml", "--disable-hot-restart"],
        cwd=gateway_envoy.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_validate_renders_and_validates() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.envoy", "--validate", "--port", "3999", "--admin-port", "3998"],
        cwd=gateway_envoy.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_changes_only_ports_addresses_and_paths() -> None:
    config = gateway_envoy.render_config(4001, ["127.0.0.1:4002"], 4003, listen_address="127.0.0.1")
    text = json.dumps(config)
    assert '"port_value": 4001' in text
    assert '"port_value": 4002' in text
    assert config["admin"]["address"]["socket_address"]["port_value"] == 4003
    assert str(gateway_envoy.DESCRIPTOR_PATH) in text
    lua = connection_manager(config)["http_filters"]
    source = next(f for f in lua if f["name"] == gateway_envoy.LUA_FILTER)["typed_config"]["default_source_code"]
    assert source["inline_string"].endswith(gateway_envoy.LUA_PATH.read_text())
    assert '{ "^/api/profiles/[^/]+$", "GET, DELETE, PATCH" }' in source["inline_string"]
    # Everything else is envoy.yaml's own, e.g. the local reply mappers.
    untouched = gateway_envoy.load_config()
    assert connection_manager(config)["local_reply_config"] == connection_manager(untouched)["local_reply_config"]


# --- success envelope ----------------------------------------------------------------------------------------


def test_list_is_wrapped_in_the_success_envelope(http: httpx.Client) -> None:
    response = http.get("/api/profiles")
    body = envelope(response)
    assert response.status_code == 200
    assert body["success"] is True
    assert set(body) == {"success", "data", "meta"}
    assert [p["id"] for p in body["data"]["profiles"]] == ["p1", "p2"]
    assert body["data"]["profiles"][0]["createTime"] == "2026-02-05T10:00:00Z"
    assert body["data"]["profiles"][1]["status"] == "CONNECTED"
    assert body["data"]["totalSize"] == 2
    stamp = body["meta"]["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)


def test_create_returns_the_resource_in_lower_camel_case(http: httpx.Client) -> None:
    response = http.post(
        "/api/profiles",
        json={"id": "profile-123", "name": "Sales", "phoneNumber": "+628123456789", "engine": "simulator"},
    )
    body = envelope(response)
    assert response.status_code == 200
    data = body["data"]
    assert data["id"] == "profile-123"
    assert data["phoneNumber"] == "+628123456789"
    assert data["engine"] == "SIMULATOR"  # case-insensitive enum parsing
    assert data["status"] == "DISCONNECTED"
    assert data["createTime"] == "2026-02-05T10:00:00Z"
    assert data["hasSession"] is False  # primitive fields are always printed
    assert "phone_number" not in data


def test_empty_response_gives_empty_data_object(http: httpx.Client) -> None:
    response = http.delete("/api/profiles/p1")
    body = envelope(response)
    assert response.status_code == 200
    assert body["success"] is True
    assert body["data"] == {}


def test_seed_bulk_example_parses_verbatim(http: httpx.Client, bulk: Bulk) -> None:
    seed_body = """{"profileId": "profile-123", "messages": [{"chatId": "628123456789@c.us", "type": "text",
        "content": { "text": "Hello {name}!" }, "variables": { "name": "John" }}, {"chatId":
        "628987654321@c.us", "type": "text", "content": { "text": "Hello {name}!" }, "variables": { "name":
        "Jane" }}], "options": {"delayBetweenMessages": 5000, "randomizeDelay": true}}"""
    response = http.post("/api/bulk/send", content=seed_body, headers={"content-type": "application/json"})
    body = envelope(response)
    assert response.status_code == 200, body
    assert body["data"]["batchId"] == "batch-1"
    assert body["data"]["profileId"] == "profile-123"
    assert body["data"]["status"] == "QUEUED"
    assert body["data"]["progress"]["total"] == 2
    assert body["data"]["options"]["delayBetweenMessages"] == 5000
    assert body["data"]["options"]["randomizeDelay"] is True

    request = bulk.requests[-1]
    assert [m.type for m in request.messages] == [messages_pb2.TEXT, messages_pb2.TEXT]
    assert [m.chat_id for m in request.messages] == ["628123456789@c.us", "628987654321@c.us"]
    assert [dict(m.variables) for m in request.messages] == [{"name": "John"}, {"name": "Jane"}]
    assert request.messages[0].content.text == "Hello {name}!"
    assert request.options.delay_between_messages == 5000
    assert request.options.randomize_delay is True


def test_server_stream_is_ndjson_and_not_enveloped(http: httpx.Client) -> None:
    response = http.get("/api/bulk/batch/batch-1/watch")
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert [line["progress"]["sent"] for line in lines] == [0, 1, 2]
    assert all("success" not in line for line in lines)


def test_server_stream_error_is_enveloped(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/bulk/batch/nope/watch"), 404, "NOT_FOUND")
    assert error["message"] == "batch 'nope' not found"


# --- error envelope from the API server ----------------------------------------------------------------------


def test_validation_error_names_the_field(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/profiles/bad"), 400, "VALIDATION_ERROR")
    assert error == {
        "code": "VALIDATION_ERROR",
        "message": "phoneNumber: not a phone number",
        "details": {"field": "phoneNumber"},
    }


@pytest.mark.parametrize(
    ("profile_id", "status", "code"),
    [
        ("unauth", 401, "UNAUTHORIZED"),
        ("forbidden", 403, "FORBIDDEN"),
        ("missing", 404, "NOT_FOUND"),
        ("dup", 409, "CONFLICT"),  # ALREADY_EXISTS
        ("busy", 409, "CONFLICT"),  # FAILED_PRECONDITION: 400 from the transcoder, 409 here
        ("offline", 409, "PROFILE_NOT_CONNECTED"),
        ("huge", 413, "PAYLOAD_TOO_LARGE"),  # RESOURCE_EXHAUSTED: 429 from the transcoder
        ("limited", 429, "RATE_LIMITED"),
        ("unsupported", 501, "NOT_SUPPORTED"),
        ("refused", 502, "ENGINE_ERROR"),  # UNAVAILABLE: 503 from the transcoder
        ("down", 503, "UNAVAILABLE"),
        ("bug", 500, "INTERNAL"),
    ],
)
def test_each_code_gets_its_http_status(http: httpx.Client, profile_id: str, status: int, code: str) -> None:
    error = assert_error(http.get(f"/api/profiles/{profile_id}"), status, code)
    assert error["message"] == ERRORS[profile_id].message
    assert "details" not in error  # no metadata, no details


def test_unimplemented_method_is_not_implemented(http: httpx.Client) -> None:
    assert_error(http.post("/api/profiles/p1/connect", json={}), 501, "NOT_IMPLEMENTED")


def test_unhandled_exception_is_internal_without_its_text(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/profiles/crash"), 500, "INTERNAL")
    assert "secret" not in error["message"]
    assert "Exception" not in error["message"]


def test_status_without_error_info_maps_the_grpc_code(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/profiles/bare"), 404, "NOT_FOUND")
    assert error["message"] == "no ErrorInfo here"


def test_error_after_response_headers_is_enveloped(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/profiles/late"), 409, "CONFLICT")
    assert error["message"] == "changed meanwhile"


def test_message_with_quotes_backslashes_and_unicode_survives(http: httpx.Client) -> None:
    response = http.get("/api/profiles/quoted")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == QUOTED_MESSAGE
    assert error["details"] == {"field": AWKWARD_FIELD, "note": "}"}
    json.loads(response.content.decode("utf-8"))  # strict UTF-8 and JSON


# --- Envoy's own replies -------------------------------------------------------------------------------------


def test_unknown_route_is_not_found(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/nope"), 404, "NOT_FOUND")
    assert error["message"] == "route not found: GET /api/nope"
    assert_error(http.get("/elsewhere?x=1"), 404, "NOT_FOUND")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/api/profiles", "GET, POST"),
    ("POST", "/api/profiles/p1", "GET, DELETE, PATCH"),
    ("PUT", "/api/messages/text", "POST, PATCH, DELETE, GET"),  # also the path of /api/messages/{id}
    ("GET", "/api/bulk/send?x=1", "POST"),
])
def test_known_path_with_an_undeclared_method_is_405_with_allow(http: httpx.Client, method: str, path: str,
                                                                  allowed: str) -> None:
    response = http.request(method, path)
    error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allowed
    assert allowed in error["message"]


def test_unknown_path_is_still_not_found(http: httpx.Client) -> None:
    error = assert_error(http.put("/api/nowhere", json={}), 404, "NOT_FOUND")
    assert error["message"] == "route not found: PUT /api/nowhere"


@pytest.mark.parametrize(("headers", "path", "named"), [
    ({"X#": "1"}, "/api/profiles", "header 'x#'"),
    ({"X!Y": "1"}, "/wagw.v1.ProfileService/ListProfiles", "header 'x!y'"),
    ({}, "/api/profiles/%FF%FE", "the path"),
    ({}, "/api/profiles?pageToken=%FF", "query parameter 'pageToken'"),
    ({}, "/api/profiles?pageToken=%C0%AF", "query parameter 'pageToken'"),  # an overlong '/'
])
def test_what_grpc_cannot_carry_is_a_validation_error(http: httpx.Client, headers: dict[str, str], path: str,
                                                      named: str) -> None:
    error = assert_error(http.get(path, headers=headers), 400, "VALIDATION_ERROR")
    assert error["message"].startswith(named)


def test_valid_utf8_in_a_path_passes(http: httpx.Client) -> None:
    response = http.get("/api/profiles/%C3%BC%F0%9F%98%80")
    assert envelope(response)["data"]["id"] == "ü😀"


def test_headers_over_the_limit_have_a_code_of_their_own(http: httpx.Client) -> None:
    assert_error(http.get("/api/profiles", headers={"x-big": "a" * 70_000}), 431, "HEADERS_TOO_LARGE")


def test_unknown_query_parameter_is_rejected(http: httpx.Client) -> None:
    error = assert_error(http.get("/api/profiles", params={"bogus": "1"}), 400, "VALIDATION_ERROR")
    assert "bogus" in error["message"]


def test_malformed_json_is_a_validation_error(http: httpx.Client) -> None:
    response = http.post("/api/profiles", content=b'{"name": ', headers={"content-type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_bad_enum_value_is_a_validation_error(http: httpx.Client) -> None:
    error = assert_error(http.post("/api/profiles", json={"engine": "carrier-pigeon"}), 400, "VALIDATION_ERROR")
    assert "carrier-pigeon" in error["message"]


def test_body_over_one_mib_is_payload_too_large(http: httpx.Client) -> None:
    big = json.dumps({"name": "x" * (2 * 1024 * 1024)})
    response = http.post("/api/profiles", content=big, headers={"content-type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_body_just_under_the_limit_passes(http: httpx.Client) -> None:
    response = http.post("/api/profiles", json={"name": "x" * (1024 * 1024 - 100)})
    assert envelope(response)["success"] is True


MIB = 1024 * 1024
# The documented body limits (README: PAYLOAD_TOO_LARGE): the default, bulk sends, inline media.
BULK_LIMIT, MEDIA_LIMIT = 16 * MIB, 24 * MIB


def bulk_body(size: int) -> bytes:
    """A SendBulk JSON body of exactly `size` bytes: 10,000 items, the last text padded."""
    items = [{"chatId": f"62811{n:07d}", "type": "text", "content": {"text": "x" * 50}} for n in range(10_000)]
    body = json.dumps({"profileId": "p", "messages": items}).encode()
    padding = size - len(body)
    assert padding >= 0
    items[-1]["content"]["text"] += "y" * padding
    body = json.dumps({"profileId": "p", "messages": items}).encode()
    assert len(body) == size
    return body


def document_body(size: int) -> bytes:
    """A SendDocument JSON body of exactly `size` bytes (inline base64 data, padded with spaces)."""
    data = base64.b64encode(b"%PDF-" + b"0" * ((size - 200) * 3 // 4)).decode()
    body = json.dumps({"profileId": "p", "chatId": "628123456789", "media": {"data": data}}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize(("route", "make_body", "limit"), [
    ("/api/bulk/send", bulk_body, BULK_LIMIT),
    ("/api/messages/document", document_body, MEDIA_LIMIT),
    ("/api/messages/audio", document_body, MEDIA_LIMIT),
    ("/api/messages/sticker", document_body, MEDIA_LIMIT),
])
def test_larger_routes_take_bodies_up_to_their_limit(http: httpx.Client, route: str, make_body: Any,
                                                      limit: int) -> None:
    headers = {"content-type": "application/json"}
    under = http.post(route, content=make_body(limit - 1024), headers=headers, timeout=60)
    assert envelope(under)["success"] is True, under.text[:500]
    over = http.post(route, content=make_body(limit + 1024), headers=headers, timeout=60)
    assert_error(over, 413, "PAYLOAD_TOO_LARGE")


def test_the_seed_sized_bulk_over_one_mib_is_accepted(http: httpx.Client) -> None:
    """10,000 items of 50-character texts: 1.07 MiB, over the default limit, far under the bulk one."""
    items = [{"chatId": f"62811{n:07d}", "type": "text", "content": {"text": "x" * 50}} for n in range(10_000)]
    body = json.dumps({"profileId": "p", "messages": items})
    assert len(body) > MIB
    assert envelope(http.post("/api/bulk/send", content=body, headers={"content-type": "application/json"})
                    )["data"]["progress"]["total"] == 10_000


@pytest.mark.parametrize(("limit", "send"), [
    (BULK_LIMIT, lambda stub, size: stub.SendBulk(bulk_pb2.SendBulkRequest(
        profile_id="p", messages=[bulk_pb2.BulkMessage(chat_id="62811", content=messages_pb2.MessageContent(
            text="x" * size))]), timeout=60)),
    (MEDIA_LIMIT, lambda stub, size: stub.SendDocument(messages_pb2.SendDocumentRequest(
        profile_id="p", chat_id="62811", media=messages_pb2.Media(data=b"0" * size)), timeout=60)),
], ids=["bulk", "media"])
def test_native_grpc_takes_the_same_limits(channel: grpc.Channel, limit: int, send: Any) -> None:
    stubs = {BULK_LIMIT: bulk_pb2_grpc.BulkServiceStub(channel), MEDIA_LIMIT: messages_pb2_grpc.MessageServiceStub(
        channel)}
    send(stubs[limit], limit - 1024)
    with pytest.raises(grpc.RpcError) as caught:
        send(stubs[limit], limit + 1024)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(caught.value) == "PAYLOAD_TOO_LARGE"


def test_cors_preflight_and_headers(http: httpx.Client) -> None:
    preflight = http.options(
        "/api/bulk/send",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    allowed = preflight.headers["access-control-allow-headers"]
    for header in ("authorization", "x-api-key", "content-type", "idempotency-key"):
        assert header in allowed
    response = http.get("/api/profiles", headers={"origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"


# --- native gRPC through the same port -----------------------------------------------------------------------


def test_native_grpc_call_through_envoy(channel: grpc.Channel) -> None:
    response = profiles_pb2_grpc.ProfileServiceStub(channel).ListProfiles(profiles_pb2.ListProfilesRequest())
    assert isinstance(response, profiles_pb2.ListProfilesResponse)
    assert [p.id for p in response.profiles] == ["p1", "p2"]


def test_native_grpc_error_keeps_error_info(channel: grpc.Channel) -> None:
    stub = profiles_pb2_grpc.ProfileServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetProfile(profiles_pb2.GetProfileRequest(id="busy"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "CONFLICT"


def test_native_grpc_stream_through_envoy(channel: grpc.Channel) -> None:
    updates = bulk_pb2_grpc.BulkServiceStub(channel).WatchBatch(bulk_pb2.WatchBatchRequest(batch_id="batch-1"))
    assert [batch.progress.sent for batch in updates] == [0, 1, 2]


def test_native_grpc_request_over_the_limit(channel: grpc.Channel) -> None:
    stub = profiles_pb2_grpc.ProfileServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetProfile(profiles_pb2.GetProfileRequest(id="x" * (2 * 1024 * 1024)))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(caught.value) == "PAYLOAD_TOO_LARGE"


def test_native_grpc_unknown_service_is_unimplemented(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/nope.v1.Nothing/Call", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        call(b"")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("header", ["grpc-status-details-bin"])
def test_static_grpc_details_in_envoy_yaml_decode(header: str) -> None:
    """The base64 google.rpc.Status values envoy.yaml adds to native gRPC local replies are what they say."""
    reasons = {}
    for mapper in connection_manager(gateway_envoy.load_config())["local_reply_config"]["mappers"]:
        added = {h["header"]["key"]: h["header"]["value"] for h in mapper.get("headers_to_add", [])}
        if header in added:
            status = status_pb2.Status.FromString(base64.b64decode(added[header] + "=="))
            assert str(status.code) == added["grpc-status"]
            assert status.message == mapper["body"]["inline_string"]
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert info.domain == "wagw"
            reasons[info.reason] = status.code
    assert reasons == {"PAYLOAD_TOO_LARGE": 8, "UNAVAILABLE": 14}


# --- upstream down -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orphan_gateway() -> Iterator[gateway_envoy.Envoy]:
    """An Envoy whose gRPC upstream port has nothing listening."""
    with envoy_gateway(free_port()) as envoy:
        yield envoy


def test_upstream_down_is_unavailable(orphan_gateway: gateway_envoy.Envoy) -> None:
    with httpx.Client(base_url=orphan_gateway.url, timeout=10) as client:
        error = assert_error(client.get("/api/profiles"), 503, "UNAVAILABLE")
        assert "retry" in error["message"]
        assert_error(client.post("/api/bulk/send", json={"profileId": "p"}), 503, "UNAVAILABLE")
        # Unknown routes stay 404 whether or not the API server is up.
        assert_error(client.get("/api/nope"), 404, "NOT_FOUND")


def test_upstream_down_for_native_grpc(orphan_gateway: gateway_envoy.Envoy) -> None:
    with grpc.insecure_channel(orphan_gateway.grpc_target) as chan, pytest.raises(grpc.RpcError) as caught:
        profiles_pb2_grpc.ProfileServiceStub(chan).ListProfiles(profiles_pb2.ListProfilesRequest())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(caught.value) == "UNAVAILABLE"


def test_lua_envelope_logged_no_errors(gateway: gateway_envoy.Envoy, http: httpx.Client) -> None:
    """A Lua runtime error would leave a response unwrapped; Envoy logs it as [error][lua]."""
    http.get("/api/profiles")
    assert "[error][lua]" not in gateway.log()

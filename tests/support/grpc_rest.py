"""A test transport: REST-shaped calls made straight to the API server over gRPC, without Envoy.

`GrpcRestClient` has the part of `httpx.Client` the integration tests use (`get/post/patch/delete(path,
params=, json=, headers=)` answering `.status_code` and `.json()`), so the same REST-shaped tests exercise
the gRPC server directly as well as through Envoy. It does what Envoy's transcoder and gateway/envelope.lua
do: it finds the RPC whose `google.api.http` annotation in gen/descriptor.binpb (the descriptor set Envoy
loads) matches the method and path, builds the request from the path variables, query parameters and JSON
body, calls the RPC, and wraps the answer or the error in the REST envelope with the same HTTP status.
"""

from __future__ import annotations

import json as json_lib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from server.core.config import ROOT

DESCRIPTOR_SET = ROOT / "gen" / "descriptor.binpb"

# As in gateway/envelope.lua: the HTTP status of each error code, and the code of a status without ErrorInfo.
HTTP_STATUS = {
    "VALIDATION_ERROR": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_GROUP_ADMIN": 403, "NOT_FOUND": 404,
    "CONFLICT": 409, "PROFILE_NOT_CONNECTED": 409, "PAYLOAD_TOO_LARGE": 413, "RATE_LIMITED": 429,
    "INTERNAL": 500, "NOT_SUPPORTED": 501, "NOT_IMPLEMENTED": 501, "ENGINE_ERROR": 502, "UNAVAILABLE": 503,
}
C = grpc.StatusCode
CODE_OF_GRPC = {
    C.INVALID_ARGUMENT: "VALIDATION_ERROR", C.DEADLINE_EXCEEDED: "UNAVAILABLE", C.NOT_FOUND: "NOT_FOUND",
    C.ALREADY_EXISTS: "CONFLICT", C.PERMISSION_DENIED: "FORBIDDEN", C.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    C.FAILED_PRECONDITION: "CONFLICT", C.ABORTED: "CONFLICT", C.OUT_OF_RANGE: "VALIDATION_ERROR",
    C.UNIMPLEMENTED: "NOT_IMPLEMENTED", C.UNAVAILABLE: "UNAVAILABLE", C.UNAUTHENTICATED: "UNAUTHORIZED",
}


@dataclass(frozen=True)
class Route:
    verb: str
    pattern: re.Pattern[str]
    method: str  # /wagw.v1.ContactService/GetContact
    request: Descriptor
    response: Descriptor
    streaming: bool


@dataclass(frozen=True)
class Response:
    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body


@cache
def routes() -> tuple[Route, ...]:
    """Every annotated RPC of the descriptor set; routes with fewer path variables first (literals win)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    found = []
    for file in files:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if not verb or verb == "custom":
                    continue
                template = getattr(rule, verb)
                regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
                found.append(Route(
                    verb.upper(), re.compile(f"^{regex}$"), f"/{file.package}.{service.name}/{method.name}",
                    pool.FindMessageTypeByName(method.input_type.lstrip(".")),
                    pool.FindMessageTypeByName(method.output_type.lstrip(".")), method.server_streaming,
                ))
    return tuple(sorted(found, key=lambda route: route.pattern.pattern.count("(?P")))


def _field(message: Descriptor, name: str) -> FieldDescriptor | None:
    return message.fields_by_name.get(name) or next((f for f in message.fields if f.json_name == name), None)


def _like_envoy(value: Any, message: Descriptor, *, body: bool) -> Any:
    """What Envoy's transcoder accepts and json_format does not, made acceptable: enum names in any case
    (case_insensitive_enum_parsing: "engine": "simulator" is SIMULATOR) are upper-cased, and fields the message
    lacks are dropped from the body, which Envoy ignores (unknown query parameters it rejects, as ParseDict)."""
    if not isinstance(value, dict) or message.full_name.startswith("google.protobuf."):
        return value

    def fix(item: Any, field: FieldDescriptor) -> Any:
        if isinstance(item, list):
            return [fix(each, field) for each in item]
        if field.enum_type is not None and isinstance(item, str):
            return item.upper()
        return _like_envoy(item, field.message_type, body=body) if field.message_type is not None else item

    fixed = {}
    for key, item in value.items():
        field = _field(message, key)
        if field is None:
            if not body:
                fixed[key] = item
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry_value = field.message_type.fields_by_name["value"]
            fixed[key] = {k: fix(v, entry_value) for k, v in item.items()} if isinstance(item, dict) else item
        else:
            fixed[key] = fix(item, field)
    return fixed


def _envelope_error(code: str, message: str, details: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message or ("internal error" if code == "INTERNAL"
                                                                 else "request failed")}
    if details:
        error["details"] = details
    return Response(HTTP_STATUS.get(code, 500), {"success": False, "error": error})


def _from_rpc_error(error: grpc.Call) -> Response:
    """The error envelope of gateway/envelope.lua: ErrorInfo's reason and metadata, else the gRPC code's."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return _envelope_error(info.reason, status.message, dict(info.metadata))
    # UNKNOWN is grpcio's "Exception calling application: ...": the envelope hides its text.
    message = "" if error.code() == C.UNKNOWN else error.details()
    return _envelope_error(CODE_OF_GRPC.get(error.code(), "INTERNAL"), message)


class GrpcRestClient:
    """Calls `<prefix><path>` REST routes as the RPCs they are annotated on, on `target`, over plain gRPC."""

    def __init__(self, target: str, headers: dict[str, str] | None = None, prefix: str = "/api",
                 timeout: float = 10):
        self.channel = grpc.insecure_channel(target)
        self.headers = dict(headers or {})
        self.prefix = prefix
        self.timeout = timeout

    def request(self, verb: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                content: str | bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        path = self.prefix + path
        route, matched = next(((r, m) for r in routes() if r.verb == verb and (m := r.pattern.match(path))),
                              (None, None))
        if route is None or matched is None:
            return _envelope_error("NOT_FOUND", f"route not found: {verb} {path}")
        if route.streaming:
            raise NotImplementedError(f"{route.method} is a server stream: call it with a gRPC stub")
        try:  # through text, as over HTTP: a copy we may change, and a malformed body is Envoy's 400
            body = json_lib.loads(content if content is not None else json_lib.dumps(json)) or {}
            if not isinstance(body, dict):
                raise ValueError("Root element must be a message.")
            message = message_factory.GetMessageClass(route.request)()
            bound = {**{name: unquote(value) for name, value in matched.groupdict().items()},
                     **{name: self._query_value(route, name, value) for name, value in (params or {}).items()}}
            json_format.ParseDict(_like_envoy(bound, route.request, body=False), message)
            # Bound last, as by Envoy: a body field named like a path variable wins.
            json_format.ParseDict(_like_envoy(body, route.request, body=True), message)
        except (ValueError, json_format.ParseError) as exc:
            return _envelope_error("VALIDATION_ERROR", str(exc))
        call = self.channel.unary_unary(
            route.method, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=message_factory.GetMessageClass(route.response).FromString)
        metadata = [(k.lower(), v) for k, v in {**self.headers, **(headers or {})}.items()]
        try:
            reply = call(message, metadata=metadata, timeout=self.timeout)
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)  # a unary call's error is also the call
            return _from_rpc_error(error)
        # Envoy's print_options: always_print_primitive_fields, enums as names, lowerCamelCase names.
        data = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Response(200, {"success": True, "data": data, "meta": {"timestamp": now}})

    @staticmethod
    def _query_value(route: Route, name: str, value: Any) -> Any:
        """A query parameter as its JSON value: text (json_format parses numbers from it), a list if repeated."""
        field = _field(route.request, name)
        texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in
                 (value if isinstance(value, list | tuple) else [value])]
        values: list[Any] = [t == "true" for t in texts] if field and field.type == field.TYPE_BOOL else texts
        return values if field and field.is_repeated else values[-1]

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> GrpcRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


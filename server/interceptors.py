"""What happens around every RPC, in one place: request id, database connection, authentication, scope
check, error mapping and the access log. Applied to every service, whether the call came through Envoy
(where HTTP headers arrive as metadata) or straight from a gRPC client.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from server import auth, metrics
from server.config import Settings
from server.db import database
from server.errors import ApiError
from server.logs import fields

log = logging.getLogger("wagw.rpc")


class GatewayInterceptor(grpc.ServerInterceptor):
    """`authenticate=False` is for internal servers (the engine host), whose callers are the gateway's own
    processes: they get the same errors, connections and logs, with the shared internal token instead of a
    caller's credentials (when WAGW_INTERNAL_TOKEN is set; `make run` always sets one)."""

    def __init__(self, settings: Settings, *, authenticate: bool = True):
        self.settings = settings
        self.authenticate = authenticate

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or handler.request_streaming:
            return handler
        call = _Call(self.settings, details.method, self.authenticate)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                call.wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            call.wrap_unary(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _Call:
    def __init__(self, settings: Settings, method: str, authenticate: bool):
        self.settings = settings
        self.method = method
        self.scope = auth.required_scope(method) if authenticate else None
        self.internal = not authenticate

    def _principal(self, context: grpc.ServicerContext) -> auth.Principal | None:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        if self.internal:
            auth.check_internal_token(metadata, self.settings)
            return None
        if self.scope is None:
            return None
        principal = auth.authenticate(metadata, self.settings)
        principal.require_scope(self.scope)
        return principal

    def _fail(self, context: grpc.ServicerContext, error: Exception, request_id: str) -> None:
        if isinstance(error, NotImplementedError):
            # The generated servicer's default: the route exists in the contract but is not built yet.
            error = ApiError("NOT_IMPLEMENTED", f"{self.method.rsplit('/', 1)[-1]} is not implemented yet")
        if not isinstance(error, ApiError):
            log.error("unhandled error", exc_info=error, extra=fields(request_id=request_id, method=self.method))
            error = ApiError("INTERNAL", f"internal error (request id {request_id})")
        context.abort_with_status(error.to_status())

    def _log(self, request_id: str, started: float, code: str, principal: auth.Principal | None) -> None:
        seconds = time.perf_counter() - started
        metrics.observe_rpc(self.method, code, seconds)
        log.info("rpc", extra=fields(
            request_id=request_id, method=self.method, code=code,
            ms=round(seconds * 1000, 2),
            subject=principal.subject if principal else None,
        ))

    def wrap_unary(self, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _request_id(context)
            context.send_initial_metadata((("x-request-id", request_id),))
            started, principal, code = time.perf_counter(), None, "OK"
            try:
                with database.connection_context():
                    principal = self._principal(context)
                    with auth.principal_context(principal):
                        return behavior(request, context)
            except Exception as error:
                code = _code_of(error)
                self._fail(context, error, request_id)
            finally:
                self._log(request_id, started, code, principal)

        return handle

    def wrap_stream(self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable:
        # Streams can live for hours: they open database connections per unit of work themselves rather
        # than hold one (and a pool slot) for their whole life.
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request_id = _request_id(context)
            started, principal, code = time.perf_counter(), None, "OK"
            try:
                with database.connection_context():
                    principal = self._principal(context)
                with auth.principal_context(principal):
                    yield from behavior(request, context)
            except Exception as error:
                code = _code_of(error)
                self._fail(context, error, request_id)
            finally:
                self._log(request_id, started, code, principal)

        return handle


def _code_of(error: Exception) -> str:
    if isinstance(error, ApiError):
        return error.code
    return "NOT_IMPLEMENTED" if isinstance(error, NotImplementedError) else "INTERNAL"


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == "x-request-id" and isinstance(value, str):
            return value[:64]
    return uuid.uuid4().hex

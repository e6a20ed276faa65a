"""What happens around every RPC of every gateway server, in one place: request id, database connection, who
may call, requests no servicer should see (server/core/request_checks.py), error mapping and the access log. The
API server adds its callers' credentials (server/api/interceptors.py); internal servers (the engine host) admit
the gateway's own processes by the shared internal token.

Two kinds of server, one set of rules: `Interceptor` for a thread-pool grpcio server (the engine host, the API
server's unary port), and `AsyncInterceptor` for a grpc.aio server (the API server's main port, server/api/app.py).
On the latter, synchronous handlers (every unary one: Peewee is synchronous) run on the server's RPC thread pool,
while streaming handlers are coroutines on the event loop that hold no thread between events.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hmac
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent import futures
from typing import Any

import grpc
import peewee

from server.core import request_checks
from server.core.config import Settings
from server.core.db import connected, connection
from server.core.errors import ApiError, invalid, unauthorized
from server.core.logs import fields

log = logging.getLogger("wagw.rpc")

INTERNAL_TOKEN_HEADER = "x-wagw-internal-token"
# The standard gRPC health service. Envoy asks it every second (envoy.yaml's health check), so its calls are
# logged at DEBUG, not INFO: at INFO they would bury everything else (the first run's banner included).
HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"


def is_health_check(method: str) -> bool:
    """Whether `method` (a full gRPC method name) is a call of the gRPC health service."""
    return method.startswith(HEALTH_SERVICE_PREFIX)


def check_internal_token(metadata: Mapping[str, str], settings: Settings) -> None:
    """Calls between the gateway's own processes (to the engine host) carry the shared internal token."""
    if settings.internal_token and not hmac.compare_digest(
            metadata.get(INTERNAL_TOKEN_HEADER, "").encode(), settings.internal_token.encode()):
        raise unauthorized("internal calls need the gateway's internal token")


def internal_metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The metadata a gateway process shows another one's internal server."""
    return ((INTERNAL_TOKEN_HEADER, settings.internal_token),) if settings.internal_token else ()


# Headers of the unary API call being served, sent with its answer: Envoy passes them on as HTTP headers (a file's
# Content-Disposition).
_response_headers: contextvars.ContextVar[list[tuple[str, str]]] = contextvars.ContextVar("response_headers")


def add_response_header(name: str, value: str) -> None:
    """A header for the answer of the unary API call being served (lower-case name)."""
    _response_headers.get().append((name, value))


class Rules:
    """Who may call and what is recorded, shared by both kinds of server. Subclasses change `admit` (who may
    call), `scoped` (what a handler sees of its caller), `observe` (metrics) and `subject` (for the log). A server
    without the gateway's database (the simulator) passes `uses_database=False`."""

    def __init__(self, settings: Settings, *, uses_database: bool = True, keeps_connections: bool = False):
        self.settings = settings
        self.uses_database = uses_database
        # Whether a pool thread keeps its database connection open after a call (the API server's threads, which
        # serve call after call) or closes it (servers whose calls touch the database now and then).
        self.keeps_connections = keeps_connections
        # Each method's wrapped handler, made on its first call: the servicers do not change while a server runs,
        # and making it anew (closures, the handler, the deserializer) on every call was 3 % of the API server.
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def _handler(self, method: str, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
        """`handler` wrapped (once per method); an unknown method (None) is not remembered."""
        if handler is None or handler.request_streaming:
            return handler
        wrapped = self._handlers.get(method)
        if wrapped is None:
            wrapped = self._handlers[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        deserializer = _Deserializer(handler.request_deserializer)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._wrap_unary(method, handler.unary_unary),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap_unary(self, method: str, behavior: Callable[..., Any]) -> Callable:
        raise NotImplementedError

    def _wrap_stream(self, method: str, behavior: Callable[..., Any]) -> Callable:
        raise NotImplementedError

    def _connection(self) -> contextlib.AbstractContextManager[Any]:
        """A database connection around a call's work, for servers that have the database."""
        return connection(keep=self.keeps_connections) if self.uses_database else contextlib.nullcontext()

    def admit(self, method: str, metadata: Mapping[str, str]) -> Any:
        """The caller of `method`, or an ApiError (UNAUTHORIZED, FORBIDDEN)."""
        check_internal_token(metadata, self.settings)
        return None

    def scoped(self, caller: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Called once per finished RPC."""

    def subject(self, caller: Any) -> str | None:
        return None

    def caller(self, method: str, context: grpc.ServicerContext | grpc.aio.ServicerContext) -> Any:
        return self.admit(method, metadata_of(context))

    def _log(self, method: str, request_id: str, started: float, code: str, caller: Any) -> None:
        seconds = time.perf_counter() - started
        self.observe(method, code, seconds)
        # Envoy checks the API server's health every second: those calls are logged at DEBUG only.
        level = logging.DEBUG if is_health_check(method) else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "rpc", extra=fields(request_id=request_id, method=method, code=code,
                                               ms=round(seconds * 1000, 2),
                                               subject=self.subject(caller) if caller is not None else None))


class Interceptor(Rules, grpc.ServerInterceptor):
    """For a thread-pool server: each RPC on a thread of the pool, with a connection for its duration."""

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        wrapped = self._handlers.get(details.method)
        return wrapped if wrapped is not None else self._handler(details.method, continuation(details))

    def _wrap_unary(self, method: str, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _request_id(context)
            # In the trailers, which go with the status: as initial metadata it would cost a write of its own.
            context.set_trailing_metadata((("x-request-id", request_id),))
            started, caller, code = time.perf_counter(), None, "OK"
            headers: list[tuple[str, str]] = []
            token = _response_headers.set(headers)
            try:
                _check(request)
                with self._connection():
                    caller = self.caller(method, context)
                    with self.scoped(caller):
                        reply = behavior(request, context)
                if headers:
                    context.send_initial_metadata(tuple(headers))
                return reply
            except Exception as error:
                code = _code_of(error)
                context.abort_with_status(_status_of(method, error, request_id))
            finally:
                _response_headers.reset(token)
                self._log(method, request_id, started, code, caller)

        return handle

    def _wrap_stream(self, method: str, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
                     ) -> Callable:
        if inspect.isasyncgenfunction(behavior):
            # A servicer of the API server, whose streams are coroutines: they live on its main (asyncio) port,
            # where a waiting stream holds no thread; this thread-pool server answers its unary methods only.
            def refuse(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                yield from ()
                context.abort_with_status(ApiError(
                    "NOT_IMPLEMENTED", f"{method.rsplit('/', 1)[-1]} is a stream: watch on the API server's main "
                    "port (WAGW_GRPC_PORT); this one serves unary methods").to_status())

            return refuse

        # Streams can live for hours: they open database connections per unit of work themselves rather than
        # hold one (and a pool slot) for their whole life.
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request_id = _request_id(context)
            started, caller, code = time.perf_counter(), None, "OK"
            try:
                _check(request)
                with self._connection():
                    caller = self.caller(method, context)
                with self.scoped(caller):
                    yield from behavior(request, context)
            except Exception as error:
                code = _code_of(error)
                context.abort_with_status(_status_of(method, error, request_id))
            finally:
                self._log(method, request_id, started, code, caller)

        return handle


class AsyncInterceptor(Rules, grpc.aio.ServerInterceptor):
    """For a grpc.aio server. A synchronous unary handler runs on `pool` (a thread keeps its connection open
    across RPCs: server/core/db.py), a coroutine one on the event loop. A streaming handler must be an async
    generator: its caller is admitted on the pool, then it runs on the event loop, holding no thread."""

    def __init__(self, settings: Settings, pool: futures.ThreadPoolExecutor):
        super().__init__(settings)
        self.pool = pool

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        wrapped = self._handlers.get(details.method)
        return wrapped if wrapped is not None else self._handler(details.method, await continuation(details))

    async def in_pool(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)` on a thread of the RPC pool, with that thread's database connection."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, connected, work, *args)

    def _wrap_unary(self, method: str, behavior: Callable[..., Any]) -> Callable:
        is_coroutine = inspect.iscoroutinefunction(behavior)

        def run(request: Any, context: grpc.aio.ServicerContext
                ) -> tuple[Any, Any, Exception | None, list[tuple[str, str]]]:
            """(caller, reply, error, headers to answer with) on a pool thread: the caller is known for the log
            even when it fails."""
            caller, headers = None, []
            token = _response_headers.set(headers)
            try:
                caller = self.caller(method, context)
                with self.scoped(caller):
                    return caller, behavior(request, context), None, headers
            except Exception as error:
                return caller, None, error, headers
            finally:
                _response_headers.reset(token)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            request_id = _request_id(context)
            # In the trailers, which go with the status: sent as initial metadata, it would cost a write of its
            # own per call. (Envoy puts the id it made in its responses itself: envoy.yaml.)
            request_ids = (("x-request-id", request_id),)
            context.set_trailing_metadata(request_ids)
            started, caller, code = time.perf_counter(), None, "OK"
            try:
                _check(request)
                if is_coroutine:  # open methods only (health): nothing to look up, no thread needed
                    return await behavior(request, context)
                caller, reply, error, headers = await self.in_pool(run, request, context)
                if error is not None:
                    raise error
                if headers:
                    await context.send_initial_metadata(tuple(headers))
                return reply
            except Exception as error:
                code = _code_of(error)
                status = _status_of(method, error, request_id)
                await context.abort(status.code, status.details, (*status.trailing_metadata, *request_ids))
            finally:
                self._log(method, request_id, started, code, caller)

        return handle

    def _wrap_stream(self, method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable:
        if not inspect.isasyncgenfunction(behavior):
            raise TypeError(f"{method}: a streaming handler of an asyncio server must be an async generator")

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request_id = _request_id(context)
            started, caller, code = time.perf_counter(), None, "OK"
            try:
                _check(request)
                caller = await self.in_pool(self.caller, method, context)
                with self.scoped(caller):
                    async for reply in behavior(request, context):
                        yield reply
            except asyncio.CancelledError:
                code = "CANCELLED"  # the client went away
                raise
            except Exception as error:
                code = _code_of(error)
                await context.abort_with_status(_status_of(method, error, request_id))
            finally:
                self._log(method, request_id, started, code, caller)

        return handle


def metadata_of(context: grpc.ServicerContext | grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's metadata (lower-case keys), text values only."""
    return {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}


class _Undecodable:
    """What the deserializer hands on for bytes that are not a message of the method's request type."""

    def __init__(self, field: str):
        self.field = field


class _Deserializer:
    """The method's request deserializer, answering _Undecodable instead of failing (which grpcio would log as an
    error and answer INTERNAL), so the caller gets a 400 naming the field."""

    def __init__(self, deserializer: Callable[[bytes], Any]):
        self.deserializer = deserializer

    def __call__(self, data: bytes) -> Any:
        try:
            return self.deserializer(data)
        except Exception:
            descriptor = getattr(getattr(self.deserializer, "__self__", None), "DESCRIPTOR", None)
            return _Undecodable(request_checks.undecodable_field(descriptor, data) if descriptor else "body")


def _check(request: Any) -> None:
    """VALIDATION_ERROR for requests no servicer should see (before credentials: the answer is the same)."""
    if isinstance(request, _Undecodable):
        raise invalid(request.field, "is not valid: text must be UTF-8, and a map's values must be strings")
    if (field := request_checks.nul_field(request)) is not None:
        raise invalid(field, "must not contain NUL characters")


# What Peewee raises when the database refused or dropped a connection, or timed out on a lock.
_DATABASE_DOWN = (peewee.OperationalError, peewee.InterfaceError)


def _status_of(method: str, error: Exception, request_id: str) -> grpc.Status:
    """The status a failed RPC answers: a database that failed UNAVAILABLE, a bug INTERNAL (both logged, with the
    request id)."""
    if isinstance(error, NotImplementedError):
        # The generated servicer's default: the route exists in the contract but is not built yet.
        error = ApiError("NOT_IMPLEMENTED", f"{method.rsplit('/', 1)[-1]} is not implemented yet")
    if isinstance(error, _DATABASE_DOWN):
        # The database refused or dropped the connection (PostgreSQL restarting, out of connection slots, SQLite's
        # lock timing out): a condition that passes, to try again, not a failure of the request. A worker hearing
        # this from an engine host sends the message again later rather than failing it.
        log.error("the database failed", exc_info=error, extra=fields(request_id=request_id, method=method))
        error = ApiError("UNAVAILABLE", f"the database is unavailable; try again (request id {request_id})")
    elif not isinstance(error, ApiError):
        log.error("unhandled error", exc_info=error, extra=fields(request_id=request_id, method=method))
        error = ApiError("INTERNAL", f"internal error (request id {request_id})")
    return error.to_status()


def _code_of(error: Exception) -> str:
    if isinstance(error, ApiError):
        return error.code
    if isinstance(error, _DATABASE_DOWN):
        return "UNAVAILABLE"
    return "NOT_IMPLEMENTED" if isinstance(error, NotImplementedError) else "INTERNAL"


def _request_id(context: grpc.ServicerContext | grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str):
            return value[:64]
    return uuid.uuid4().hex

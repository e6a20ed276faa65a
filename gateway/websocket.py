"""The WebSocket API (DESIGN.md §7): `ws://host:3001/ws`, which Envoy routes to this bridge process.

The bridge is a client of the API server, not a second source of truth. It checks a connection's credentials
by calling the API server with them, and every subscription is a gRPC `WatchEvents` stream opened with the same
credentials: authentication, the key's profiles, filters and `since` are the server's, as for REST and gRPC.

Credentials: `?apiKey=…` or `?token=…` (a JWT or a key) in the URL, or the `X-API-Key` / `Authorization: Bearer`
headers. Frames are JSON text:

    on connect     ← {"type": "ack", "payload": {"connectionId": "ws_…", "events": [<event names>]}}
    subscribe      → {"type": "subscribe", "requestId": "1",
                      "payload": {"profileId": "p1", "events": ["message.*"], "since": 120}}
                   ← {"type": "ack", "requestId": "1", "payload": {"subscriptionId": "sub_1", …}}
                   ← {"type": "event", "subscriptionId": "sub_1",
                      "payload": {"id": "121", "event": "message.ack", "profileId": "p1", "timestamp": …, "data": {…}}}
    unsubscribe    → {"type": "unsubscribe", "payload": {"subscriptionId": "sub_1"}}   (no payload: all of them)
    ping           → {"type": "ping", "requestId": "2"}   ← {"type": "pong", "requestId": "2", "payload": {…}}
    any mistake    ← {"type": "error", "requestId": …, "payload": {"code": "VALIDATION_ERROR", "message": …}}

Without `since` a subscription gets new events only; with it, the stored ones after that id first, so a client
that reconnects with the last id it saw misses nothing. Bad credentials get an error frame, then the close code
4401 (UNAUTHORIZED) or 4403 (FORBIDDEN, e.g. no `events:read` scope).

Run it with `python -m gateway.websocket` (make run does); it listens on WAGW_WS_HOST:WAGW_WS_PORT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import secrets
import signal
import socket
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import websockets
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from server.core import logs
from server.core.config import Settings, load
from server.core.event_filters import EVENT_NAMES
from server.core.logs import fields
from wagw.v1 import events_pb2, events_pb2_grpc

log = logging.getLogger("wagw.websocket")

PATH = "/ws"
# Each subscription is a stream on the API server, one of those its credential may hold
# (WAGW_MAX_STREAMS_PER_CREDENTIAL, 429 RATE_LIMITED past it: answered as an error frame).
MAX_SUBSCRIPTIONS = 16
MAX_FRAME_BYTES = 64 * 1024
# WatchEvents' `since` for "new events only".
FROM_NOW = -1
# Close codes: 4000-4999 are the application's; 4401/4403 echo the HTTP statuses.
CLOSE_CODES = {"UNAUTHORIZED": 4401, "FORBIDDEN": 4403, "UNAVAILABLE": 1013}
# Our code for a gRPC status that carries no ErrorInfo (the API server always sends one; grpcio may not).
_CODE_OF_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: "VALIDATION_ERROR",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHORIZED",
    grpc.StatusCode.PERMISSION_DENIED: "FORBIDDEN",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "UNAVAILABLE",
}
# A subscription whose stream ends with one of these is opened again where it stopped (the API server restarted
# or is stopping); any other error ends the subscription with an error frame.
_RESUMABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.OK}
RESUME_FIRST_S, RESUME_MAX_S = 0.2, 5.0
# The channel to the API servers reconnects about as fast as subscriptions retry (grpcio waits 1 s, then more),
# and spreads subscriptions over every API server that answers (a dead one's are resumed on the others).
_CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 5000),
                    ("grpc.lb_policy_name", "round_robin")]


class FrameError(Exception):
    """A client frame the bridge cannot act on: answered with an error frame, the connection stays open."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def credentials(request: Request) -> list[tuple[str, str]]:
    """The caller's credentials as gRPC metadata: headers first, as REST reads them, then the query."""
    headers = request.headers
    query = parse_qs(urlsplit(request.path).query)
    if headers.get("X-API-Key"):
        return [("x-api-key", headers["X-API-Key"])]
    if headers.get("Authorization"):
        return [("authorization", headers["Authorization"])]
    if query.get("apiKey"):
        return [("x-api-key", query["apiKey"][0])]
    if query.get("token"):
        return [("authorization", f"Bearer {query['token'][0]}")]
    return []


def error_payload(code: grpc.StatusCode, message: str | None, trailers: Any) -> dict[str, Any]:
    """The error frame's payload for a status from the API server: our code (its ErrorInfo reason), message,
    and the ErrorInfo metadata as details (e.g. {"field": "events"}), as in the REST error envelope."""
    payload: dict[str, Any] = {"code": _CODE_OF_GRPC.get(code, "INTERNAL"), "message": message or ""}
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                payload["code"] = info.reason
                if info.metadata:
                    payload["details"] = dict(info.metadata)
    if payload["code"] == "UNAVAILABLE" and "details" not in payload:
        payload["message"] = "the API server is unavailable; retry later"  # not grpcio's socket talk
    elif payload["code"] == "INTERNAL":
        payload["message"] = "internal error"
    return payload


def _payload_of(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    return error_payload(error.code(), error.details(), error.trailing_metadata())


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _since(value: Any) -> int:
    if value is None:
        return FROM_NOW
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FrameError("since: must be an event id", "since")
    try:
        return int(value)
    except ValueError:
        raise FrameError("since: must be an event id", "since") from None


class Connection:
    """One WebSocket client and its subscriptions."""

    def __init__(self, socket: ServerConnection, stub: events_pb2_grpc.EventServiceStub,
                 metadata: list[tuple[str, str]]):
        self.socket = socket
        self.stub = stub
        self.metadata = metadata
        self.id = f"ws_{secrets.token_hex(8)}"
        self.subscriptions: dict[str, tuple[events_pb2.WatchEventsRequest, asyncio.Task[None]]] = {}
        self._numbers = itertools.count(1)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(frame, separators=(",", ":"), ensure_ascii=False))

    async def error(self, code: str, message: str, request_id: Any = None, **extra: Any) -> None:
        frame: dict[str, Any] = {"type": "error", "payload": {"code": code, "message": message}}
        if request_id is not None:
            frame["requestId"] = request_id
        await self.send(frame | extra)

    async def run(self) -> None:
        try:
            await self.stub.ListEvents(events_pb2.ListEventsRequest(page_size=1), metadata=self.metadata,
                                       timeout=10)
        except grpc.aio.AioRpcError as error:
            payload = _payload_of(error)
            await self.send({"type": "error", "payload": payload})
            await self.socket.close(CLOSE_CODES.get(payload["code"], 1011), payload["code"])
            return
        await self.send({"type": "ack", "payload": {"connectionId": self.id, "events": list(EVENT_NAMES)}})
        try:
            async for message in self.socket:
                await self.handle(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            for _, task in self.subscriptions.values():
                task.cancel()

    async def handle(self, message: str | bytes) -> None:
        request_id = None
        try:
            if not isinstance(message, str):
                raise FrameError("frames are JSON text, not binary")
            try:
                frame = json.loads(message)
            except ValueError:
                raise FrameError("the frame is not JSON") from None
            if not isinstance(frame, dict):
                raise FrameError("the frame must be a JSON object")
            request_id = frame.get("requestId")
            payload = frame.get("payload")
            payload = {} if payload is None else payload
            if not isinstance(payload, dict):
                raise FrameError("payload: must be an object", "payload")
            kind = frame.get("type")
            if kind == "ping":
                await self.send({"type": "pong", "requestId": request_id, "payload": {"timestamp": _timestamp()}})
            elif kind == "subscribe":
                await self.subscribe(payload, request_id)
            elif kind == "unsubscribe":
                await self.unsubscribe(payload, request_id)
            else:
                raise FrameError("type: must be subscribe, unsubscribe or ping", "type")
        except FrameError as error:
            extra = {"details": {"field": error.field}} if error.field else {}
            await self.send({"type": "error", "requestId": request_id,
                             "payload": {"code": "VALIDATION_ERROR", "message": str(error), **extra}})

    async def subscribe(self, payload: dict[str, Any], request_id: Any) -> None:
        profile_id = payload.get("profileId") or ""
        events = payload.get("events") or []
        if isinstance(events, str):
            events = [events]
        if not isinstance(profile_id, str):
            raise FrameError("profileId: must be a string", "profileId")
        if not isinstance(events, list) or not all(isinstance(name, str) for name in events):
            raise FrameError("events: must be a list of event filters", "events")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise FrameError(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        since = _since(payload.get("since"))
        request = events_pb2.WatchEventsRequest(profile_id=profile_id, events=events, since=since)
        call = self.stub.WatchEvents(request, metadata=self.metadata)
        # The server sends its headers once it has accepted the watch; a refusal ends the call instead.
        headers = await call.initial_metadata()
        if call.done() and (code := await call.code()) != grpc.StatusCode.OK:
            refusal = error_payload(code, await call.details(), await call.trailing_metadata())
            await self.send({"type": "error", "requestId": request_id, "payload": refusal})
            if refusal["code"] == "UNAUTHORIZED":  # the credentials no longer hold (a key revoked since)
                await self.socket.close(CLOSE_CODES["UNAUTHORIZED"], "UNAUTHORIZED")
            return
        subscription_id = f"sub_{next(self._numbers)}"
        # Where the watch starts, as the server resolved it ("new events only" is an id by now): a resumed
        # stream goes on from there, or from the last event forwarded.
        start = dict(headers or ()).get("x-wagw-since")
        if start is not None:
            request.since = int(start)
        try:  # the ack goes before the subscription's first event
            await self.send({"type": "ack", "requestId": request_id, "payload": {
                "subscriptionId": subscription_id, "profileId": profile_id, "events": events,
                "since": str(request.since)}})
        except BaseException:
            call.cancel()
            raise
        task = asyncio.create_task(self.forward(subscription_id, request, call))
        self.subscriptions[subscription_id] = (request, task)

    async def unsubscribe(self, payload: dict[str, Any], request_id: Any) -> None:
        wanted = payload.get("subscriptionId")
        profile_id = payload.get("profileId")
        if wanted is not None and wanted not in self.subscriptions:
            raise FrameError(f"subscriptionId: no subscription '{wanted}'", "subscriptionId")
        ended = [
            subscription_id for subscription_id, (request, _) in self.subscriptions.items()
            if (wanted is None or subscription_id == wanted)
            and (profile_id is None or request.profile_id == profile_id)
        ]
        for subscription_id in ended:
            self.subscriptions.pop(subscription_id)[1].cancel()
        await self.send({"type": "ack", "requestId": request_id, "payload": {"unsubscribed": ended}})

    async def forward(self, subscription_id: str, request: events_pb2.WatchEventsRequest,
                      call: grpc.aio.UnaryStreamCall) -> None:
        """Events of one subscription to the client, in order; reopened where it stopped if the API server
        goes away, until it is unsubscribed, the client leaves, or the server refuses it."""
        pause = RESUME_FIRST_S
        try:
            while True:
                try:
                    async for event in call:
                        await self.send({"type": "event", "subscriptionId": subscription_id,
                                         "payload": json_format.MessageToDict(
                                             event, always_print_fields_with_no_presence=True)})
                        request.since = event.id
                        pause = RESUME_FIRST_S
                    code = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as error:
                    code = error.code()
                    if code not in _RESUMABLE:
                        await self.refused(subscription_id, _payload_of(error))
                        return
                await asyncio.sleep(pause)
                pause = min(pause * 2, RESUME_MAX_S)
                log.info("resuming a subscription", extra=fields(
                    connection=self.id, subscription=subscription_id, since=request.since, code=code.name))
                call = self.stub.WatchEvents(request, metadata=self.metadata)
        except websockets.ConnectionClosed:
            pass
        finally:
            call.cancel()

    async def refused(self, subscription_id: str, payload: dict[str, Any]) -> None:
        """The server ended a subscription: tell the client; close the connection when its credentials no
        longer hold (a key revoked, a JWT expired)."""
        self.subscriptions.pop(subscription_id, None)
        await self.send({"type": "error", "subscriptionId": subscription_id, "payload": payload})
        if payload["code"] == "UNAUTHORIZED":
            await self.socket.close(CLOSE_CODES["UNAUTHORIZED"], "UNAUTHORIZED")


def _only_the_ws_path(connection: ServerConnection, request: Request) -> Response | None:
    if urlsplit(request.path).path != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    return None


def api_target(servers: Sequence[str]) -> str:
    """One gRPC target naming every API server (`host:port` each, WAGW_API_SERVERS): `ipv4:a:port,b:port`, names
    resolved to their IPv4 addresses now."""
    addresses = []
    for server in servers:
        host, _, port = server.rpartition(":")
        for *_, (address, _) in socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM):
            if f"{address}:{port}" not in addresses:
                addresses.append(f"{address}:{port}")
    return "ipv4:" + ",".join(addresses)


async def serve_forever(settings: Settings, stop: asyncio.Event | None = None) -> None:
    target = api_target(settings.api_upstreams)
    stop = stop or asyncio.Event()
    async with grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)

        async def handler(socket: ServerConnection) -> None:
            connection = Connection(socket, stub, credentials(socket.request))
            log.info("websocket connected", extra=fields(connection=connection.id,
                                                         request_id=socket.request.headers.get("X-Request-Id")))
            await connection.run()

        async with serve(handler, settings.ws_host, settings.ws_port, process_request=_only_the_ws_path,
                         max_size=MAX_FRAME_BYTES, ping_interval=20, ping_timeout=20, close_timeout=5):
            log.info("websocket bridge listening", extra=fields(
                address=f"{settings.ws_host}:{settings.ws_port}", api=target))
            await stop.wait()


def main() -> None:
    settings = load()
    logs.configure(settings.log_level)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve_forever(settings, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()

"""Event streams end to end (DESIGN.md §7), on SQLite and on PostgreSQL: gRPC WatchEvents on the API server, its
REST form (NDJSON through Envoy), and the WebSocket API through Envoy. Stored events after `since` come first,
then live ones, without a gap or a duplicate; a key limited to some profiles never sees another's events.
The event bus and the horizon it reads up to are tested without a stack in tests/unit/test_event_horizon.py."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
import pytest
import websockets
from google.protobuf import json_format
from websockets.sync.client import ClientConnection, connect

from server.core.config import ROOT, Settings
from server.core.errors import error_info
from tests.support.api import connected_profile, fails, ok, wait_for, wait_message
from tests.support.net import LOCALHOST, free_port, wait_for_port
from tests.support.stack import Stack
from wagw.v1 import events_pb2, events_pb2_grpc

TIMEOUT = 15.0
_numbers = iter(range(10**6))


class Collector:
    """Reads a stream (any iterator of event dicts) on a thread of its own, so a test can wait for an item with
    a timeout instead of blocking on the stream forever."""

    def __init__(self, items: Iterable[dict[str, Any]], close: Callable[[], Any]):
        self._queue: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self._close = close
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, args=(items,), daemon=True).start()

    def _read(self, items: Iterable[dict[str, Any]]) -> None:
        try:
            for item in items:
                self._queue.put(item)
        except BaseException as error:  # the stream's end, as the test closes it, or its failure
            self._queue.put(error)

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The items up to and including the first for which `done` is true."""
        deadline = time.monotonic() + timeout
        taken: list[dict[str, Any]] = []
        while True:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"timed out; got {[e.get('id') for e in taken]}") from None
            if isinstance(item, BaseException):
                raise AssertionError(f"the stream ended: {item!r}; got {taken}")
            taken.append(item)
            self.seen.append(item)
            if done(item):
                return taken

    def count(self, n: int) -> list[dict[str, Any]]:
        left = [n]

        def done(_: dict[str, Any]) -> bool:
            left[0] -= 1
            return left[0] == 0

        return self.until(done) if n else []

    def close(self) -> None:
        self._close()


@contextmanager
def grpc_watch(target: str, key: str, **request: Any) -> Iterator[Collector]:
    """WatchEvents straight to an API server."""
    with grpc.insecure_channel(target) as channel:
        call = events_pb2_grpc.EventServiceStub(channel).WatchEvents(
            events_pb2.WatchEventsRequest(**request), metadata=[("x-api-key", key)], timeout=60)
        call.initial_metadata()  # the server has started the watch
        collector = Collector((json_format.MessageToDict(event) for event in call), call.cancel)
        try:
            yield collector
        finally:
            collector.close()


@contextmanager
def rest_watch(stack: Stack, key: str, **params: Any) -> Iterator[Collector]:
    """GET /api/events/watch through Envoy: one JSON event per line."""
    with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": key}, timeout=httpx.Timeout(10, read=60)
                      ) as client, client.stream("GET", "/events/watch", params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/json")
        lines = (json.loads(line) for line in response.iter_lines() if line.strip())
        collector = Collector(lines, response.close)
        try:
            yield collector
        finally:
            collector.close()


def ws_connect(stack: Stack, query: str = "", **options: Any) -> ClientConnection:
    return connect(stack.ws_url + query, open_timeout=10, close_timeout=2, **options)


def recv(socket: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=timeout))


def request(socket: ClientConnection, kind: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a frame with a fresh requestId and return the answer to it (event frames before it are an error)."""
    request_id = f"r{next(_numbers)}"
    frame: dict[str, Any] = {"type": kind, "requestId": request_id}
    if payload is not None:
        frame["payload"] = payload
    socket.send(json.dumps(frame))
    answer = recv(socket)
    assert answer.get("requestId") == request_id, answer
    return answer


@contextmanager
def ws_subscription(stack: Stack, key: str, **payload: Any) -> Iterator[Collector]:
    """A WebSocket through Envoy with one subscription; collects the payloads of its event frames."""
    with ws_connect(stack, f"?apiKey={key}") as socket:
        assert recv(socket)["type"] == "ack"
        answer = request(socket, "subscribe", payload)
        assert answer["type"] == "ack", answer
        subscription_id = answer["payload"]["subscriptionId"]

        def events() -> Iterator[dict[str, Any]]:
            for message in socket:
                frame = json.loads(message)
                assert frame["type"] == "event" and frame["subscriptionId"] == subscription_id, frame
                yield frame["payload"]

        collector = Collector(events(), socket.close)
        try:
            yield collector
        finally:
            collector.close()


def watch(transport: str, stack: Stack, key: str, **request: Any) -> Any:
    """The same watch on each transport, started when the context is entered (the headers or the subscription's
    ack are back); `request` in the WebSocket's spelling (profileId, events, since)."""
    if transport == "grpc":
        return grpc_watch(stack.grpc_target, key, profile_id=request.get("profileId", ""),
                          events=request.get("events", []), since=request.get("since", -1))
    if transport == "rest":
        return rest_watch(stack, key, **{"since": -1, **request})
    return ws_subscription(stack, key, **request)


def stored(rest: httpx.Client, profile_id: str, since: int = 0) -> list[dict[str, Any]]:
    page = ok(rest.get("/events", params={"profileId": profile_id, "since": since, "pageSize": 1000}))
    return page["events"]


def send_text(rest: httpx.Client, profile_id: str) -> str:
    chat = f"62811{next(_numbers) % 10**7:07d}1"
    return ok(rest.post("/messages/text", json={"profileId": profile_id, "chatId": chat, "text": "hi"}))["id"]


def read_ack(message_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: (event["event"] == "message.ack" and event["data"].get("messageId") == message_id
                          and event["data"]["status"] == "READ")


def ids(events: Iterable[dict[str, Any]]) -> list[int]:
    return [int(event["id"]) for event in events]


def limited_key(rest: httpx.Client, profile_id: str, scopes: tuple[str, ...] = ("events:read",)) -> str:
    created = ok(rest.post("/keys", json={"name": f"only-{profile_id}", "scopes": list(scopes),
                                          "profileIds": [profile_id]}))
    return created["key"]


# --- gRPC WatchEvents ----------------------------------------------------------------------------------------


def test_grpc_watch_replays_stored_events_then_live_ones(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    before = stored(rest, pid)
    with grpc_watch(stack.grpc_target, stack.admin_key, profile_id=pid, since=0) as stream:
        assert ids(stream.count(len(before))) == ids(before)
        message_id = send_text(rest, pid)
        live = stream.until(read_ack(message_id))
    acks = [e["data"]["status"] for e in live if e["event"] == "message.ack"]
    assert acks == ["SENT", "DELIVERED", "READ"]
    # Every event of the profile, once each, in id order: nothing lost between the stored and the live part.
    assert ids(stream.seen) == ids(stored(rest, pid)[:len(stream.seen)])
    assert ids(stream.seen) == sorted(set(ids(stream.seen)))


def test_grpc_watch_from_now_with_a_filter(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    with grpc.insecure_channel(stack.grpc_target) as channel:
        call = events_pb2_grpc.EventServiceStub(channel).WatchEvents(
            events_pb2.WatchEventsRequest(profile_id=pid, events=["message.ack"], since=-1),
            metadata=[("x-api-key", stack.admin_key)], timeout=30)
        # The headers come at once, with where the watch starts: the newest settled event id.
        start = int(dict(call.initial_metadata())["x-wagw-since"])
        assert start >= max(ids(stored(rest, pid)))
        message_id = send_text(rest, pid)
        statuses = []
        for event in call:
            assert event.event == "message.ack" and event.profile_id == pid and event.id > start
            statuses.append(event.data["status"])
            if event.data["status"] == "READ" and event.data["messageId"] == message_id:
                break
        call.cancel()
    assert statuses == ["SENT", "DELIVERED", "READ"]


@pytest.mark.parametrize(("request_fields", "code", "field"), [
    ({"events": ["nope"]}, grpc.StatusCode.INVALID_ARGUMENT, "events"),
    ({"since": -2}, grpc.StatusCode.INVALID_ARGUMENT, "since"),
    ({"profile_id": "someone-else"}, grpc.StatusCode.PERMISSION_DENIED, None),
])
def test_grpc_watch_refusals(stack, rest, unique, request_fields, code, field):
    pid, _ = connected_profile(rest, unique)
    key = limited_key(rest, pid)
    with grpc.insecure_channel(stack.grpc_target) as channel:
        call = events_pb2_grpc.EventServiceStub(channel).WatchEvents(
            events_pb2.WatchEventsRequest(**request_fields), metadata=[("x-api-key", key)], timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            next(call)
    assert caught.value.code() == code
    if field:
        assert field in caught.value.details()


# The second API server's RPC threads, and the streams each credential may hold on it.
SECOND_API_THREADS = 2
SECOND_API_STREAMS = 20


@pytest.fixture(scope="module")
def second_api(stack: Stack) -> Iterator[str]:
    """Another API server on the stack's database and Redis, with 2 RPC threads and a cap of 20 streams per
    credential; yields its gRPC target."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "server.api"], cwd=ROOT,
                              env={**stack.env, "WAGW_GRPC_PORT": str(port), "WAGW_GRPC_UNARY_PORT": str(free_port()),
                                   "WAGW_GRPC_WORKERS": str(SECOND_API_THREADS),
                                   "WAGW_MAX_STREAMS_PER_CREDENTIAL": str(SECOND_API_STREAMS),
                                   "WAGW_METRICS_PORT": str(free_port())})
    try:
        wait_for_port(port, timeout=20)
        yield f"{LOCALHOST}:{port}"
    finally:
        server.terminate()
        server.wait(15)


def test_every_api_server_streams_events_from_every_process(stack, rest, unique, second_api):
    """An event recorded by the engine host reaches the watchers of both API servers (through Redis)."""
    pid, _ = connected_profile(rest, unique)
    with (grpc_watch(stack.grpc_target, stack.admin_key, profile_id=pid, since=-1) as first,
          grpc_watch(second_api, stack.admin_key, profile_id=pid, since=-1) as other):
        message_id = send_text(rest, pid)
        assert ids(first.until(read_ack(message_id))) == ids(other.until(read_ack(message_id)))


@contextmanager
def held_watches(target: str, key: str, count: int, **request: Any) -> Iterator[list[Any]]:
    """`count` WatchEvents streams with `key`, each started (its headers back); cancelled on exit."""
    with grpc.insecure_channel(target) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        calls = [stub.WatchEvents(events_pb2.WatchEventsRequest(since=-1, **request),
                                  metadata=[("x-api-key", key)], timeout=120) for _ in range(count)]
        try:
            for call in calls:
                assert started(call), call.details()
            yield calls
        finally:
            for call in calls:
                call.cancel()


def started(call: Any) -> bool:
    """Whether a WatchEvents call was accepted: the server's headers tell where it starts (a refusal has none)."""
    return "x-wagw-since" in dict(call.initial_metadata())


def refused_watch(target: str, key: str, **request: Any) -> grpc.RpcError:
    with grpc.insecure_channel(target) as channel:
        call = events_pb2_grpc.EventServiceStub(channel).WatchEvents(
            events_pb2.WatchEventsRequest(since=-1, **request), metadata=[("x-api-key", key)], timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            next(call)
    return caught.value


def assert_over_the_cap(error: grpc.RpcError, cap: int) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(error) == ("RATE_LIMITED", {"limit": str(cap)})
    assert f"{cap} open streams" in error.details() and "WAGW_MAX_STREAMS_PER_CREDENTIAL" in error.details()


def test_streams_hold_no_rpc_thread_and_each_credential_has_a_cap(stack, rest, unique, second_api):
    """Ten times as many streams as the server has RPC threads, all live, and unary calls still answered; one more
    for the same key is refused (429 RATE_LIMITED naming the cap), while another key's stream still starts."""
    pid, _ = connected_profile(rest, unique)
    with held_watches(second_api, stack.admin_key, SECOND_API_STREAMS) as calls:
        with grpc.insecure_channel(second_api) as channel:
            events_pb2_grpc.EventServiceStub(channel).ListEvents(
                events_pb2.ListEventsRequest(page_size=1), metadata=[("x-api-key", stack.admin_key)], timeout=10)
        assert_over_the_cap(refused_watch(second_api, stack.admin_key), SECOND_API_STREAMS)
        with grpc_watch(second_api, limited_key(rest, pid), profile_id=pid, since=-1) as limited:
            message_id = send_text(rest, pid)
            limited.until(read_ack(message_id))
        # Every one of the held streams is live too: the last one opened gets the event.
        last = Collector((json_format.MessageToDict(event) for event in calls[-1]), calls[-1].cancel)
        last.until(read_ack(message_id))
    # Closed streams give their slots back (the server learns of the cancels a moment later).
    wait_for(lambda: _starts(second_api, stack.admin_key), "a stream to start again")


def _starts(target: str, key: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        call = events_pb2_grpc.EventServiceStub(channel).WatchEvents(
            events_pb2.WatchEventsRequest(since=-1), metadata=[("x-api-key", key)], timeout=10)
        try:
            return started(call)
        finally:
            call.cancel()


def test_a_key_at_its_cap_cannot_starve_others(stack, rest, unique):
    """Issue 16's reproduction over REST: a key limited to profile A holds its cap's worth of
    `GET /api/events/watch` streams; one more is 429 RATE_LIMITED in the envelope, and the admin's watch on
    profile B works."""
    cap = Settings().max_streams_per_credential
    profile_a, _ = connected_profile(rest, unique)
    profile_b, _ = connected_profile(rest, unique)
    key = limited_key(rest, profile_a)
    with (httpx.Client(base_url=stack.base_url, headers={"X-API-Key": key},
                       timeout=httpx.Timeout(10, read=60)) as limited, contextlib.ExitStack() as held):
        for _ in range(cap):
            response = held.enter_context(limited.stream("GET", "/events/watch", params={"since": -1}))
            assert response.status_code == 200
        error = fails(limited.get("/events/watch", params={"since": -1}), 429, "RATE_LIMITED")
        assert error["details"] == {"limit": str(cap)} and "WAGW_MAX_STREAMS_PER_CREDENTIAL" in error["message"]
        with rest_watch(stack, stack.admin_key, profileId=profile_b, since=-1) as admin:
            message_id = send_text(rest, profile_b)
            admin.until(read_ack(message_id))


def test_the_cap_answers_an_error_frame_on_the_websocket(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    key = limited_key(rest, pid)
    cap = Settings().max_streams_per_credential
    with ws_connect(stack, f"?apiKey={key}") as socket:
        assert recv(socket)["type"] == "ack"
        with held_watches(stack.grpc_target, key, cap):  # the same credential's streams, on the same server
            refused = request(socket, "subscribe", {"profileId": pid})
            assert refused["type"] == "error" and refused["payload"]["code"] == "RATE_LIMITED", refused
            assert refused["payload"]["details"] == {"limit": str(cap)}
            assert request(socket, "ping")["type"] == "pong"  # the connection stays open
        answer = wait_for(lambda: (a := request(socket, "subscribe", {"profileId": pid}))["type"] == "ack" and a,
                          "a subscription once the other streams are closed")
        assert answer["payload"]["subscriptionId"]


@pytest.mark.parametrize("change", ["revoke", "delete"])
def test_a_revoked_or_deleted_key_stops_watching_at_once(stack, rest, unique, change):
    """Its streams end UNAUTHENTICATED and its WebSocket closes with 4401, without waiting for the periodic
    recheck of credentials (every minute)."""
    pid, _ = connected_profile(rest, unique)
    created = ok(rest.post("/keys", json={"name": "watcher", "scopes": ["events:read"], "profileIds": [pid]}))
    key, key_id = created["key"], created["apiKey"]["id"]
    with held_watches(stack.grpc_target, key, 1, profile_id=pid) as (call,), \
            ws_connect(stack, f"?apiKey={key}") as socket:
        assert recv(socket)["type"] == "ack"
        assert request(socket, "subscribe", {"profileId": pid})["type"] == "ack"
        if change == "revoke":
            ok(rest.post(f"/keys/{key_id}/revoke", json={}))
        else:
            ok(rest.delete(f"/keys/{key_id}"))
        with pytest.raises(grpc.RpcError) as ended:
            for _ in call:
                pass
        assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
        error = recv(socket)
        assert error["type"] == "error" and error["payload"]["code"] == "UNAUTHORIZED", error
        with pytest.raises(websockets.ConnectionClosed) as closed:
            socket.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 4401


# --- REST: GET /api/events/watch -----------------------------------------------------------------------------


def test_rest_watch_is_ndjson_through_envoy(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    before = stored(rest, pid)
    with rest_watch(stack, stack.admin_key, profileId=pid, since=before[0]["id"]) as stream:
        assert ids(stream.count(len(before) - 1)) == ids(before[1:])
        message_id = send_text(rest, pid)
        live = stream.until(read_ack(message_id))
    assert all("success" not in event for event in stream.seen)  # no envelope around stream lines
    assert [e["data"]["status"] for e in live if e["event"] == "message.ack"] == ["SENT", "DELIVERED", "READ"]
    assert {e["profileId"] for e in stream.seen} == {pid}


def test_rest_watch_errors_are_enveloped(stack, rest):
    fails(rest.get("/events/watch", params={"events": "nope"}), 400, "VALIDATION_ERROR")
    fails(rest.get("/events/watch", params={"since": -2}), 400, "VALIDATION_ERROR")
    with httpx.Client(base_url=stack.base_url, timeout=10) as anonymous:
        fails(anonymous.get("/events/watch"), 401, "UNAUTHORIZED")


# --- WebSocket -----------------------------------------------------------------------------------------------


def test_websocket_protocol(stack):
    with ws_connect(stack, f"?apiKey={stack.admin_key}") as socket:
        ack = recv(socket)
        assert ack["type"] == "ack" and ack["payload"]["connectionId"].startswith("ws_")
        assert "message.ack" in ack["payload"]["events"]
        assert request(socket, "ping")["type"] == "pong"
        for bad in ["not json", "[1, 2]", '{"type": "dance"}', '{"type": "subscribe", "payload": [1]}']:
            socket.send(bad)
            error = recv(socket)
            assert error["type"] == "error" and error["payload"]["code"] == "VALIDATION_ERROR", error
        socket.send(b"\x00binary")
        assert recv(socket)["payload"]["code"] == "VALIDATION_ERROR"
        refused = request(socket, "subscribe", {"events": ["message.nope"]})  # refused by the API server
        assert refused["type"] == "error" and refused["payload"]["details"] == {"field": "events"}
        refused = request(socket, "subscribe", {"since": "soon"})
        assert refused["payload"]["details"] == {"field": "since"}
        gone = request(socket, "unsubscribe", {"subscriptionId": "sub_404"})
        assert gone["type"] == "error"
        assert request(socket, "ping")["type"] == "pong"  # mistakes leave the connection open


@pytest.mark.parametrize("auth", ["query-key", "query-token", "header-key", "header-bearer"])
def test_websocket_subscription_gets_live_events(stack, rest, unique, auth):
    pid, _ = connected_profile(rest, unique)
    key = stack.admin_key
    query, headers = {
        "query-key": (f"?apiKey={key}", {}),
        "query-token": (f"?token={key}", {}),
        "header-key": ("", {"X-API-Key": key}),
        "header-bearer": ("", {"Authorization": f"Bearer {key}"}),
    }[auth]
    with ws_connect(stack, query, additional_headers=headers) as socket:
        assert recv(socket)["type"] == "ack"
        subscribed = request(socket, "subscribe", {"profileId": pid, "events": ["message.*"]})
        assert subscribed["type"] == "ack", subscribed
        subscription_id = subscribed["payload"]["subscriptionId"]
        message_id = send_text(rest, pid)
        statuses = []
        while not statuses or statuses[-1] != "READ":
            frame = recv(socket)
            assert frame["type"] == "event" and frame["subscriptionId"] == subscription_id, frame
            assert frame["payload"]["profileId"] == pid and frame["payload"]["event"].startswith("message.")
            assert set(frame["payload"]) == {"id", "event", "profileId", "timestamp", "data"}
            if frame["payload"]["data"].get("messageId") == message_id:
                statuses.append(frame["payload"]["data"]["status"])
        assert statuses == ["SENT", "DELIVERED", "READ"]
        done = request(socket, "unsubscribe", {"subscriptionId": subscription_id})
        assert done["payload"] == {"unsubscribed": [subscription_id]}
        wait_message(rest, send_text(rest, pid), "READ")
        assert request(socket, "ping")["type"] == "pong"
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.3)  # nothing more after unsubscribing


@pytest.mark.parametrize(("query", "code", "close_code"), [
    ("?apiKey=wagw_nope", "UNAUTHORIZED", 4401),
    ("", "UNAUTHORIZED", 4401),
    ("?token=not.a.jwt", "UNAUTHORIZED", 4401),
    ("profiles-only", "FORBIDDEN", 4403),
])
def test_websocket_refuses_bad_credentials(stack, rest, unique, query, code, close_code):
    if query == "profiles-only":
        pid = unique("ws")
        ok(rest.post("/profiles", json={"id": pid, "name": "x", "engine": "simulator"}))
        query = f"?apiKey={limited_key(rest, pid, ('profiles:read',))}"
    with ws_connect(stack, query) as socket:
        error = recv(socket)
        assert error["type"] == "error" and error["payload"]["code"] == code, error
        with pytest.raises(websockets.ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd.code == close_code


def test_websocket_reconnect_with_since_misses_nothing(stack, rest, unique):
    pid, _ = connected_profile(rest, unique)
    first_id = send_text(rest, pid)
    wait_message(rest, first_id, "READ")
    with ws_subscription(stack, stack.admin_key, profileId=pid, since=0) as stream:
        seen = stream.until(read_ack(first_id))
    last = ids(seen)[-1]
    # While the client is away, more happens.
    missed_id = send_text(rest, pid)
    wait_message(rest, missed_id, "READ")
    with ws_subscription(stack, stack.admin_key, profileId=pid, since=last) as stream:
        resumed = stream.until(read_ack(missed_id))
    assert ids(seen) == ids(stored(rest, pid))[:len(seen)]
    assert ids(resumed) == ids(stored(rest, pid, since=last))[:len(resumed)]
    assert ids(resumed)[0] > last and ids(seen + resumed) == sorted(set(ids(seen + resumed)))


def test_websocket_subscription_survives_an_api_server_restart(stack, rest, unique):
    """The bridge reopens the stream where it stopped: the client sees neither the restart nor a gap."""
    pid, _ = connected_profile(rest, unique)
    with ws_subscription(stack, stack.admin_key, profileId=pid) as stream:
        stack.api.stop()
        stack.api.start()
        wait_for_port(stack.grpc_port, timeout=20)
        message_id = send_text(rest, pid)
        live = stream.until(read_ack(message_id))  # an error frame would fail the collector
    assert ids(live) == [e for e in ids(stored(rest, pid)) if e >= ids(live)[0]][:len(live)]


# --- profile limits, on every transport ----------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["grpc", "rest", "websocket"])
def test_a_key_limited_to_a_profile_sees_only_its_events(stack, rest, unique, transport):
    mine, _ = connected_profile(rest, unique)
    other, _ = connected_profile(rest, unique)
    key = limited_key(rest, mine)
    with watch(transport, stack, key) as stream:
        # The other profile's events come first; had any leaked, it would arrive before mine.
        other_message = send_text(rest, other)
        wait_message(rest, other_message, "READ")
        my_message = send_text(rest, mine)
        stream.until(read_ack(my_message))
    assert {event["profileId"] for event in stream.seen} == {mine}
    assert ids(stream.seen) == sorted(set(ids(stream.seen)))


def test_a_limited_key_cannot_watch_another_profile(stack, rest, unique):
    mine, _ = connected_profile(rest, unique)
    other = unique("other")
    key = limited_key(rest, mine)
    with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": key}, timeout=10) as limited:
        fails(limited.get("/events/watch", params={"profileId": other}), 403, "FORBIDDEN")
    with ws_connect(stack, f"?apiKey={key}") as socket:
        assert recv(socket)["type"] == "ack"
        refused = request(socket, "subscribe", {"profileId": other})
        assert refused["type"] == "error" and refused["payload"]["code"] == "FORBIDDEN"

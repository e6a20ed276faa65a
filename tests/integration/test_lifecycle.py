"""Profile sessions end to end on the simulator (DESIGN.md §4): connect, QR, pairing code, scan, and every
status transition, through the real Envoy, API server and engine host processes. The simulator's clock runs
20 times faster than real time in these tests (tests/support/stack.py)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.support.api import (
    fails,
    last_event_id,
    ok,
    session_statuses,
    status_of,
    wait_for,
    wait_status,
    wait_statuses_since,
)
from tests.support.stack import Stack
from wagw.engine.v1 import engine_host_pb2, engine_host_pb2_grpc


def new_profile(rest: httpx.Client, unique: Callable[[str], str], **settings: Any) -> str:
    body = {"id": unique("life"), "name": "Lifecycle", "engine": "simulator"}
    if settings:
        body["engineSettings"] = settings
    return ok(rest.post("/profiles", json=body))["id"]


def scan_in(stack: Stack, rest: httpx.Client, profile_id: str, phone: str = "+628111000001") -> None:
    qr = wait_for(lambda: status_of(rest, profile_id) == "QR_READY" and ok(rest.get(f"/profiles/{profile_id}/qr")),
                  "a QR code")
    stack.simulator("scan", qr_code=qr["qr"], phone=phone)
    wait_status(rest, profile_id, "CONNECTED")


def test_newcomer_path_auto_pairs_and_the_qr_png_decodes(stack, rest, unique):
    pid = new_profile(rest, unique, autoPair=True, autoPairDelayMs=2000)
    fails(rest.get(f"/profiles/{pid}/qr"), 409, "CONFLICT")  # not connecting yet
    connected = ok(rest.post(f"/profiles/{pid}/connect", json={}))
    assert connected["profile"]["status"] in ("CONNECTING", "QR_READY")
    wait_status(rest, pid, "QR_READY")
    qr = ok(rest.get(f"/profiles/{pid}/qr"))
    header, _, png = qr["pngDataUrl"].partition(",")
    assert header == "data:image/png;base64"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png))))
    assert [code.text for code in decoded] == [qr["qr"]]
    assert qr["expireTime"]
    wait_status(rest, pid, "CONNECTED")
    profile = ok(rest.get(f"/profiles/{pid}"))
    assert profile["phoneNumber"].startswith("+")
    assert profile["hasSession"] is True
    assert session_statuses(rest, pid)[-3:] == ["CONNECTING", "QR_READY", "CONNECTED"]
    qr_events = ok(rest.get("/events", params={"profileId": pid, "events": "qr.updated"}))["events"]
    assert qr["qr"] in [event["data"].get("qr") for event in qr_events]


def test_qr_rotates_then_times_out(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    first = wait_for(lambda: status_of(rest, pid) == "QR_READY" and ok(rest.get(f"/profiles/{pid}/qr"))["qr"],
                     "the first QR code")
    # 60 simulated seconds are 3 s here; the next code replaces the first.
    def rotated() -> bool:
        reply = rest.get(f"/profiles/{pid}/qr")  # 409 for the moment between one code's expiry and the next
        return reply.status_code == 200 and reply.json()["data"]["qr"] != first

    wait_for(rotated, "a rotated QR code", timeout=10)
    # Six codes in all (60 s + 5 x 20 s = 8 s here), then the login stops.
    wait_status(rest, pid, "DISCONNECTED", timeout=20)
    assert "QR" in ok(rest.get(f"/profiles/{pid}"))["lastError"]
    fails(rest.get(f"/profiles/{pid}/qr"), 409, "CONFLICT")


def test_pairing_code_login(stack, rest, unique):
    pid = new_profile(rest, unique)
    reply = ok(rest.post(f"/profiles/{pid}/connect", json={"phoneNumber": "+62 811-1000-002"}))
    code = reply["pairingCode"]
    assert len(code) == 9 and code[4] == "-"
    stack.simulator("enter_pairing_code", phone="+628111000002", code=code)
    wait_status(rest, pid, "CONNECTED")
    assert ok(rest.get(f"/profiles/{pid}"))["phoneNumber"] == "+628111000002"


def test_disconnect_then_connect_needs_no_scan(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    assert ok(rest.post(f"/profiles/{pid}/disconnect", json={}))["status"] == "DISCONNECTED"
    mark = last_event_id(rest)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    assert wait_statuses_since(rest, pid, mark, "CONNECTED") == ["CONNECTING", "CONNECTED"]


def test_logout_forgets_the_session(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    assert ok(rest.post(f"/profiles/{pid}/logout", json={}))["status"] == "LOGGED_OUT"
    assert ok(rest.get(f"/profiles/{pid}"))["hasSession"] is False
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    wait_status(rest, pid, "QR_READY")  # a new scan is needed


def test_logged_out_from_the_phone(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    stack.simulator("inject", profile_id=pid, fault="logged_out")
    wait_status(rest, pid, "LOGGED_OUT")
    assert ok(rest.get(f"/profiles/{pid}"))["hasSession"] is False


def test_dropped_connection_reconnects_by_itself(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    mark = last_event_id(rest)
    stack.simulator("inject", profile_id=pid, fault="disconnect")
    assert wait_statuses_since(rest, pid, mark, "CONNECTED")[:1] == ["RECONNECTING"]


def test_temporary_ban_is_waited_out(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    mark = last_event_id(rest)
    stack.simulator("inject", profile_id=pid, fault="temporary_ban", seconds=20)  # 1 s here
    wait_status(rest, pid, "BANNED")
    assert ok(rest.get(f"/profiles/{pid}"))["lastError"]
    assert wait_statuses_since(rest, pid, mark, "CONNECTED")[0] == "BANNED"


def test_engine_host_restart_restores_sessions_without_a_scan(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    mark = last_event_id(rest)
    stack.restart_engines()
    statuses = wait_statuses_since(rest, pid, mark, "CONNECTED")
    assert "QR_READY" not in statuses


def test_killed_engine_host_leaves_the_api_answering(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    mark = last_event_id(rest)
    stack.engines.process.kill()
    stack.engines.process.wait()
    # The API keeps answering; once the dead host's heartbeat is stale, its profile shows it is not connected.
    wait_status(rest, pid, "RECONNECTING", timeout=15)
    fails(rest.post(f"/profiles/{pid}/connect", json={}), 503, "UNAVAILABLE")
    stack.engines.start()
    assert "QR_READY" not in wait_statuses_since(rest, pid, mark, "CONNECTED")


def test_deleting_a_connected_profile_stops_its_session(stack, rest, unique):
    pid = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    scan_in(stack, rest, pid)
    ok(rest.delete(f"/profiles/{pid}"))
    fails(rest.get(f"/profiles/{pid}"), 404, "NOT_FOUND")
    ok(rest.post("/profiles", json={"id": pid, "name": "again", "engine": "simulator"}))
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    wait_status(rest, pid, "QR_READY")  # the old keys are gone


def test_profiles_of_every_engine_can_be_created(rest, unique):
    ok(rest.post("/profiles", json={"id": unique("wm"), "name": "wm", "engine": "whatsmeow"}))
    error = fails(rest.post("/profiles", json={"name": "wm", "engine": "whatsmeow", "engineSettings": {"x": 1}}),
                  400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "engineSettings.x"
    created = ok(rest.post("/profiles", json={
        "id": unique("ca"), "name": "ca", "engine": "cloudapi",
        "engineSettings": {"token": "EAAG-secret", "phoneNumberId": "1234567890"},
    }))
    assert "engineSettings" not in created
    error = fails(rest.post("/profiles", json={"name": "ca", "engine": "cloudapi", "engineSettings": {}}),
                  400, "VALIDATION_ERROR")
    assert error["details"]["field"].startswith("engineSettings.")


def test_whatsmeow_offline_connect_fails_cleanly(stack, rest, unique):
    """WhatsApp cannot be reached here: the real neonize connect fails, in the engine host, as ENGINE_ERROR and
    a FAILED status; the API and the engine host both keep serving."""
    pid = ok(rest.post("/profiles", json={"id": unique("wm"), "name": "wm", "engine": "whatsmeow"}))["id"]
    error = fails(rest.post(f"/profiles/{pid}/connect", json={}), 502, "ENGINE_ERROR")
    assert "whatsmeow" in error["message"]
    wait_status(rest, pid, "FAILED")
    assert ok(rest.get(f"/profiles/{pid}"))["lastError"]
    assert stack.engines.process.poll() is None
    other = new_profile(rest, unique)
    ok(rest.post(f"/profiles/{other}/connect", json={}))
    wait_status(rest, other, "QR_READY")


def test_engine_host_answers_only_the_gateways_own_processes(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack.engine_port}") as channel:
        stub = engine_host_pb2_grpc.EngineHostServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Connect(engine_host_pb2.ConnectRequest(profile_id="anything"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as caught:
            stub.Connect(engine_host_pb2.ConnectRequest(profile_id="anything"), timeout=5,
                         metadata=[("x-wagw-internal-token", "wrong")])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

"""The CLI's profiles commands, through the running gateway. `profiles connect ID` links a profile from a terminal:
the QR code it prints is the profile's (decoded back from the terminal's characters, as a phone would read it)
and renews as the codes rotate; it returns 0 once the phone has scanned it, or prints the pairing code with
--phone. `profiles simulate-message ID TEXT` makes a simulated contact write to the profile. Neither leaves its
key behind."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from server.core.config import ROOT
from tests.support.api import connected_profile, ok, status_of, wait_for
from tests.support.qr import decode_terminal, terminal_blocks


@contextmanager
def cli(stack, *args: str) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """The CLI as a process on the stack's database and API server, and the lines it prints (stdout, then
    stderr's)."""
    process = subprocess.Popen([sys.executable, "-m", "server.cli", *args], env=stack.env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)
        lines.extend(process.stderr.read().splitlines())


def _printed_codes(lines: list[str]) -> list[str]:
    return [text for block in terminal_blocks("\n".join(lines)) for text in decode_terminal(block)]


def _cli_keys(rest, profile_id: str) -> list[dict]:
    keys = ok(rest.get("/keys", params={"pageSize": 500}))["apiKeys"]
    return [key for key in keys if key["name"].startswith("cli: profiles ") and key["name"].endswith(f" {profile_id}")]


def test_connect_prints_the_qr_code_and_returns_once_connected(stack, rest, unique):
    profile_id = unique("cli")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "From a terminal", "engine": "simulator"}))
    with cli(stack, "profiles", "connect", profile_id) as (process, lines):
        assert wait_for(lambda: _printed_codes(lines), "a QR code printed", timeout=30)

        def scanned() -> bool:
            # The simulator's codes rotate every second here: scan the newest one printed, if it is still current.
            current = ok(rest.get(f"/profiles/{profile_id}/qr"))["qr"] if status_of(rest, profile_id) == "QR_READY" \
                else None
            if current is None or current not in _printed_codes(lines):
                return False
            try:
                stack.simulator("scan", qr_code=current, phone="+628111000021")
            except grpc.RpcError:
                return False  # it rotated just now
            return True

        wait_for(scanned, "the phone scanning a printed QR code", timeout=30)
        assert process.wait(timeout=30) == 0, lines
    assert lines[-1] == f"Profile {profile_id}: CONNECTED"
    assert len(_printed_codes(lines)) >= 1
    assert status_of(rest, profile_id) == "CONNECTED"
    assert _cli_keys(rest, profile_id) == []


def test_connect_with_a_phone_number_prints_the_pairing_code(stack, rest, unique):
    profile_id = unique("cli")
    ok(rest.post("/profiles", json={"id": profile_id, "name": "Paired", "engine": "simulator"}))
    with cli(stack, "profiles", "connect", profile_id, "--phone", "+62 811-1000-022") as (process, lines):
        line = wait_for(lambda: next((item for item in lines if item.startswith("Pairing code: ")), None),
                        "the pairing code", timeout=30)
        stack.simulator("enter_pairing_code", phone="+628111000022", code=line.removeprefix("Pairing code: "))
        assert process.wait(timeout=30) == 0, lines
    assert lines[-1] == f"Profile {profile_id}: CONNECTED"
    assert _cli_keys(rest, profile_id) == []


def test_connect_names_what_is_wrong(stack, rest, unique):
    with cli(stack, "profiles", "connect", unique("missing")) as (process, lines):
        assert process.wait(timeout=30) == 1
    assert lines[-1].startswith("error: NOT_FOUND: ")


def test_simulate_message(stack, rest, unique):
    profile_id, _ = connected_profile(rest, unique)
    with cli(stack, "profiles", "simulate-message", profile_id, "Hello from a terminal", "--from", "+628555000141") \
            as (process, lines):
        assert process.wait(timeout=30) == 0, lines
    wa_message_id = lines[-1].split("waMessageId ")[1].split(" ")[0]

    def received() -> dict | None:
        events = ok(rest.get("/events", params={"profileId": profile_id, "events": "message.received"}))["events"]
        return next((event for event in events if event["data"]["waMessageId"] == wa_message_id), None)

    event = wait_for(received, "the message.received event")
    assert event["data"]["chatId"] == "628555000141@s.whatsapp.net"
    assert ok(rest.get(f"/messages/{event['data']['messageId']}"))["content"]["text"] == "Hello from a terminal"
    assert _cli_keys(rest, profile_id) == []


def test_simulate_message_names_what_is_wrong(stack, rest, unique):
    idle = unique("idle")
    ok(rest.post("/profiles", json={"id": idle, "name": "Idle", "engine": "simulator"}))
    with cli(stack, "profiles", "simulate-message", idle, "Hi") as (process, lines):
        assert process.wait(timeout=30) == 1
    assert lines[-1].startswith("error: PROFILE_NOT_CONNECTED: ")

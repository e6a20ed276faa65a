"""The delivery guarantees on the whatsmeow engine, through a real SIGKILL: neonize cannot give WhatsApp the
gateway's message id, so a send whose answer was lost with its engine host cannot be told from a new one. The
engine host is the real one with the real neonize client; only WhatsApp is played offline
(tests/support/whatsmeow_offline.py), and it holds its answer to the send while the test kills the host.
AT_MOST_ONCE ends the message FAILED with OUTCOME_UNKNOWN and WhatsApp never gets it again; AT_LEAST_ONCE sends it
again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import ok, wait_for, wait_message, wait_status
from tests.support.crash import FAST_RECOVERY
from tests.support.net import wait_for_port
from tests.support.stack import Stack, running_stack

CHAT = "628111222333"


@pytest.fixture(scope="module")
def whatsapp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the ids WhatsApp was handed, one a line; the file whose presence holds WhatsApp's answers)"""
    folder = tmp_path_factory.mktemp("whatsapp")
    return folder / "handed.log", folder / "hold"


@pytest.fixture(scope="module")
def offline_stack(tmp_path_factory: pytest.TempPathFactory, whatsapp: tuple[Path, Path]) -> Iterator[Stack]:
    handed, hold = whatsapp
    path = tmp_path_factory.mktemp("whatsmeow-crash") / "wagw.db"
    with running_stack(f"sqlite:///{path}", engine_host_module="tests.support.whatsmeow_offline",
                       WAGW_TEST_WHATSAPP_LOG=str(handed), WAGW_TEST_HOLD_SENDS=str(hold), **FAST_RECOVERY) as stack:
        yield stack


@pytest.fixture
def rest(offline_stack: Stack) -> Iterator[httpx.Client]:
    with offline_stack.rest() as client:
        yield client


def handed_count(handed: Path) -> int:
    return len(handed.read_text().splitlines()) if handed.exists() else 0


@pytest.mark.parametrize(("guarantee", "outcome", "handed_to_whatsapp"), [("AT_MOST_ONCE", "FAILED", 1),
                                                                          ("AT_LEAST_ONCE", "SENT", 2)])
def test_a_whatsmeow_send_whose_answer_died_with_its_engine_host(offline_stack, rest, whatsapp, unique, guarantee,
                                                                 outcome, handed_to_whatsapp):
    handed, hold = whatsapp
    pid = ok(rest.post("/profiles", json={"id": unique("wm-crash"), "name": "wm", "engine": "whatsmeow",
                                          "deliveryGuarantee": guarantee}))["id"]
    ok(rest.post(f"/profiles/{pid}/connect", json={}))
    wait_status(rest, pid, "CONNECTED")
    before = handed_count(handed)
    hold.touch()
    message_id = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": CHAT, "text": "hello"}))["id"]
    wait_for(lambda: handed_count(handed) > before, "WhatsApp to have the message", 15)
    assert ok(rest.get(f"/messages/{message_id}"))["status"] == "PENDING"  # the gateway has no answer

    engine_host = offline_stack.engines
    engine_host.process.kill()
    engine_host.process.wait()
    hold.unlink()  # WhatsApp answers again, for the host that comes back
    engine_host.start()
    wait_for_port(offline_stack.engine_port, timeout=20)
    wait_status(rest, pid, "CONNECTED", timeout=30)  # restored from its stored device, without a scan

    ended = wait_message(rest, message_id, outcome, "FAILED", "SENT", timeout=30)
    assert ended["status"] == outcome, ended
    if outcome == "FAILED":
        assert ended["error"].startswith("OUTCOME_UNKNOWN: "), ended
        time.sleep(3)  # a worker that sent it again would have done so by now (it retries every 5 s at most)
    assert handed_count(handed) - before == handed_to_whatsapp

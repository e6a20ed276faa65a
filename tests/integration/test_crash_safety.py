"""Crash safety (DESIGN.md §5): a crash of any process at any moment loses no accepted message and sends none
twice, and with Redis down sends are still accepted and go out once it is back.

Proven on the simulator, which counts what it received: its inboxes (kept, like the rest of the simulated
WhatsApp's server side, across an engine-host restart: WAGW_SIMULATOR_STATE) must hold every accepted message
exactly once, and the gateway must record each one exactly once as READ.

Each stream sends 200 texts, a unique text each, from two connected profiles to four numbers, from eight
threads; a request that fails while a process is down is retried with the same Idempotency-Key (so a request
the API server stored but could not answer is not stored twice). Mid-stream, one process gets SIGKILL and is
started again.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.api import connected_profile, fails, ok, wait_for, wait_message
from tests.support.crash import FAST_RECOVERY, PrivateRedis, kill_and_restart
from tests.support.net import wait_for_port
from tests.support.stack import Stack, running_stack

SEND_LIMITS = {"sendLimits": {"minGapMs": 0, "jitterMs": 0}}
MESSAGES = 200
SENDER_THREADS = 8
PACE_S = 0.08  # per sender thread: 200 messages take about 2 s to submit
DEADLINE_S = 60


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path = tmp_path_factory.mktemp("crash") / "wagw.db"
    with running_stack(f"sqlite:///{path}", **FAST_RECOVERY) as stack:
        yield stack


@pytest.fixture
def rest(crash_stack: Stack) -> Iterator[httpx.Client]:
    with crash_stack.rest() as client:
        yield client


_numbers = iter(range(10, 100))


def recipients(count: int = 4) -> list[str]:
    """Numbers no other test of this module writes to (valid, on WhatsApp: none ends in 0000)."""
    block = next(_numbers)
    return [f"+62811{block:02d}{secrets.randbelow(10**4):04d}{index}" for index in range(1, count + 1)]


@dataclass
class Stream:
    """200 texts from two profiles to four numbers, and what came of them."""

    stack: Stack
    profiles: list[str]
    numbers: list[str]
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    accepted: dict[str, str] = field(default_factory=dict)  # text → message id
    refused: collections.Counter[str] = field(default_factory=collections.Counter)  # what failed (then retried)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, start: int, stop: int) -> list[tuple[str, str, str]]:
        return [(f"crash-safety {self.tag} #{i:03d}", self.profiles[i % len(self.profiles)],
                 self.numbers[i % len(self.numbers)]) for i in range(start, stop)]

    def send(self, items: list[tuple[str, str, str]], *, pace_s: float = PACE_S) -> None:
        """Send each item until it is accepted (the same Idempotency-Key every time), eight threads at once."""
        local = threading.local()
        clients: list[httpx.Client] = []

        def one(item: tuple[str, str, str]) -> None:
            text, profile_id, to = item
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = self.stack.rest()
                with self.lock:
                    clients.append(client)
            deadline = time.monotonic() + DEADLINE_S
            while True:
                try:
                    response = client.post("/messages/text", json={
                        "profileId": profile_id, "chatId": to, "text": text}, headers={"Idempotency-Key": text})
                    if response.status_code == 200:
                        with self.lock:
                            self.accepted[text] = response.json()["data"]["id"]
                        time.sleep(pace_s)
                        return
                    outcome = f"{response.status_code} {response.json().get('error', {}).get('code')}"
                except (httpx.TransportError, ValueError) as error:
                    outcome = type(error).__name__
                with self.lock:
                    self.refused[outcome] += 1
                assert time.monotonic() < deadline, f"{text} was never accepted ({dict(self.refused)})"
                time.sleep(0.1)

        try:
            with ThreadPoolExecutor(SENDER_THREADS) as pool:
                list(pool.map(one, items))
        finally:
            for client in clients:
                client.close()

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def rows(self, rest: httpx.Client) -> list[dict]:
        rows: list[dict] = []
        for profile_id in self.profiles:
            page = ok(rest.get("/messages", params={"profileId": profile_id, "direction": "OUTBOUND",
                                                    "pageSize": 500}))
            assert not page["nextPageToken"]
            rows += page["messages"]
        return rows

    def wait_all(self, rest: httpx.Client, *statuses: str, timeout: float = DEADLINE_S) -> list[dict]:
        """Every stored message of the stream, once each is in one of `statuses`."""
        return wait_for(lambda: (rows := self.rows(rest)) and all(row["status"] in statuses for row in rows) and rows,
                        f"every message in {statuses}", timeout)

    def check_exactly_once(self, rest: httpx.Client, rows: list[dict]) -> None:
        """One row per text, each READ, each in its recipient's inbox once, each acknowledged once per status."""
        texts = [row["content"]["text"] for row in rows]
        assert sorted(texts) == sorted(self.accepted), "a message was lost or stored twice"
        assert {row["id"] for row in rows} == set(self.accepted.values())
        assert {row["status"] for row in rows} == {"READ"}, collections.Counter(row["status"] for row in rows)
        for number in self.numbers:
            received = collections.Counter(entry["content"].get("text", "") for entry in
                                           self.stack.simulator("inbox", phone_or_chat_id=number))
            expected = {text for text, _, to in self.plan(0, MESSAGES) if to == number and text in self.accepted}
            assert set(received) == expected, f"{number}: missing {expected - set(received)}"
            twice = {text: n for text, n in received.items() if n > 1}
            assert not twice, f"{number} received messages more than once: {twice}"
        acks = collections.defaultdict(list)
        for profile_id in self.profiles:
            for event in events(rest, profile_id, "message.ack"):
                acks[event["data"]["messageId"]].append(event["data"]["status"])
        wrong = {mid: acks[mid] for mid in self.accepted.values() if acks[mid] != ["SENT", "DELIVERED", "READ"]}
        assert not wrong, f"acknowledgements not exactly SENT, DELIVERED, READ: {wrong}"


def events(rest: httpx.Client, profile_id: str, names: str) -> list[dict]:
    found: list[dict] = []
    since = 0
    while True:
        page = ok(rest.get("/events", params={"profileId": profile_id, "events": names, "pageSize": 1000,
                                              "since": since}))
        if not page["events"]:
            return found
        found += page["events"]
        since = int(page["lastId"])


def new_stream(stack: Stack, rest: httpx.Client, unique: Callable[[str], str]) -> Stream:
    profiles = [connected_profile(rest, unique, **SEND_LIMITS)[0] for _ in range(2)]
    return Stream(stack, profiles, recipients())


def stream_with_a_crash(stream: Stream, crash: Callable[[], None], *, after: int = 70) -> None:
    """Send the 200 messages; once `after` are accepted, run `crash` while the rest are being sent."""
    failures: list[BaseException] = []

    def crasher() -> None:
        try:
            wait_for(lambda: stream.count() >= after, f"{after} accepted messages", DEADLINE_S)
            crash()
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    thread = threading.Thread(target=crasher, name="crasher")
    thread.start()
    try:
        stream.send(stream.plan(0, MESSAGES))
    finally:
        thread.join()
    if failures:
        raise failures[0]


# A. SIGKILL of each process mid-stream


def test_worker_killed_mid_stream(crash_stack, rest, unique):
    stream = new_stream(crash_stack, rest, unique)
    stream_with_a_crash(stream, lambda: kill_and_restart(crash_stack.workers, None))
    rows = stream.wait_all(rest, "READ", "FAILED")
    stream.check_exactly_once(rest, rows)


def test_api_server_killed_mid_stream(crash_stack, rest, unique):
    stream = new_stream(crash_stack, rest, unique)
    stream_with_a_crash(stream, lambda: kill_and_restart(crash_stack.api, crash_stack.grpc_port))
    assert stream.refused, "no request met the dead API server: the crash came too late to prove anything"
    rows = stream.wait_all(rest, "READ", "FAILED")
    stream.check_exactly_once(rest, rows)


def test_engine_host_killed_mid_stream(crash_stack, rest, unique):
    stream = new_stream(crash_stack, rest, unique)
    stream_with_a_crash(stream, lambda: kill_and_restart(crash_stack.engines, crash_stack.engine_port))
    rows = stream.wait_all(rest, "READ", "FAILED")
    stream.check_exactly_once(rest, rows)


def test_engine_host_killed_after_whatsapp_accepted_but_before_the_gateway_recorded_it(crash_stack, rest, unique):
    """The narrowest window, made wide: WhatsApp accepts the message (it reaches the phone) but its answer is
    slow, and the engine host dies before it arrives. The message is still PENDING, so the worker sends it
    again; WhatsApp recognises the gateway's message id and the receipts that came meanwhile are not lost."""
    pid, _ = connected_profile(rest, unique, **SEND_LIMITS)
    (number,) = recipients(1)
    crash_stack.simulator("inject", profile_id=pid, fault="slow_ack", seconds=600)  # 30 s at the tests' scale
    text = f"crash-safety window {secrets.token_hex(4)}"
    message_id = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": number, "text": text}))["id"]
    received = wait_for(lambda: crash_stack.simulator("inbox", phone_or_chat_id=number),
                        "the message to reach the phone", 15)
    assert [entry["content"]["text"] for entry in received] == [text]
    assert ok(rest.get(f"/messages/{message_id}"))["status"] == "PENDING"  # the gateway does not know yet
    kill_and_restart(crash_stack.engines, crash_stack.engine_port)
    read = wait_for(lambda: (m := ok(rest.get(f"/messages/{message_id}")))["status"] in ("READ", "FAILED") and m,
                    "the message to be read", 30)
    assert read["status"] == "READ", read
    assert read["waMessageId"] == received[0]["wa_message_id"]
    # The very delivery from before the crash (same id and time), and no second one.
    assert crash_stack.simulator("inbox", phone_or_chat_id=number) == received
    acks = [event["data"]["status"] for event in events(rest, pid, "message.ack")
            if event["data"]["messageId"] == message_id]
    assert acks == ["SENT", "DELIVERED", "READ"]


@pytest.mark.parametrize(("guarantee", "outcome", "deliveries"), [("AT_MOST_ONCE", "FAILED", 1),
                                                                  ("AT_LEAST_ONCE", "READ", 2)])
def test_an_unknown_outcome_follows_the_profiles_delivery_guarantee(crash_stack, rest, unique, guarantee, outcome,
                                                                    deliveries):
    """The same window, on a profile whose simulated WhatsApp is not told the gateway's message id (as with
    whatsmeow and the Cloud API): the send sent again would be delivered again. AT_MOST_ONCE ends the message
    FAILED with OUTCOME_UNKNOWN, once delivered, never sent again; AT_LEAST_ONCE sends it again (READ, delivered
    twice)."""
    settings = {"autoPair": True, "autoPairDelayMs": 100, "recognisesRepeats": False}
    pid, _ = connected_profile(rest, unique, engineSettings=settings, deliveryGuarantee=guarantee, **SEND_LIMITS)
    assert ok(rest.get(f"/profiles/{pid}"))["deliveryGuarantee"] == guarantee
    (number,) = recipients(1)
    crash_stack.simulator("inject", profile_id=pid, fault="slow_ack", seconds=600)  # 30 s at the tests' scale
    text = f"unknown outcome {guarantee} {secrets.token_hex(4)}"
    message_id = ok(rest.post("/messages/text", json={"profileId": pid, "chatId": number, "text": text}))["id"]
    wait_for(lambda: crash_stack.simulator("inbox", phone_or_chat_id=number), "the message to reach the phone", 15)
    assert ok(rest.get(f"/messages/{message_id}"))["status"] == "PENDING"
    kill_and_restart(crash_stack.engines, crash_stack.engine_port)
    ended = wait_message(rest, message_id, "READ", "FAILED", timeout=30)
    assert ended["status"] == outcome, ended
    if outcome == "FAILED":
        assert ended["error"].startswith("OUTCOME_UNKNOWN: "), ended
        acks = [event["data"] for event in events(rest, pid, "message.ack")
                if event["data"]["messageId"] == message_id]
        assert [(ack["status"], ack["error"]) for ack in acks] == [("FAILED", ended["error"])]
        time.sleep(3)  # a worker that sent it again would have done so by now (it retries every 5 s at most)
    inbox = [entry["content"]["text"] for entry in crash_stack.simulator("inbox", phone_or_chat_id=number)]
    assert inbox == [text] * deliveries


# B. Redis down


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(str(tmp_path))
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


def test_sends_are_accepted_while_redis_is_down_and_go_out_once_it_is_back(private_redis, tmp_path, unique):
    with running_stack(f"sqlite:///{tmp_path / 'wagw.db'}", REDIS_URL=private_redis.url, **FAST_RECOVERY) as stack, \
            stack.rest() as rest:
        stream = new_stream(stack, rest, unique)
        half = MESSAGES // 2
        stream.send(stream.plan(0, half), pace_s=0.01)
        # Sent: the worker gave the profile's lease back (nothing left to send), so what comes next needs a wake-up
        # through Redis (a worker still holding the lease would send it without one).
        stream.wait_all(rest, "READ", "FAILED")
        private_redis.kill()  # the queue, and whatever was in it, is gone
        stream.send(stream.plan(half, MESSAGES), pace_s=0.01)
        assert not stream.refused, f"sends were refused while Redis was down: {dict(stream.refused)}"
        later = {stream.accepted[text] for text, _, _ in stream.plan(half, MESSAGES)}
        waiting = [row for row in stream.rows(rest) if row["id"] in later]
        assert len(waiting) == half and {row["status"] for row in waiting} == {"PENDING"}
        time.sleep(1)
        private_redis.start()  # back, empty
        rows = stream.wait_all(rest, "READ", "FAILED")
        stream.check_exactly_once(rest, rows)


def test_sends_to_a_profile_whose_engine_host_died_wait_or_are_refused_and_none_is_lost(crash_stack, rest, unique):
    """The API server judges a profile's status from a view of the live engine hosts up to 1 s old
    (server/core/hosts.py), and a host is judged gone 10 s after its last heartbeat: sends in that window are
    accepted and wait; after it they are refused (409 PROFILE_NOT_CONNECTED), never accepted again while the host
    is down. Once a host is back, every accepted one is delivered."""
    pid, _ = connected_profile(rest, unique, **SEND_LIMITS)
    chat = recipients(1)[0]
    engines = crash_stack.engines
    assert engines.process is not None
    engines.process.kill()
    engines.process.wait()
    accepted: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert time.monotonic() < deadline, "sends were still accepted a minute after the engine host died"
        response = rest.post("/messages/text", json={"profileId": pid, "chatId": chat, "text": f"t{len(accepted)}"})
        if response.status_code != 200:
            fails(response, 409, "PROFILE_NOT_CONNECTED")
            break
        accepted.append(ok(response)["id"])
        time.sleep(0.2)
    for _ in range(5):  # refused from then on: the view never brings a dead host back
        fails(rest.post("/messages/text", json={"profileId": pid, "chatId": chat, "text": "late"}), 409,
              "PROFILE_NOT_CONNECTED")
    assert accepted  # the first sends came while the host's heartbeat was still fresh
    engines.start()
    wait_for_port(crash_stack.engine_port, timeout=20)
    for message_id in accepted:
        wait_message(rest, message_id, "READ", timeout=DEADLINE_S)

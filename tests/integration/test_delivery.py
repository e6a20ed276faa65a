"""Delivery through the real stack, where only the stack can show it: a chat's single sends arrive in the order they
were accepted with two worker processes and faults on the way; a SIGKILLed worker's profiles go on from another
worker as soon as its lease lapses; sends accepted while Redis was down go out once it answers, without waiting for
the overdue sweep; a batch cancelled while an item is in WhatsApp's hands; and the daily cap for batches, at accept
time and at send time."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from server.core import db
from server.core.config import ROOT
from server.core.models import Profile, SendGate
from server.launch import Child
from tests.support.api import connected_profile, fails, ok, wait_for, wait_message
from tests.support.crash import PrivateRedis
from tests.support.stack import Stack, running_stack

# Long enough that nothing in these tests can be explained by the sweep of long-overdue wake-ups.
NO_OVERDUE_SWEEP = {"WAGW_SWEEP_OVERDUE_S": "600"}


@contextmanager
def extra_worker(stack: Stack) -> Iterator[Child]:
    """A second worker process (`python -m worker`) on the stack's database and Redis."""
    worker = Child("workers-2", lambda: subprocess.Popen([sys.executable, "-m", "worker"], env=stack.env, cwd=ROOT))
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def stack_database(stack: Stack) -> Iterator[None]:
    """The stack's database, opened in the test process to look at what the API does not show (the send gate)."""
    db.open_database(stack.database_url)
    try:
        with db.database.connection_context():
            yield
    finally:
        db.database.close()


def number() -> str:
    return f"62811{secrets.randbelow(10**7):07d}"


def inbox_texts(stack: Stack, phone: str, tag: str) -> list[str]:
    return [entry["content"].get("text", "") for entry in stack.simulator("inbox", phone_or_chat_id=f"+{phone}")
            if entry["content"].get("text", "").startswith(tag)]


def test_single_sends_to_one_chat_arrive_in_the_order_they_were_accepted(stack, rest, unique):
    """200 texts to one chat, accepted one after the other, with two worker processes; WhatsApp refuses one for
    good and pushes back once (rate-overlimit) on the way. Every other one arrives, each once, in order."""
    with extra_worker(stack):
        pid, _ = connected_profile(rest, unique, sendLimits={"minGapMs": 0})
        to, tag = number(), f"order {secrets.token_hex(3)}"
        accepted = []
        for i in range(200):
            if i == 60:
                stack.simulator("inject", profile_id=pid, fault="fail_next")  # its next call: a send
            if i == 120:
                stack.simulator("inject", profile_id=pid, fault="rate_overlimit", n=1)
            text = f"{tag} #{i:03d}"
            accepted.append((text, ok(rest.post("/messages/text", json={"profileId": pid, "chatId": to,
                                                                         "text": text}))["id"]))
        outcome = {message_id: wait_message(rest, message_id, "SENT", "DELIVERED", "READ", "FAILED", timeout=60)
                   for _, message_id in accepted}
    failed = [text for text, message_id in accepted if outcome[message_id]["status"] == "FAILED"]
    assert len(failed) == 1, failed  # the injected refusal, and nothing else
    expected = [text for text, _ in accepted if text not in failed]
    assert inbox_texts(stack, to, tag) == expected


def test_cancel_leaves_the_item_whatsapp_is_handling_to_end_sent(stack, rest, unique):
    """The first item reaches WhatsApp, whose answer is slow (3 s): the cancel arrives while it is in flight. It
    ends READ; the other items are cancelled; the counts add up."""
    pid, _ = connected_profile(rest, unique)
    stack.simulator("inject", profile_id=pid, fault="slow_ack", seconds=60)  # 3 s at the tests' time scale
    tag = f"cancel {secrets.token_hex(3)}"
    recipients = [number() for _ in range(3)]
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": [
        {"chatId": to, "type": "text", "content": {"text": f"{tag} {i}"}} for i, to in enumerate(recipients)]}))
    wait_for(lambda: inbox_texts(stack, recipients[0], tag), "the first item to reach its recipient")
    first = ok(rest.get(f"/bulk/batch/{batch['batchId']}"))["items"][0]
    assert first["status"] == "PENDING"  # WhatsApp has it; the gateway does not know yet
    cancelled = ok(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}))
    assert cancelled["status"] == "CANCELLED"
    wait_message(rest, first["messageId"], "READ")
    done = wait_for(lambda: (b := ok(rest.get(f"/bulk/batch/{batch['batchId']}")))["progress"]["read"] == 1 and b,
                    "the batch's counts to settle")
    assert done["status"] == "CANCELLED"
    assert {key: done["progress"][key] for key in ("total", "sent", "failed", "cancelled", "pending")} == {
        "total": 3, "sent": 1, "failed": 0, "cancelled": 2, "pending": 0}
    assert [item["status"] for item in done["items"]] == ["READ", "CANCELLED", "CANCELLED"]
    assert [inbox_texts(stack, to, tag) for to in recipients] == [[f"{tag} 0"], [], []]


def test_a_batch_that_does_not_fit_in_the_daily_cap_is_refused_at_accept(rest, unique):
    pid, _ = connected_profile(rest, unique, sendLimits={"dailyCap": 5})
    ok(rest.post("/messages/text", json={"profileId": pid, "chatId": number(), "text": "one"}))
    items = [{"chatId": number(), "type": "text", "content": {"text": f"#{i}"}} for i in range(5)]
    error = fails(rest.post("/bulk/send", json={"profileId": pid, "messages": items}), 429, "RATE_LIMITED")
    assert "the batch of 5 messages does not fit" in error["message"] and "4 more" in error["message"]
    assert error["details"]["resetAt"].endswith("T00:00:00Z")
    assert ok(rest.get("/bulk/batches", params={"profileId": pid}))["totalSize"] == 0
    ok(rest.post("/bulk/send", json={"profileId": pid, "messages": items[:4]}))
    fails(rest.post("/messages/text", json={"profileId": pid, "chatId": number(), "text": "six"}), 429,
          "RATE_LIMITED")


def test_the_gate_holds_a_batch_that_meets_the_daily_cap_at_send_time(stack, rest, unique):
    """A batch accepted within the cap, and the cap lowered (in the database, as an operator would) after its first
    item went out: the gate sends one more, then holds the rest until the next UTC day."""
    pid, _ = connected_profile(rest, unique, sendLimits={"dailyCap": 4})
    items = [{"chatId": number(), "type": "text", "content": {"text": f"#{i}"}} for i in range(4)]
    batch = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": items,
                                            "options": {"delayBetweenMessages": 1500}}))
    wait_for(lambda: ok(rest.get(f"/bulk/batch/{batch['batchId']}"))["progress"]["sent"] >= 1, "the first item")
    with stack_database(stack):
        Profile.update(daily_cap=2).where(Profile.id == pid).execute()

    def held_until_tomorrow() -> bool:
        with stack_database(stack):
            gate = SendGate.get(SendGate.profile == pid)
        tomorrow = dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time())
        return gate.lease_owner is None and gate.due_at == tomorrow

    wait_for(held_until_tomorrow, "the gate to hold the profile's queue until the next day", timeout=20)
    progress = ok(rest.get(f"/bulk/batch/{batch['batchId']}"))["progress"]
    assert (progress["sent"], progress["pending"]) == (2, 2)
    ok(rest.post(f"/bulk/batch/{batch['batchId']}/cancel", json={}))


# Failures of a process or of Redis, each on a stack of its own.


def lease_owner_pid(stack: Stack, profile_id: str) -> int | None:
    """The process holding the profile's delivery lease (server/core/jobs.py OWNER: host-pid-random)."""
    with stack_database(stack):
        owner = SendGate.get(SendGate.profile == profile_id).lease_owner
    return int(owner.split("-")[-2]) if owner else None


def test_a_killed_workers_profile_goes_on_from_another_worker_once_its_lease_lapses(tmp_path, unique):
    """Two workers; a profile sending every 300 ms is held by one of them, which gets SIGKILL. The other worker takes
    the profile over when the lease lapses (WAGW_JOB_LEASE_S=3; the overdue sweep is off), and meanwhile keeps
    serving another profile. Nothing is lost or sent twice."""
    env = {**NO_OVERDUE_SWEEP, "WAGW_JOB_LEASE_S": "3"}
    with running_stack(f"sqlite:///{tmp_path / 'wagw.db'}", **env) as stack, stack.rest() as rest, \
            extra_worker(stack) as second:
        workers = {stack.workers.process.pid: stack.workers, second.process.pid: second}
        paced, _ = connected_profile(rest, unique, sendLimits={"minGapMs": 300})
        other, _ = connected_profile(rest, unique)
        to, tag = number(), f"kill {secrets.token_hex(3)}"
        ids = [ok(rest.post("/messages/text", json={"profileId": paced, "chatId": to, "text": f"{tag} #{i:02d}"}))
               ["id"] for i in range(20)]
        wait_for(lambda: len(inbox_texts(stack, to, tag)) >= 3, "three messages out")
        pid = wait_for(lambda: lease_owner_pid(stack, paced), "a worker holding the paced profile")
        assert pid in workers
        out = len(inbox_texts(stack, to, tag))
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        workers[pid].process.wait()
        survivor = ok(rest.post("/messages/text", json={"profileId": other, "chatId": number(), "text": "still"}))
        wait_message(rest, survivor["id"], "SENT", "DELIVERED", "READ", timeout=30)
        wait_for(lambda: len(inbox_texts(stack, to, tag)) > out + 1, "the paced profile to go on", timeout=60)
        print(f"\nthe paced profile went on {time.monotonic() - killed_at:.1f} s after the SIGKILL")
        for message_id in ids:
            wait_message(rest, message_id, "READ", timeout=60)
        assert inbox_texts(stack, to, tag) == [f"{tag} #{i:02d}" for i in range(20)]


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(str(tmp_path))
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


def test_sends_accepted_while_redis_was_down_go_out_once_it_answers(private_redis, tmp_path, unique):
    """Redis dies; 40 sends to two profiles are accepted meanwhile; Redis comes back empty. They go out without the
    overdue sweep (off here), in order, each once."""
    with running_stack(f"sqlite:///{tmp_path / 'wagw.db'}", REDIS_URL=private_redis.url,
                       **NO_OVERDUE_SWEEP) as stack, stack.rest() as rest:
        profiles = [connected_profile(rest, unique)[0] for _ in range(2)]
        to, tag = number(), f"redis {secrets.token_hex(3)}"
        private_redis.kill()
        accepted = [ok(rest.post("/messages/text", json={"profileId": profiles[i % 2], "chatId": to,
                                                         "text": f"{tag} #{i:02d}"}))["id"] for i in range(40)]
        private_redis.start()  # back, empty
        back_at = time.monotonic()
        for message_id in accepted:
            wait_message(rest, message_id, "SENT", "DELIVERED", "READ", timeout=60)
        print(f"\nall out {time.monotonic() - back_at:.1f} s after Redis answered again")
        for profile_id in profiles:
            texts = [m["content"]["text"] for m in sorted(
                ok(rest.get("/messages", params={"profileId": profile_id, "pageSize": 100}))["messages"],
                key=lambda m: m["sentTime"])]
            assert texts == sorted(texts)  # each profile's in the order accepted
        assert sorted(inbox_texts(stack, to, tag)) == [f"{tag} #{i:02d}" for i in range(40)]


"""The send gate (server/core/send_gate.py) and one delivery step (worker/delivery.py) on an injected clock, with
the engine host replaced by a fake that records what it was asked to send: one message per step, oldest first,
the gap with its jitter, the daily cap at send time, WhatsApp's pause, a disconnected profile, retries that keep
a chat's order, failures that do not hold the chat, and a worker that lost its lease sending nothing."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from server.core import jobs, lifecycle, send_gate
from server.core.config import Settings
from server.core.db import utcnow
from server.core.errors import ApiError
from server.core.models import EngineHost, Message, Profile, SendGate
from tests.support.sql import sql_run
from worker import delivery

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)
SETTINGS = Settings(rate_limit_pause_s=60.0)
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _setup(database, stub_broker):
    """Every test runs on a fresh database of each backend, with the in-process broker."""


class FakeEngine:
    """The engine host, as the worker sees it: records each send and acts as WhatsApp answered (`refusals`: the
    next answers, as ApiErrors; otherwise the message is recorded SENT, as the engine host does)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, clock: Callable[[], dt.datetime]):
        self.sent: list[str] = []
        self.refusals: list[ApiError] = []
        self.clock = clock
        monkeypatch.setattr(delivery.engine_client, "call", self.call)

    def call(self, profile: Profile, method: Any, request: Any, hosts: Any = None) -> Any:
        self.sent.append(request.message_id)
        if self.refusals:
            raise self.refusals.pop(0)
        lifecycle.sent(Message.get_by_id(request.message_id), f"wa-{request.message_id}", self.clock())
        return None


@pytest.fixture
def clock() -> list[dt.datetime]:
    """The injected time, as a one-item list the test moves."""
    return [NOW]


@pytest.fixture
def engine(monkeypatch, clock) -> FakeEngine:
    return FakeEngine(monkeypatch, lambda: clock[0])


def connected(**limits: Any) -> Profile:
    host = f"h{next(_ids)}"
    EngineHost.create(id=host, address="127.0.0.1:1", heartbeat_at=utcnow())
    return Profile.create(id=f"g{next(_ids)}", name="G", engine="simulator", status="CONNECTED", host_id=host,
                          **limits)


def accept(owner: Profile, chat: str, text: str, at: dt.datetime) -> Message:
    return lifecycle.accept_message(owner, chat_id=chat, type_name="TEXT", content={"text": text}, now=at)


def step(owner: Profile, clock: list[dt.datetime], settings: Settings = SETTINGS) -> dt.datetime | None:
    """One delivery step at the injected time, under the profile's lease."""
    lease = jobs.claim(send_gate.KIND, owner.id, clock[0], 5.0) or next(
        lease for lease in jobs.keeper().held() if lease.key == owner.id)
    return delivery.step(owner.id, lease, clock[0], settings, clock=lambda: clock[0])


def status(message: Message) -> str:
    return Message.get_by_id(message.id).status


# The gate's rules


def test_ready_at_waits_for_the_gap_the_pause_and_the_next_day_at_the_cap():
    owner = connected(daily_cap=2)
    gate = SendGate.create(profile=owner.id)
    assert send_gate.ready_at(gate, owner, NOW) == NOW
    gate.next_at = NOW + dt.timedelta(seconds=1)
    assert send_gate.ready_at(gate, owner, NOW) == NOW + dt.timedelta(seconds=1)
    gate.paused_until = NOW + dt.timedelta(seconds=30)
    assert send_gate.ready_at(gate, owner, NOW) == NOW + dt.timedelta(seconds=30)
    gate.day, gate.sent_today = send_gate.day_of(NOW), 2
    assert send_gate.ready_at(gate, owner, NOW) == dt.datetime(2026, 12, 1)
    gate.day = "2026-11-29"  # the count of another day
    assert send_gate.ready_at(gate, owner, NOW) == NOW + dt.timedelta(seconds=30)


def test_each_gap_is_the_minimum_plus_a_jitter_within_its_bounds():
    owner = connected(min_gap_ms=1000, jitter_ms=500)
    rng = random.Random(3)
    gaps = [send_gate.gap(owner, rng).total_seconds() for _ in range(200)]
    assert all(1.0 <= gap <= 1.5 for gap in gaps)
    assert min(gaps) < 1.02 and max(gaps) > 1.48


def test_the_count_of_the_day_starts_again_each_day():
    owner = connected()
    for at in (NOW, NOW, NOW + dt.timedelta(days=1)):
        send_gate.count_sent(owner.id, at)
    gate = SendGate.get(SendGate.profile == owner.id)
    assert (gate.day, gate.sent_today) == ("2026-12-01", 1)
    assert send_gate.sent_today(gate, NOW + dt.timedelta(days=1)) == 1
    assert send_gate.sent_today(gate, NOW + dt.timedelta(days=2)) == 0


@pytest.mark.parametrize("counting", ["count_sent", "add_work"])
def test_the_count_of_the_day_starts_again_each_day_however_it_is_counted(counting: str):
    """A batch item's send counts the day's send in the statement that marks the queue due for the next item
    (add_work with counting_sent): it counts as count_sent does, from a gate row or none yet."""
    owner = Profile.create(id=f"p{next(_ids)}", name="P", engine="simulator", status="CONNECTED")
    for at in (NOW, NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=1)):
        if counting == "count_sent":
            send_gate.count_sent(owner.id, at)
        else:
            send_gate.add_work(owner.id, at + dt.timedelta(seconds=5), at, counting_sent=True)
    gate = SendGate.get(SendGate.profile == owner.id)
    assert (gate.day, gate.sent_today) == ("2026-12-01", 2)


# Delivery steps


def test_one_message_per_step_oldest_first_each_after_the_gap(engine, clock):
    owner = connected(min_gap_ms=500)
    a = accept(owner, "628111000001@s.whatsapp.net", "a", NOW)
    b = accept(owner, "628111000002@s.whatsapp.net", "b", NOW + dt.timedelta(milliseconds=1))
    c = accept(owner, "628111000001@s.whatsapp.net", "c", NOW + dt.timedelta(milliseconds=2))
    assert step(owner, clock) == NOW + dt.timedelta(milliseconds=500)
    assert engine.sent == [a.id]
    clock[0] = NOW + dt.timedelta(milliseconds=200)
    assert step(owner, clock) == NOW + dt.timedelta(milliseconds=500)  # the gap runs: nothing sent
    assert engine.sent == [a.id]
    clock[0] = NOW + dt.timedelta(milliseconds=500)
    step(owner, clock)
    clock[0] = NOW + dt.timedelta(seconds=1)
    step(owner, clock)
    assert engine.sent == [a.id, b.id, c.id]
    clock[0] = NOW + dt.timedelta(seconds=2)
    assert step(owner, clock) is None  # nothing waits


def test_a_worker_step_reads_its_gate_once(engine, clock):
    """jobs.run_step reads the job's row before the step (its version tells whether work came meanwhile) and hands
    it to the step, which judges the gate by it instead of reading it again (worker/actors.py passes it on)."""
    owner = connected()
    first = accept(owner, "628111000001@s.whatsapp.net", "a", NOW)
    lease = jobs.claim(send_gate.KIND, owner.id, NOW, 5.0)
    seen: list[Any] = []

    def deliver_step(key: str, held: jobs.Lease, now: dt.datetime, gate: SendGate | None) -> dt.datetime | None:
        seen.append(gate)
        return delivery.step(key, held, clock[0], SETTINGS, clock=lambda: clock[0], gate=gate)

    with sql_run() as run:
        assert jobs.run_step(lease, deliver_step) == NOW  # without a gap: the next step at once
    assert engine.sent == [first.id]
    assert [gate.profile_id for gate in seen] == [owner.id]
    assert len([sql for sql in run if sql.startswith("SELECT") and 'FROM "SEND_GATE"' in sql]) == 1


def test_without_a_gap_the_next_message_goes_at_once_and_nothing_is_written_for_it(engine, clock, monkeypatch):
    owner = connected()
    first = accept(owner, "628111000001@s.whatsapp.net", "a", NOW)
    second = accept(owner, "628111000002@s.whatsapp.net", "b", NOW)
    monkeypatch.setattr(send_gate._NEXT_AT, "execute", lambda *values: pytest.fail("the gap was written"))
    assert step(owner, clock) == NOW
    assert step(owner, clock) == NOW
    assert engine.sent == [first.id, second.id]


def test_the_daily_cap_holds_messages_at_send_time(engine, clock):
    """Accepted within the cap, then the cap is lowered: the gate holds the rest until the next UTC day."""
    owner = connected(daily_cap=3)
    messages = [accept(owner, "628111000001@s.whatsapp.net", str(i), NOW) for i in range(3)]
    step(owner, clock)
    Profile.update(daily_cap=1).where(Profile.id == owner.id).execute()
    owner = Profile.get_by_id(owner.id)
    clock[0] = NOW + dt.timedelta(seconds=1)
    assert step(owner, clock) == dt.datetime(2026, 12, 1)
    assert engine.sent == [messages[0].id]
    assert [status(m) for m in messages] == ["SENT", "PENDING", "PENDING"]
    clock[0] = dt.datetime(2026, 12, 1, 0, 0, 1)
    step(owner, clock)
    assert engine.sent == [messages[0].id, messages[1].id]  # a new day


def test_whatsapps_rate_limit_pauses_the_profile_and_the_message_waits_unhanded(engine, clock):
    owner = connected()
    message = accept(owner, "628111000001@s.whatsapp.net", "hi", NOW)
    engine.refusals.append(ApiError("RATE_LIMITED", "rate-overlimit"))
    until = NOW + dt.timedelta(seconds=60)
    assert step(owner, clock) == until
    row = Message.get_by_id(message.id)
    assert (row.status, row.handed_at) == ("PENDING", None)
    gate = SendGate.get(SendGate.profile == owner.id)
    assert (gate.paused_until, gate.pause_reason) == (until, "rate-overlimit")
    clock[0] = NOW + dt.timedelta(seconds=59)
    assert step(owner, clock) == until
    assert engine.sent == [message.id]
    clock[0] = until
    step(owner, clock)
    assert engine.sent == [message.id, message.id] and status(message) == "SENT"


def test_a_profile_that_is_not_connected_is_looked_at_again_later(engine, clock):
    owner = connected()
    Profile.update(status="RECONNECTING").where(Profile.id == owner.id).execute()
    accept(owner, "628111000001@s.whatsapp.net", "hi", NOW)
    assert step(owner, clock) == NOW + dt.timedelta(seconds=delivery.NOT_CONNECTED_RETRY_S)
    assert engine.sent == []


def test_a_retried_message_goes_before_the_later_ones_of_its_chat(engine, clock):
    owner = connected()
    first = accept(owner, "628111000001@s.whatsapp.net", "1", NOW)
    second = accept(owner, "628111000001@s.whatsapp.net", "2", NOW + dt.timedelta(milliseconds=1))
    engine.refusals.append(ApiError("UNAVAILABLE", "the engine host did not answer"))
    assert step(owner, clock) == NOW + dt.timedelta(seconds=delivery.NOT_CONNECTED_RETRY_S)
    assert Message.get_by_id(first.id).handed_at == NOW  # it may have reached WhatsApp: still handed
    clock[0] = NOW + dt.timedelta(seconds=5)
    step(owner, clock)
    step(owner, clock)
    assert engine.sent == [first.id, first.id, second.id]
    assert Message.get_by_id(first.id).attempts == 2


def test_a_message_refused_for_good_fails_and_the_next_of_its_chat_goes(engine, clock):
    owner = connected()
    first = accept(owner, "628111000001@s.whatsapp.net", "1", NOW)
    second = accept(owner, "628111000001@s.whatsapp.net", "2", NOW + dt.timedelta(milliseconds=1))
    engine.refusals.append(ApiError("ENGINE_ERROR", "628111000001 is not on WhatsApp"))
    step(owner, clock)
    step(owner, clock)
    assert Message.get_by_id(first.id).error == "ENGINE_ERROR: 628111000001 is not on WhatsApp"
    assert [status(first), status(second)] == ["FAILED", "SENT"]


def test_a_batch_item_waits_for_its_time(engine, clock):
    owner = connected()
    start = NOW + dt.timedelta(seconds=3)
    batch = lifecycle.accept_batch(owner, [{"chat_id": "628111000001@s.whatsapp.net", "type": "TEXT",
                                            "content": {"text": "x"}}] * 2, delay_ms=700, randomize=False,
                                   stop_on_error=False, start_at=start, idempotency_key="", now=NOW)
    assert step(owner, clock) == start
    clock[0] = start
    step(owner, clock)
    assert step(owner, clock) == start + dt.timedelta(milliseconds=700)
    clock[0] = start + dt.timedelta(milliseconds=700)
    step(owner, clock)
    assert len(engine.sent) == 2 and Message.select().where(
        (Message.batch_id == batch.id) & (Message.status == "SENT")).count() == 2


def test_the_step_that_sends_a_batch_item_answers_when_the_next_one_is_due(engine, clock):
    """The item's record schedules the next one a delay later: the same step looks it up, instead of answering
    "at once" for a second step to learn it. A single send that came meanwhile goes first, the item due after it at
    once; after the last item nothing waits."""
    owner = connected()
    delay = dt.timedelta(milliseconds=700)
    lifecycle.accept_batch(owner, [{"chat_id": "628111000001@s.whatsapp.net", "type": "TEXT",
                                    "content": {"text": "x"}}] * 3, delay_ms=700, randomize=False,
                           stop_on_error=False, start_at=NOW, idempotency_key="", now=NOW)
    assert step(owner, clock) == NOW + delay and len(engine.sent) == 1
    clock[0] = NOW + delay
    assert step(owner, clock) == NOW + 2 * delay and len(engine.sent) == 2
    accept(owner, "628111000002@s.whatsapp.net", "meanwhile", clock[0])
    clock[0] = NOW + 2 * delay
    assert step(owner, clock) == clock[0] and len(engine.sent) == 3  # the single (it waited longer); the item: now
    assert step(owner, clock) is None and len(engine.sent) == 4  # the last item went; nothing waits


def test_a_worker_that_lost_its_lease_sends_nothing(engine, clock, monkeypatch):
    owner = connected()
    accept(owner, "628111000001@s.whatsapp.net", "hi", NOW)
    lease = jobs.claim(send_gate.KIND, owner.id, NOW, 5.0)
    mine = jobs.OWNER
    monkeypatch.setattr(jobs, "OWNER", "another-process")
    assert jobs.claim(send_gate.KIND, owner.id, NOW + dt.timedelta(seconds=6), 5.0) is not None  # it lapsed
    monkeypatch.setattr(jobs, "OWNER", mine)
    with pytest.raises(jobs.LeaseLost):
        delivery.step(owner.id, lease, NOW + dt.timedelta(seconds=6), SETTINGS)
    assert engine.sent == []

"""The durable-job mechanism (server/core/jobs.py) on both backends, on an injected clock: claims are exclusive,
leases last only while renewed, a release queues the next wake-up (once), work added meanwhile is never lost,
the sweep finds what lost its wake-up (a broker that was down, a lapsed lease) and nothing else, and the
scheduler runs steps in time order."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable

import pytest

from server.core import broker, jobs, send_gate, webhook_deliveries
from server.core.models import Profile, SendGate, Webhook, WebhookDelivery

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)
LEASE_S = 5.0
KIND = send_gate.KIND
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _setup(database, stub_broker):
    """Every test runs on a fresh database of each backend, with the in-process broker."""


def job(**columns) -> str:
    """A profile whose delivery job row is in the given state."""
    profile_id = f"j{next(_ids)}"
    Profile.create(id=profile_id, name="J", engine="simulator")
    SendGate.create(profile=profile_id, **columns)
    return profile_id


def row(key: str) -> SendGate:
    return SendGate.get(SendGate.profile == key)


def as_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "OWNER", "another-process")


def test_one_claim_wins_until_the_lease_lapses(monkeypatch):
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, NOW, LEASE_S)
    assert lease is not None and jobs.keeper().holds(KIND, key)
    assert (row(key).lease_owner, row(key).leased_until) == (jobs.OWNER, NOW + dt.timedelta(seconds=LEASE_S))
    assert jobs.claim(KIND, key, NOW + dt.timedelta(seconds=4), LEASE_S) is None
    mine = jobs.OWNER
    as_another_process(monkeypatch)
    assert jobs.claim(KIND, key, NOW + dt.timedelta(seconds=4), LEASE_S) is None
    taken = jobs.claim(KIND, key, NOW + dt.timedelta(seconds=6), LEASE_S)  # lapsed: the holder is gone
    assert taken is not None and row(key).lease_owner == "another-process"
    monkeypatch.setattr(jobs, "OWNER", mine)
    with pytest.raises(jobs.LeaseLost):
        jobs.verify(lease)


def test_renewal_keeps_a_lease_for_as_long_as_the_process_works(monkeypatch):
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, NOW, LEASE_S)
    for seconds in (3, 6, 9):
        jobs.keeper().renew(NOW + dt.timedelta(seconds=seconds))
    assert row(key).leased_until == NOW + dt.timedelta(seconds=9 + LEASE_S)
    as_another_process(monkeypatch)
    assert jobs.claim(KIND, key, NOW + dt.timedelta(seconds=13), LEASE_S) is None
    jobs.keeper().drop(lease)


def test_a_release_records_the_next_due_time_and_queues_its_wake_up_once(queued):
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, NOW, LEASE_S)
    seen = jobs.snapshot(lease)
    later = NOW + dt.timedelta(seconds=60)
    assert jobs.release(lease, seen, later, NOW)
    released = row(key)
    assert (released.lease_owner, released.leased_until, released.due_at) == (None, None, later)
    assert released.queued_at == later - dt.timedelta(seconds=jobs.EARLY_S)
    assert not jobs.keeper().holds(KIND, key)
    (wake,) = queued(f"{KIND.queue}.DQ")
    assert wake.args == (key,)
    # A second wake-up (from a sweep, say) finds the job not due, and one is already coming for then: none more.
    lease = jobs.claim(KIND, key, NOW + dt.timedelta(seconds=1), LEASE_S)
    assert jobs.release(lease, jobs.snapshot(lease), later, NOW + dt.timedelta(seconds=1))
    assert len(queued(f"{KIND.queue}.DQ")) == 1
    # Nothing left to do: no wake-up.
    lease = jobs.claim(KIND, key, NOW + dt.timedelta(seconds=2), LEASE_S)
    assert jobs.release(lease, jobs.snapshot(lease), None, NOW + dt.timedelta(seconds=2))
    assert (row(key).due_at, len(queued(f"{KIND.queue}.DQ")), queued(KIND.queue)) == (None, 1, [])


def test_work_added_while_the_lease_is_held_is_not_overwritten_by_the_release():
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, NOW, LEASE_S)
    seen = jobs.snapshot(lease)  # the step starts, and finds nothing to do...
    send_gate.add_work(key, NOW + dt.timedelta(seconds=1), NOW + dt.timedelta(seconds=1))  # ...as a message comes
    assert not jobs.release(lease, seen, None, NOW + dt.timedelta(seconds=1))  # look again instead
    assert row(key).lease_owner == jobs.OWNER
    assert jobs.release(lease, jobs.snapshot(lease), None, NOW + dt.timedelta(seconds=2))


def test_a_broker_that_is_down_leaves_the_job_unqueued_for_the_sweep(monkeypatch, queued):
    key = job()

    def down(*_args, **_kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(broker, "enqueue", down)
    assert send_gate.add_work(key, NOW, NOW)
    assert not jobs.enqueue(KIND, [key], NOW, NOW)  # the caller carries on
    assert (row(key).due_at, row(key).queued_at) == (NOW, None)
    assert jobs.sweep(KIND, NOW + dt.timedelta(seconds=1), overdue_s=30) == 0  # still down
    monkeypatch.undo()
    assert jobs.sweep(KIND, NOW + dt.timedelta(seconds=2), overdue_s=30) == 1  # it answers: queued at once
    assert [m.args for m in queued(KIND.queue)] == [(key,)]
    assert row(key).queued_at == NOW + dt.timedelta(seconds=2)
    assert jobs.sweep(KIND, NOW + dt.timedelta(seconds=3), overdue_s=30) == 0  # and not again


def test_the_sweep_queues_what_is_due_and_lost_its_wake_up_and_nothing_else(monkeypatch, queued):
    at = NOW - dt.timedelta(seconds=60)
    waiting = {
        "unqueued": job(due_at=at),
        "overdue": job(due_at=at, queued_at=NOW - dt.timedelta(seconds=31)),
        "lapsed": job(due_at=at, queued_at=NOW - dt.timedelta(seconds=1), lease_owner="killed",
                      leased_until=NOW - dt.timedelta(seconds=1)),
    }
    left_alone = {
        "queued": job(due_at=at, queued_at=NOW - dt.timedelta(seconds=29)),
        "held": job(due_at=at, lease_owner="alive", leased_until=NOW + dt.timedelta(seconds=1)),
        "not due": job(due_at=NOW + dt.timedelta(seconds=10)),
        "idle": job(),
    }
    assert jobs.sweep(KIND, NOW, overdue_s=30) == 3
    assert sorted(m.args[0] for m in queued(KIND.queue)) == sorted(waiting.values())
    assert row(waiting["lapsed"]).lease_owner is None  # free for whoever the wake-up reaches
    assert row(left_alone["held"]).lease_owner == "alive"
    assert jobs.sweep(KIND, NOW + dt.timedelta(seconds=1), overdue_s=30) == 0


def test_the_sweep_queues_one_wake_up_per_group_for_kinds_in_groups(queued):
    """A webhook's deliveries: one wake-up wakes the webhook's lane, which takes all its due ones."""
    Profile.create(id="p", name="P", engine="simulator")
    at = NOW - dt.timedelta(seconds=60)
    for hook in ("wh_a", "wh_b"):
        Webhook.create(id=hook, profile="p", url="https://example.com/h", secret="s" * 16)
        for event_id in (3, 1, 2):
            WebhookDelivery.create(id=f"{hook}_{event_id}", webhook_id=hook, event_id=event_id, event="message.ack",
                                   next_attempt_at=at + dt.timedelta(seconds=event_id))
    grouped = webhook_deliveries.KIND
    assert jobs.sweep(grouped, NOW, overdue_s=30) == 2
    assert sorted(m.args[0] for m in queued(grouped.queue)) == ["wh_a_1", "wh_b_1"]  # the first due of each
    assert {d.queued_at for d in WebhookDelivery.select()} == {NOW}  # all of them: not swept again at once
    assert jobs.sweep(grouped, NOW + dt.timedelta(seconds=1), overdue_s=30) == 0


def test_the_scheduler_runs_steps_in_time_order_and_hurries_on_request():
    clock = [NOW]
    scheduler = jobs.Scheduler(threads=1, now=lambda: clock[0])
    ran: list[str] = []
    for name, seconds in (("c", 3), ("a", 1), ("b", 2)):
        scheduler.at(NOW + dt.timedelta(seconds=seconds), ("k", name), lambda name=name: ran.append(name))
    ready, next_at = scheduler.due(NOW)
    assert (ready, next_at) == ([], NOW + dt.timedelta(seconds=1))
    assert scheduler.hurry(("k", "c"))  # new work for c: now
    assert not scheduler.hurry(("k", "z"))  # not waiting here
    scheduler.at(NOW + dt.timedelta(seconds=5), ("k", "b"), lambda: ran.append("b later"))  # replaces b's entry
    ready, next_at = scheduler.due(NOW + dt.timedelta(seconds=1))
    for run in ready:
        run()
    assert (ran, next_at) == (["c", "a"], NOW + dt.timedelta(seconds=5))
    ready, next_at = scheduler.due(NOW + dt.timedelta(seconds=5))
    ready[0]()
    assert (ran, next_at, scheduler.waiting()) == (["c", "a", "b later"], None, [])
    assert scheduler.stop() == []
    assert not scheduler.at(NOW, ("k", "d"), lambda: None)


def test_a_step_due_soon_keeps_the_lease_and_a_later_one_gives_it_back(queued):
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, jobs.utcnow(), LEASE_S)
    soon = jobs.utcnow() + dt.timedelta(seconds=1)
    assert jobs.run_step(lease, lambda *_: soon) == soon
    assert row(key).lease_owner == jobs.OWNER and jobs.keeper().holds(KIND, key)
    later = jobs.utcnow() + dt.timedelta(minutes=5)
    assert jobs.run_step(lease, lambda *_: later) is None
    assert (row(key).lease_owner, row(key).due_at) == (None, later)
    assert len(queued(f"{KIND.queue}.DQ")) == 1


def test_a_failing_step_is_tried_again_later():
    key = job(due_at=NOW)
    lease = jobs.claim(KIND, key, jobs.utcnow(), LEASE_S)

    def broken(*_args):
        raise RuntimeError("boom")

    started = jobs.utcnow()
    assert jobs.run_step(lease, broken) is None
    assert row(key).lease_owner is None
    assert row(key).due_at >= started + dt.timedelta(seconds=jobs.FAILED_STEP_RETRY_S)


def test_a_lane_runs_at_most_its_cap_and_parks_the_wake_ups_beyond_it_without_a_thread():
    lanes = jobs.Lanes(threads=8)
    answer = threading.Event()  # a receiver that takes its time
    slow_calls: list[int] = []
    fast_done = threading.Event()

    def slow() -> int:
        slow_calls.append(1)
        answer.wait(10)
        return 1 if len(slow_calls) <= 4 else 0  # four batches of work, then none

    try:
        for _ in range(10):
            lanes.poke("slow", 2, slow)
        wait_until(lambda: len(slow_calls) == 2)
        assert lanes.running("slow") == 2  # the eight other wake-ups hold no thread
        lanes.poke("fast", 2, lambda: fast_done.set() or 0)
        assert fast_done.wait(2)  # another group is not held up by the slow one at its cap
        answer.set()
        # The parked wake-ups were seen: the slow group's runners go on until a batch finds nothing.
        wait_until(lambda: lanes.running("slow") == 0)
        assert len(slow_calls) >= 5
    finally:
        answer.set()
        lanes.stop()


def test_a_wake_up_during_a_batch_makes_the_lane_look_again():
    lanes = jobs.Lanes(threads=2)
    started, carry_on = threading.Event(), threading.Event()
    calls: list[int] = []

    def batch() -> int:  # finds nothing each time; only a wake-up that came meanwhile makes it look again
        calls.append(1)
        if len(calls) == 1:
            started.set()
            carry_on.wait(5)
        return 0

    try:
        lanes.poke("g", 1, batch)
        assert started.wait(2)
        lanes.poke("g", 1, batch)  # at the cap: parked
        carry_on.set()
        wait_until(lambda: lanes.running("g") == 0)
        assert len(calls) == 2
    finally:
        lanes.stop()


def test_a_batch_that_found_work_spreads_the_group_over_its_cap():
    lanes = jobs.Lanes(threads=4)
    release = threading.Event()
    calls: list[int] = []
    lock = threading.Lock()

    def batch() -> int:  # three batches of work at once, then batches that find nothing (held until released)
        with lock:
            calls.append(1)
            if len(calls) <= 3:
                return 1
        release.wait(5)
        return 0

    try:
        lanes.poke("g", 3, batch)  # one wake-up for many rows
        wait_until(lambda: lanes.running("g") == 3)  # three runners from that one wake-up
        release.set()
        wait_until(lambda: lanes.running("g") == 0)
    finally:
        release.set()
        lanes.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)

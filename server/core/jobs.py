"""Durable jobs (DESIGN.md §5, §7): work whose truth is a database row, and whose queue entry is only a wake-up
call. Two kinds use it: each profile's deliveries (its SendGate row, server/core/send_gate.py) and the attempts
of each webhook delivery (its WebhookDelivery row, server/core/webhook_deliveries.py).

A job row says when its work is next due (`due`), for when a wake-up is queued (`queued`, NULL: none is), and
who is doing it (`lease_owner`, `leased_until`):

- claim: one conditional UPDATE takes a row whose lease is free or has lapsed. A process holds a lease for
  WAGW_JOB_LEASE_S and renews it every third of that while it works (LeaseKeeper), so the leases of a process
  that was killed lapse within seconds and the sweep gives their rows to another.
- enqueue: a wake-up on the broker, delayed to shortly before the due time. It never fails the caller: when the
  broker is down, the row is marked "not queued" and the sweep queues it as soon as the broker answers.
- sweep: every second each worker process queues a wake-up for the rows that are due and free and whose wake-up
  is missing, long overdue (a queue that forgot it: Redis restarted empty) or held by a lapsed lease.
- run (Runner, in each worker process): a wake-up claims the row and runs one step of its work; the step answers
  when it wants to run again. Soon (within HORIZON_S): the process keeps the lease, and its scheduler thread
  starts the next step at that very moment on a small pool, so no thread sleeps through a wait and bulk pacing
  keeps to milliseconds (the broker's delayed messages can be a second late). Later: the lease is released with
  the due time, and a wake-up is queued for it.
- lanes (Lanes, in each worker process): kinds whose work is done in batches per group of rows (a webhook's
  deliveries) run it in the group's lane instead: at most `cap` batches of a group at once, on a pool of their
  own. A wake-up for a group at its cap takes no thread: it is parked (the lane notes that there is more), and
  one of the group's running batches looks again when it finishes. A slow group so holds at most `cap` threads.

Whoever adds work to a row while a lease is held bumps its `version` (kinds that have one): the holder's release
then does not overwrite the new due time, and it looks again instead.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import peewee

from server.core import broker
from server.core.db import Prepared, database, utcnow, write_statement, write_transaction
from server.core.logs import fields

log = logging.getLogger("wagw.jobs")

# This process, as the owner of the leases it takes.
OWNER = f"{socket.gethostname()[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
# A step due within this long waits in the process's scheduler (lease kept); a later one goes back to the broker.
HORIZON_S = 2.0
# Delayed wake-ups are asked for this long before the due time: the broker's delay queue can be about a second late,
# and the scheduler waits out the rest to the millisecond.
EARLY_S = 1.5
# A step that raised is tried again this much later.
FAILED_STEP_RETRY_S = 5.0
# The most rows one sweep queues per kind.
SWEEP_BATCH = 500

# One step of a job: (key, lease, now, the job's row as the step starts, None if gone) → when to run the next step,
# or None when the job is done.
Step = Callable[[str, "Lease", dt.datetime, Any], "dt.datetime | None"]


@dataclass(frozen=True)
class Kind:
    """A table of job rows and the actor its wake-ups go to."""

    name: str
    model: type[peewee.Model]
    key: peewee.Field
    due: peewee.Field
    queued: peewee.Field
    leased_until: peewee.Field
    lease_owner: peewee.Field
    queue: str
    actor: str
    # Rows that can have work at all (None: every row).
    active: Callable[[], peewee.Expression] | None = None
    # Bumped by whoever adds work (None: only the lease holder changes `due`).
    version: peewee.Field | None = None
    # Rows of one group are attempted together (a webhook's deliveries: a wake-up for one wakes its lane, which
    # takes every due row of the webhook), so the sweep queues one wake-up per group. None: one per row.
    group: peewee.Field | None = None

    def where_active(self) -> peewee.Expression:
        return self.active() if self.active is not None else peewee.SQL("1 = 1")


class LeaseLost(Exception):
    """The lease lapsed and another process took the row: this one must stop writing to it."""


@dataclass(eq=False)
class Lease:
    kind: Kind
    key: str
    seconds: float


@dataclass(frozen=True)
class Snapshot:
    """A job row as a step starts: its version, for when a wake-up is queued, and the whole row, which the step
    reads too (a profile's send gate: one round trip a step less than reading it again)."""

    version: int | None
    queued: dt.datetime | None
    row: Any = None


class _Statements:
    """The statements every step of a kind runs (claim, verify, snapshot, release), their SQL built once
    (server/core/db.py): Peewee building them anew was a tenth of a worker's CPU at a hundred messages a second."""

    def __init__(self, kind: Kind):
        model, key, owner = kind.model, kind.key, kind.lease_owner
        self.claim = Prepared(lambda leased_until, lease_owner, row, now: model.update(
            {kind.leased_until: leased_until, owner: lease_owner}).where(
            (key == row) & kind.where_active() & free(kind, now)))
        self.held = Prepared(lambda row, lease_owner: model.select(key).where(
            (key == row) & (owner == lease_owner)).limit(1))
        self.snapshot = Prepared(lambda row: model.select().where(key == row))
        released = {kind.leased_until: None, owner: None}
        self.release = Prepared(lambda due, queued, row, lease_owner: model.update(
            {**released, kind.due: due, kind.queued: queued}).where((key == row) & (owner == lease_owner)))
        # Every worker process sweeps every kind every second, busy or idle.
        group = kind.group if kind.group is not None else key
        self.sweepable = Prepared(lambda now, overdue: model.select(key, group).where(
            kind.where_active() & (kind.due <= now) & (
                (owner.is_null(False) & (kind.leased_until < now))  # taken by a process whose lease lapsed
                | (owner.is_null() & (kind.queued.is_null() | (kind.queued < overdue))))  # its wake-up missing
        ).order_by(kind.due).limit(SWEEP_BATCH))
        version = kind.version
        self.release_seen = None if version is None else Prepared(
            lambda due, queued, row, lease_owner, seen: model.update(
                {**released, kind.due: due, kind.queued: queued}).where(
                (key == row) & (owner == lease_owner) & (version == seen)))


_statements: dict[str, _Statements] = {}


def _of(kind: Kind) -> _Statements:
    statements = _statements.get(kind.name)
    if statements is None:
        statements = _statements[kind.name] = _Statements(kind)
    return statements


def claim(kind: Kind, key: str, now: dt.datetime, seconds: float) -> Lease | None:
    """Take the row's lease, if it is free or has lapsed (one conditional UPDATE); None when another holds it."""
    with write_statement():
        taken = _of(kind).claim.execute(now + dt.timedelta(seconds=seconds), OWNER, key, now).rowcount
    if not taken:
        return None
    lease = Lease(kind, key, seconds)
    keeper().hold(lease)
    return lease


def held_here(kind: Kind, key: Any) -> peewee.Expression:
    """A condition that this process holds the lease of the row `key`: for a write that must happen only under the
    lease to check it in its own statement, where a `verify` before it would need a transaction around both."""
    return peewee.fn.EXISTS(kind.model.select(kind.key).where((kind.key == key) & (kind.lease_owner == OWNER)))


def _still_held(lease: Lease) -> bool:
    return _of(lease.kind).held.execute(lease.key, OWNER).fetchone() is not None


def verify(lease: Lease) -> None:
    """Raise LeaseLost unless this process still holds the lease (call inside the transaction it guards)."""
    if not _still_held(lease):
        keeper().drop(lease)
        raise LeaseLost(f"{lease.kind.name} {lease.key}")


def snapshot(lease: Lease) -> Snapshot:
    kind = lease.kind
    row = _of(kind).snapshot.first(lease.key)
    if row is None:
        return Snapshot(None, None)
    version = getattr(row, kind.version.name) if kind.version is not None else None
    return Snapshot(version, getattr(row, kind.queued.name), row)


def release(lease: Lease, seen: Snapshot, next_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Give the row back, due at `next_at` (None: nothing left to do), and queue its wake-up unless one is already
    on its way for then. False when work was added since `seen` (the row's version moved): the lease is kept, and
    the caller runs another step now."""
    kind = lease.kind
    wake_at = wake_time(next_at, now) if next_at is not None else None
    pending = seen.queued is not None and wake_at is not None and now < seen.queued <= wake_at
    queued = seen.queued if pending else wake_at
    statements = _of(kind)
    with database.connection_context():
        with write_statement():
            if statements.release_seen is not None and seen.version is not None:
                released = statements.release_seen.execute(next_at, queued, lease.key, OWNER, seen.version).rowcount
            else:
                released = statements.release.execute(next_at, queued, lease.key, OWNER).rowcount
        if not released:  # work added since `seen`, or the lease lost
            still_ours = _still_held(lease)
    if not released and still_ours:
        return False
    keeper().drop(lease)
    if released and next_at is not None and not pending:
        enqueue(kind, [lease.key], next_at, now)
    return True


def abandon(lease: Lease) -> None:
    """Free the lease without doing the work (the process is stopping): the row stays due, with no wake-up
    queued, so the next sweep of any worker process gives it to another."""
    kind = lease.kind
    keeper().drop(lease)
    with database.connection_context(), write_statement():
        kind.model.update({kind.leased_until: None, kind.lease_owner: None, kind.queued: None}).where(
            (kind.key == lease.key) & (kind.lease_owner == OWNER)).execute()


def wake_time(due: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When a wake-up for work due at `due` is asked to arrive: a little early, so the scheduler can be exact."""
    return max(now, due - dt.timedelta(seconds=EARLY_S))


def enqueue(kind: Kind, keys: Iterable[str], due: dt.datetime, now: dt.datetime) -> bool:
    """Queue wake-ups for work due at `due` (the rows record it: `queued`). Never raises: when the broker is down
    the rows are marked not queued, and the sweep queues them once it answers."""
    keys = list(keys)
    delay_ms = int((wake_time(due, now) - now).total_seconds() * 1000)
    try:
        for key in keys:
            broker.enqueue(kind.queue, kind.actor, (key,), delay_ms or None)
    except Exception as error:  # redis.ConnectionError and friends
        log.warning("queueing failed; the sweep will queue again", extra=fields(kind=kind.name, error=str(error)))
        try:
            with database.connection_context(), write_transaction(savepoint=True):
                for start in range(0, len(keys), SWEEP_BATCH):
                    kind.model.update({kind.queued: None}).where(kind.key.in_(keys[start:start + SWEEP_BATCH])
                                                                 ).execute()
        except peewee.PeeweeException:  # the sweep then finds them overdue instead
            log.exception("marking rows not queued failed")
        return False
    return True


def sweep(kind: Kind, now: dt.datetime, overdue_s: float) -> int:
    """Queue wake-ups for the rows that are due and free, and whose wake-up is missing, long overdue, or was taken
    by a process whose lease then lapsed (one per group, for kinds in groups). Returns how many it queued."""
    overdue = now - dt.timedelta(seconds=overdue_s)
    with database.connection_context():
        rows = _of(kind).sweepable.execute(now, overdue).fetchall()
        if not rows:
            return 0
        keys = [key for key, _ in rows]
        with write_transaction():  # first, so that the other processes' sweeps leave them alone for a while
            kind.model.update({kind.queued: now, kind.lease_owner: None}).where(
                kind.key.in_(keys) & free(kind, now)).execute()
    first_of_each = list({of_group: key for key, of_group in reversed(rows)}.values())  # rows are in due order
    return len(first_of_each) if enqueue(kind, first_of_each, now, now) else 0


def free(kind: Kind, now: dt.datetime) -> peewee.Expression:
    """Rows whose lease is free or has lapsed."""
    return kind.leased_until.is_null() | (kind.leased_until < now)


# Leases


class LeaseKeeper:
    """Renews every lease this process holds, a third of its length before it would lapse, in one UPDATE per
    kind: the leases last only while the process lives."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], Lease] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.kind.name, lease.key] = lease
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, lease: Lease) -> None:
        with self._lock:
            if self._held.get((lease.kind.name, lease.key)) is lease:
                del self._held[lease.kind.name, lease.key]

    def holds(self, kind: Kind, key: str) -> bool:
        with self._lock:
            return (kind.name, key) in self._held

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def renew(self, now: dt.datetime) -> None:
        """Extend every held lease from `now`."""
        with self._lock:
            groups: dict[tuple[str, float], list[Lease]] = {}
            for lease in self._held.values():
                groups.setdefault((lease.kind.name, lease.seconds), []).append(lease)
        for leases in groups.values():
            kind, seconds = leases[0].kind, leases[0].seconds
            keys = [lease.key for lease in leases]
            with write_transaction():
                for start in range(0, len(keys), SWEEP_BATCH):
                    kind.model.update({kind.leased_until: now + dt.timedelta(seconds=seconds)}).where(
                        kind.key.in_(keys[start:start + SWEEP_BATCH]) & (kind.lease_owner == OWNER)).execute()

    def _every_s(self) -> float:
        with self._lock:
            return min((lease.seconds for lease in self._held.values()), default=3.0) / 3

    def _run(self) -> None:
        while True:
            time.sleep(self._every_s())
            with self._lock:
                if not self._held:
                    continue
            try:
                with database.connection_context():
                    self.renew(utcnow())
            except Exception:
                log.exception("renewing leases failed")


_keeper = LeaseKeeper()


def keeper() -> LeaseKeeper:
    """The process's lease keeper (its thread starts with the first lease)."""
    return _keeper


# Running steps


class Scheduler:
    """The steps due soon, in time order: a thread waits for the earliest and starts it on a pool at that
    moment. One entry per job at most; `hurry` moves a job's entry to now."""

    def __init__(self, threads: int, now: Callable[[], dt.datetime] = utcnow):
        self._now = now
        self._heap: list[tuple[dt.datetime, int, tuple[str, str]]] = []
        self._entries: dict[tuple[str, str], tuple[dt.datetime, int, Callable[[], None]]] = {}
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scheduled")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def at(self, when: dt.datetime, job: tuple[str, str], run: Callable[[], None]) -> bool:
        """Run `run` at `when` (replacing the job's entry, if any). False once the scheduler is stopping."""
        with self._changed:
            if self._stopping:
                return False
            order = next(self._order)
            self._entries[job] = (when, order, run)
            heapq.heappush(self._heap, (when, order, job))
            self._changed.notify()
            return True

    def hurry(self, job: tuple[str, str]) -> bool:
        """Run a waiting job's step now (new work came for it). False when the job does not wait here."""
        with self._changed:
            entry = self._entries.get(job)
            if entry is None:
                return False
            self.at(min(entry[0], self._now()), job, entry[2])
            return True

    def due(self, now: dt.datetime) -> tuple[list[Callable[[], None]], dt.datetime | None]:
        """Take the steps due by `now`, earliest first, and answer when the next one is due."""
        ready = []
        with self._changed:
            while self._heap:
                when, order, job = self._heap[0]
                entry = self._entries.get(job)
                if entry is None or entry[1] != order:  # replaced by a later `at`
                    heapq.heappop(self._heap)
                    continue
                if when > now:
                    return ready, when
                heapq.heappop(self._heap)
                del self._entries[job]
                ready.append(entry[2])
        return ready, None

    def waiting(self) -> list[tuple[str, str]]:
        with self._changed:
            return list(self._entries)

    def stop(self) -> list[tuple[str, str]]:
        """Stop starting steps, and wait for the running ones; returns the jobs that were still waiting."""
        with self._changed:
            self._stopping = True
            waiting = list(self._entries)
            self._entries.clear()
            self._heap.clear()
            self._changed.notify()
        self._pool.shutdown(wait=True)
        return waiting

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopping:
                    return
            ready, next_at = self.due(self._now())
            for run in ready:
                self._pool.submit(run)
            with self._changed:
                if self._stopping:
                    return
                if self._heap and self._heap[0][0] != next_at:
                    continue  # something earlier came meanwhile
                timeout = None if next_at is None else max((next_at - self._now()).total_seconds(), 0.0)
                self._changed.wait(timeout)


class Lanes:
    """Batches of work per group (a webhook), at most `cap` of a group at once, on a pool of `threads`. `poke`
    says a group may have work: it starts a batch runner for it if the group is below its cap, else it parks the
    wake-up (a flag) for a runner of the group to see. A runner calls `batch` until it finds no work and no wake-up
    came meanwhile: the batch claims its rows itself, so a wake-up that came while a batch ran is never lost. A
    batch that found work starts another runner of the group (below the cap), since there may be more than one
    runner's worth: one wake-up for many rows so spreads them over the cap at once."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lane")
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}  # group → its batch runners
        self._more: set[str] = set()  # groups woken since one of their runners last looked
        self._stopping = False

    def poke(self, group: str, cap: int, batch: Callable[[], int]) -> None:
        """The group may have work: `batch()` runs one batch of it and answers how much it did (0: none)."""
        with self._lock:
            if self._stopping:
                return
            self._more.add(group)
        self._start(group, cap, batch)

    def running(self, group: str) -> int:
        with self._lock:
            return self._running.get(group, 0)

    def stop(self) -> None:
        """Start no more batches, and wait for the running ones (rows never claimed stay due for the sweep)."""
        with self._lock:
            self._stopping = True
        self._pool.shutdown(wait=True)

    def _start(self, group: str, cap: int, batch: Callable[[], int]) -> None:
        with self._lock:
            if self._stopping or self._running.get(group, 0) >= cap:
                return  # parked: a runner of the group looks again before it ends
            self._running[group] = self._running.get(group, 0) + 1
        self._pool.submit(self._run, group, cap, batch)

    def _run(self, group: str, cap: int, batch: Callable[[], int]) -> None:
        while True:
            with self._lock:
                self._more.discard(group)
                if self._stopping:
                    break
            try:
                did = batch()
            except Exception:  # its leases lapse and the sweep gives the rows to another: no hot loop here
                log.exception("a batch failed", extra=fields(group=group))
                did = 0
            if did:
                self._start(group, cap, batch)
                continue
            with self._lock:
                if group not in self._more or self._stopping:
                    break
        with self._lock:
            self._running[group] -= 1
            if not self._running[group]:
                del self._running[group]


@dataclass
class Runner:
    """Runs job steps in a worker process: a wake-up (from an actor) claims the row and runs the step on its own
    thread; the steps that follow soon wait in the scheduler, lease kept, and run on its pool. Kinds done in
    batches per group run in `lanes` instead, on a pool of `lane_threads`."""

    lease_s: float
    threads: int
    # Lanes' threads mostly wait on receivers: enough for eight webhooks whose receivers hang, at a cap of four
    # each (worker/actors.py), before a ninth has to wait for one.
    lane_threads: int = 32
    scheduler: Scheduler = field(init=False)
    lanes: Lanes = field(init=False)
    _leases: dict[tuple[str, str], Lease] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.threads)
        self.lanes = Lanes(self.lane_threads)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        """Stop; the jobs waiting in the scheduler are given back at once (not left to their leases lapsing)."""
        waiting = self.scheduler.stop()
        self.lanes.stop()
        with self._lock:
            leases = [self._leases.pop(job) for job in waiting if job in self._leases]
        for lease in leases:
            self._abandon(lease)

    def wake(self, kind: Kind, key: str, step: Step) -> None:
        """A wake-up for one job: run its step unless another thread or process holds it."""
        with database.connection_context():
            lease = claim(kind, key, utcnow(), self.lease_s)
        if lease is None:
            self.scheduler.hurry((kind.name, key))  # held here, waiting: the wake-up says there is more to do
            return
        self._run(lease, step)

    def _run(self, lease: Lease, step: Step) -> None:
        job = (lease.kind.name, lease.key)
        with self._lock:
            self._leases.pop(job, None)
        try:
            next_at = run_step(lease, step)
        except Exception:
            log.exception("a job step failed", extra=fields(kind=lease.kind.name, key=lease.key))
            return
        if next_at is None:
            return
        with self._lock:
            self._leases[job] = lease
        if not self.scheduler.at(next_at, job, lambda: self._run(lease, step)):  # stopping
            with self._lock:
                self._leases.pop(job, None)
            self._abandon(lease)

    @staticmethod
    def _abandon(lease: Lease) -> None:
        try:
            abandon(lease)
        except Exception:
            log.exception("giving a job back failed", extra=fields(kind=lease.kind.name, key=lease.key))


def run_step(lease: Lease, step: Step, *, keep: bool = True) -> dt.datetime | None:
    """One step of a claimed job. Returns when the next step is due if the lease is kept for it (`keep` and due
    within HORIZON_S), else None (the job is released, with a wake-up queued for its next step if any)."""
    kind = lease.kind
    try:
        with database.connection_context():
            seen = snapshot(lease)
        try:
            next_at = step(lease.key, lease, utcnow(), seen.row)
        except LeaseLost:
            return None
        except Exception:
            log.exception("a job step failed; trying again later", extra=fields(kind=kind.name, key=lease.key))
            next_at = utcnow() + dt.timedelta(seconds=FAILED_STEP_RETRY_S)
        now = utcnow()
        if keep and next_at is not None and (next_at - now).total_seconds() <= HORIZON_S:
            return next_at
        if release(lease, seen, next_at, now):
            return None
        return now  # work was added meanwhile: look again at once
    except Exception:
        keeper().drop(lease)  # its lease lapses; the sweep gives the row to another
        raise

"""The simulated network's time (DESIGN.md §4): what `now` is, and when timed actions (QR rotation, receipts,
auto-pair) run.

RealClock is wall-clock time with simulated durations scaled (WAGW_SIMULATOR_TIME_SCALE: 0.05 makes the 60 s
QR code last 3 s), running timed actions on one scheduler thread. ManualClock moves only when a test calls
`advance()`, which runs the due actions on the test's thread: the unit tests need no sleeps.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

log = logging.getLogger("wagw.simulator")


class Clock(ABC):
    """The network's time: what `now` is and when timed actions (QR rotation, receipts, auto-pair) run."""

    @abstractmethod
    def now(self) -> dt.datetime:
        """The current time (UTC)."""

    @abstractmethod
    def after(self, seconds: float) -> dt.datetime:
        """The time at which an action scheduled `seconds` of simulated time from now runs."""

    @abstractmethod
    def call_later(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` after `seconds` of simulated time, never on the caller's thread's stack."""

    @abstractmethod
    def sleep(self, seconds: float) -> None:
        """Block the caller for `seconds` of simulated time."""

    def close(self) -> None:  # noqa: B027 - only clocks with a thread have something to release
        """Stop running timed actions."""


class RealClock(Clock):
    """Wall-clock time with simulated durations multiplied by `time_scale`; timed actions run on one daemon
    scheduler thread, so they never block the engine's callers."""

    def __init__(self, time_scale: float = 1.0):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def after(self, seconds: float) -> dt.datetime:
        return self.now() + dt.timedelta(seconds=seconds * self.time_scale)

    def call_later(self, seconds: float, action: Callable[[], None]) -> None:
        with self._wakeup:
            if self._closed:
                return
            due = time.monotonic() + max(seconds, 0.0) * self.time_scale
            heapq.heappush(self._queue, (due, next(self._order), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="simulator-clock", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) * self.time_scale)

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._queue.clear()
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._wakeup.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
                if self._closed:
                    return
                _, _, action = heapq.heappop(self._queue)
            try:
                action()
            except Exception:
                log.exception("a timed action of the simulated network failed")


class ManualClock(Clock):
    """Time that moves only when a test calls `advance()`, which runs the due actions on the test's thread in
    time order. `sleep()` advances the clock, so a blocking fault costs the test no real time."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        self._start = start
        self._elapsed = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._start + dt.timedelta(seconds=self._elapsed)

    def after(self, seconds: float) -> dt.datetime:
        return self.now() + dt.timedelta(seconds=seconds)

    def call_later(self, seconds: float, action: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._queue, (self._elapsed + max(seconds, 0.0), next(self._order), action))

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward, running every action that falls due on the way (including ones they schedule)."""
        with self._lock:
            target = self._elapsed + seconds
        while True:
            with self._lock:
                if not self._queue or self._queue[0][0] > target:
                    self._elapsed = max(self._elapsed, target)
                    return
                due, _, action = heapq.heappop(self._queue)
                self._elapsed = max(self._elapsed, due)
            action()

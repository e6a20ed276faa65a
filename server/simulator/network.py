"""The simulated WhatsApp network behind the `simulator` engine (DESIGN.md §4).

It plays WhatsApp's part, not ours: numbers that are or are not on WhatsApp, logins by rotating QR codes or
pairing codes that a test "phone" scans or types, credentials that survive a restart, server acks followed by
delivery and read receipts, groups with WhatsApp's rules, and faults a test injects. Several profiles on one
network message each other, each through its own SimulatorEngine (a "device" of the network).

Everything is deterministic under a seed: ids, QR strings, pairing and invite codes come from an HMAC of the
seed, never from os.urandom. Time comes from a Clock: RealClock runs timed actions on one scheduler thread,
scaled (0.01 makes the 60 s QR last 0.6 s); ManualClock runs them when a test calls `advance()`.

Rules worth knowing when using it from the API alone:
- every valid phone number is on WhatsApp, except numbers whose last four digits are 0000 and numbers a test
  `unregister()`s;
- every number is online and reads what it receives (delivered after 0.2 s, read 1 s later) unless a test says
  otherwise with `set_online()` / `set_reads()`;
- group settings: `announce` and `locked` are changed by admins only; name and description by any member
  unless the group is locked; adding, removing, promoting, demoting and the invite link are admin-only; the
  creator (SUPERADMIN) can be neither removed nor demoted.

Restarts: by default the network lives and dies with its process. Given a durable state (simstore.py; the
engine host uses WAGW_SIMULATOR_STATE), what WhatsApp's servers would keep outlives it: accepted messages still
arrive and are read, a repeated send of the same gateway message id is still recognised, and events a device
had not handled yet (receipts, incoming messages) are handed to it when it connects again.

Threading: one lock guards all state. Events and credential writes are queued while it is held and handed to
the engines after it is released, in queue order, so a callback may call back into the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import heapq
import hmac
import itertools
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from server.core.engine_specs import SEND_TYPES
from server.core.errors import ApiError
from server.core.phones import is_group, normalize_chat_id, normalize_group_id, normalize_phone, phone_to_chat_id
from server.engine_host.engines.base import (
    BANNED,
    CONNECTED,
    DISCONNECTED,
    GROUP,
    LOGGED_OUT,
    MESSAGE,
    PAIRING,
    QR,
    QR_TIMEOUT,
    RECEIPT,
    Emit,
    EngineError,
    EngineEvent,
    GroupInfo,
    IncomingMessage,
    Media,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    SessionStore,
)
from server.simulator import store as simstore

log = logging.getLogger("wagw.simulator")

ENGINE = "simulator"
DEFAULT_SEED = "wagw"

# Login: the first QR code is valid 60 s, each next one 20 s, six in all (as WhatsApp Web does).
QR_LIFETIMES = (60.0, 20.0, 20.0, 20.0, 20.0, 20.0)
PAIRING_LIFETIME = 180.0
# whatsmeow's pairing-code alphabet: no 0/O, 1/I confusion... and no U.
PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
INVITE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Simulated seconds (scaled by a RealClock).
CONNECT_LATENCY = 0.05
DELIVERED_DELAY = 0.2
READ_DELAY = 1.0
TIMEOUT_AFTER = 1.0
BAN_SECONDS = 3600.0

# WhatsApp's own limits.
MAX_TEXT = 65_536
MAX_CAPTION = 1_024
MAX_SUBJECT = 100
MAX_DESCRIPTION = 2_048
MAX_GROUP_SIZE = 1_024
MEDIA_LIMITS = {"image": 16 << 20, "video": 16 << 20, "document": 100 << 20}
MEDIA_KINDS = {"image": "image/", "video": "video/", "document": ""}

# Bounds on what the network remembers, so long demos and benchmarks don't grow without end.
INBOX_LIMIT = 10_000
MISSED_LIMIT = 1_000

MEMBER, ADMIN, SUPERADMIN = "MEMBER", "ADMIN", "SUPERADMIN"
FAULTS = ("rate_overlimit", "temporary_ban", "logged_out", "disconnect", "timeout", "fail_next", "slow_ack")
# The internal operation a slow_ack fault waits on: taken after a send is accepted, never before a call.
_SEND_ACK = "ack:send"

# Session states.
CLOSED, CONNECTING, QR_SHOWN, PAIRING_SHOWN, ONLINE = "closed", "connecting", "qr", "pairing", "connected"
LIVE = frozenset({CONNECTING, QR_SHOWN, PAIRING_SHOWN, ONLINE})


class SimulationError(Exception):
    """A simulated phone (the test driving the network) did something WhatsApp refuses: a wrong or expired QR
    code, a revoked invite, an unregistered number scanning."""


# Clocks


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


# The network's records


class Device(Protocol):
    """The client end of a session: a SimulatorEngine. The network emits to it and keeps its credentials."""

    profile_id: str
    emit: Emit
    store: SessionStore


@dataclass(frozen=True)
class AutoPair:
    """The simulated phone of a demo profile: it scans the QR code (or types the pairing code) by itself."""

    phone_number: str
    delay: float  # simulated seconds after the code appears


class _NoCredentials:
    profile_id = ""
    database_url = ""

    def load(self) -> dict[str, Any] | None:
        return None

    def save(self, data: dict[str, Any]) -> None:
        pass

    def clear(self) -> None:
        pass


class _Absent:
    """The device of a profile linked before the network started again, until its engine attaches: events for
    it wait in the offline queue."""

    def __init__(self, profile_id: str):
        self.profile_id = profile_id
        self.store: SessionStore = _NoCredentials()

    def emit(self, event: EngineEvent) -> None:
        pass


@dataclass
class _Session:
    """What the network knows about one profile's linked device."""

    device: Device
    state: str = CLOSED
    # Bumped on every change of state: timed actions from an older state see another number and do nothing.
    generation: int = 0
    # The linked phone's chat id; kept while disconnected, since the device stays linked and catches up later.
    jid: str = ""
    qr_code: str = ""
    pairing_code: str = ""
    pairing_jid: str = ""


@dataclass
class _Message:
    """A message on its way: to whom it still has to be delivered, and who has yet to read it."""

    wa_message_id: str
    chat_id: str  # as addressed: a person's chat id or a group id
    sender: str
    sender_profile: str | None  # the profile that gets the receipts; None for a test phone
    type: str
    content: dict[str, Any]
    timestamp: dt.datetime
    undelivered: set[str]
    unread: set[str]
    client_id: str = ""  # the sending profile's own id for the message (the gateway's), which WhatsApp dedupes by

    def as_received(self) -> IncomingMessage:
        # In a one-to-one chat the recipient sees the message in its chat with the sender.
        chat = self.chat_id if is_group(self.chat_id) else self.sender
        return IncomingMessage(self.wa_message_id, chat, self.sender, self.type, deepcopy(self.content),
                               self.timestamp)

    def record(self) -> dict[str, Any]:
        """As the network's durable state keeps it (simstore.py)."""
        return {"wa_message_id": self.wa_message_id, "chat_id": self.chat_id, "sender": self.sender,
                "sender_profile": self.sender_profile, "type": self.type, "content": self.content,
                "timestamp": self.timestamp, "undelivered": sorted(self.undelivered),
                "unread": sorted(self.unread), "client_id": self.client_id}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> _Message:
        return cls(**{**record, "undelivered": set(record["undelivered"]), "unread": set(record["unread"])})


@dataclass
class _Group:
    group_id: str
    name: str
    owner: str
    created_at: dt.datetime
    roles: dict[str, str]  # chat id → MEMBER/ADMIN/SUPERADMIN, in the order they joined
    description: str = ""
    announce: bool = False
    locked: bool = False
    invite_generation: int = 0


@dataclass
class _Fault:
    kind: str
    reason: str
    code: str = "ENGINE_ERROR"
    operation: str | None = None  # None: any call; "send": any send_<type>
    remaining: int | None = None  # calls left; None: until `until`
    until: dt.datetime | None = None
    seconds: float = 0.0  # how long a timeout blocks

    def matches(self, operation: str) -> bool:
        if (self.operation == _SEND_ACK) != (operation == _SEND_ACK):
            return False  # a slow ack is no call's fault, and no call's fault slows an ack
        return (self.operation is None or self.operation == operation
                or (self.operation == "send" and operation.startswith("send_")))


def _refuse(reason: str, code: str = "ENGINE_ERROR", **metadata: str) -> EngineError:
    return EngineError(ENGINE, reason, code, **metadata)


def _user_jid(raw: str) -> str | None:
    """A person's chat id, or None for something that is no phone number."""
    try:
        return phone_to_chat_id(normalize_phone(raw, "phone"))
    except ApiError:
        return None


def _e164(jid: str) -> str:
    return "+" + jid.partition("@")[0]


# The network


class SimulatedNetwork:
    """One simulated WhatsApp. Methods taking a profile id are what a linked device asks of WhatsApp (the
    SimulatorEngine calls them); the others are what phones do and what tests set up and observe."""

    def __init__(self, seed: str = DEFAULT_SEED, clock: Clock | None = None, *,
                 delivered_delay: float = DELIVERED_DELAY, read_delay: float = READ_DELAY,
                 state: simstore.NetworkState | None = None):
        self.seed = seed
        self.clock = clock or RealClock()
        self.delivered_delay = delivered_delay
        self.read_delay = read_delay
        self._secret = hashlib.sha256(f"wagw-simulator\0{seed}".encode()).digest()
        self._counters: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._depth = 0  # nesting of _atomic() on the thread holding the lock
        self._outbox: deque[Callable[[], None]] = deque()
        self._flushing = threading.RLock()
        self._sessions: dict[str, _Session] = {}
        self._revoked: set[str] = set()
        self._bans: dict[str, dt.datetime] = {}
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        # Events for a device that is not online, with their sequence number in the durable state (or None).
        self._missed: dict[str, deque[tuple[EngineEvent, int | None]]] = defaultdict(
            lambda: deque(maxlen=MISSED_LIMIT))
        self._unregistered: set[str] = set()
        self._refuse_group_add: set[str] = set()
        self._offline: set[str] = set()
        self._read_delays: dict[str, float | None] = {}  # None: never reads
        self._push_names: dict[str, str] = {}
        self._pending: dict[str, list[_Message]] = defaultdict(list)
        self._inboxes: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=INBOX_LIMIT))
        # (profile id, the gateway's message id) → WhatsApp message id: what WhatsApp remembers to dedupe sends.
        self._sent_ids: dict[tuple[str, str], str] = {}
        self._groups: dict[str, _Group] = {}
        # What WhatsApp's servers keep across a restart of this process (simstore.py); by default nothing.
        self._state = state or simstore.NetworkState()
        self._restore(self._state.load())

    def close(self) -> None:
        """Stop the clock's scheduler thread (for a network that is being replaced) and close the state."""
        self.clock.close()
        with self._lock:
            self._state.close()

    # Numbers

    def is_registered(self, phone: str) -> bool:
        """Whether a number is on WhatsApp: any valid number but those ending in 0000 or unregistered."""
        jid = _user_jid(phone)
        with self._atomic():
            return jid is not None and self._registered(jid)

    def unregister(self, phone: str) -> None:
        with self._atomic():
            self._unregistered.add(self._phone(phone))

    def set_privacy(self, phone: str, *, refuse_group_add: bool) -> None:
        """With refuse_group_add, adding this number to a group answers PRIVACY_REFUSED."""
        jid = self._phone(phone)
        with self._atomic():
            if refuse_group_add:
                self._refuse_group_add.add(jid)
            else:
                self._refuse_group_add.discard(jid)

    def set_online(self, phone: str, online: bool) -> None:
        """An offline number gets nothing (unless one of its linked profiles is connected); coming online, it
        receives what waited for it."""
        jid = self._phone(phone)
        with self._atomic():
            if online:
                self._offline.discard(jid)
                self._deliver_pending(jid)
            else:
                self._offline.add(jid)

    def set_reads(self, phone: str, reads: bool = True, *, delay: float | None = None) -> None:
        """Whether (and how many simulated seconds after delivery) this number reads what it receives."""
        jid = self._phone(phone)
        with self._atomic():
            self._read_delays[jid] = (self.read_delay if delay is None else delay) if reads else None

    def set_push_name(self, phone: str, name: str) -> None:
        jid = self._phone(phone)
        with self._atomic():
            self._push_names[jid] = name

    # What phones do

    def scan(self, qr_code: str, phone: str) -> None:
        """The phone scans the QR code shown by a profile: that profile is linked to this number."""
        jid = self._phone(phone)
        with self._atomic():
            self._require_registered(jid)
            for profile_id, session in self._sessions.items():
                if session.state == QR_SHOWN and hmac.compare_digest(session.qr_code, qr_code):
                    self._link(profile_id, jid)
                    return
        raise SimulationError("the QR code is not valid (wrong, already used or expired)")

    def enter_pairing_code(self, phone: str, code: str) -> None:
        """The phone types the pairing code a profile asked for with this number."""
        jid = self._phone(phone)
        typed = code.strip().upper().replace("-", "")
        with self._atomic():
            self._require_registered(jid)
            for profile_id, session in self._sessions.items():
                if session.state == PAIRING_SHOWN and session.pairing_code.replace("-", "") == typed:
                    if session.pairing_jid != jid:
                        raise SimulationError("this pairing code was requested for another phone number")
                    self._link(profile_id, jid)
                    return
        raise SimulationError("the pairing code is not valid (wrong, already used or expired)")

    def send_from(self, phone: str, to: str, type: str, content: dict[str, Any], media: Media | None = None
                  ) -> str:
        """A phone sends a message (of any type) to a number or a group it is in; it arrives at once where the
        recipients are reachable. Returns the message id. WhatsApp's refusals raise EngineError, as for a
        profile's send."""
        sender = self._phone(phone)
        chat_id = normalize_chat_id(to, "to")
        with self._atomic():
            self._require_registered(sender)
            message = self._new_message(sender, None, chat_id, type, content, media)
            self._keep(message)
            self._arrive(message)
            return message.wa_message_id

    def join_by_invite(self, phone: str, code: str) -> str:
        """The phone opens an invite link and joins the group; returns its id."""
        jid = self._phone(phone)
        with self._atomic():
            self._require_registered(jid)
            group = next((g for g in self._groups.values() if self._invite_code(g) == code), None)
            if group is None:
                raise SimulationError("the invite link is not valid (revoked or unknown)")
            if jid not in group.roles:
                if len(group.roles) >= MAX_GROUP_SIZE:
                    raise SimulationError("the group is full")
                group.roles[jid] = MEMBER
                self._group_event(group, "join", [jid], jid)
            return group.group_id

    # What tests observe

    def inbox(self, phone_or_chat_id: str) -> list[dict[str, Any]]:
        """Every message the network delivered to a number (as IncomingMessage dicts, chat_id as the
        recipient sees it), or, for a group id, every message sent to the group. Oldest first."""
        key = (normalize_group_id(phone_or_chat_id, "chat_id") if is_group(phone_or_chat_id)
               else self._phone(phone_or_chat_id))
        with self._atomic():
            return [deepcopy(entry) for entry in self._inboxes.get(key, ())]

    # Faults

    def inject(self, profile_id: str, fault: str, *, n: int | None = None, seconds: float | None = None,
               operation: str | None = None, reason: str | None = None) -> None:
        """Make WhatsApp misbehave for one profile (whose engine must exist):
        - rate_overlimit: the next `n` sends (default 1), or every send for `seconds`, raise RATE_LIMITED;
        - temporary_ban: BANNED {reason, until}; the session closes and connect() is refused for `seconds`
          (default 3600);
        - logged_out: LOGGED_OUT; the credentials are revoked and cleared;
        - disconnect: DISCONNECTED with reconnect=True; connect() again logs back in with the credentials;
        - timeout: the next `n` calls (default 1; only `operation` if given) block `seconds` (default 1), then
          raise "timeout";
        - fail_next: the next `n` calls (default 1; only `operation` if given) raise `reason` ("injected failure");
        - slow_ack: the next `n` sends (default 1) are accepted (they go on to their recipients), but the answer
          takes `seconds` (default 1) to come back: a crash in that window leaves the sender not knowing.
        Operations: connect, lookup, a group operation name, send_<type>, or "send" for any send."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}' (one of {', '.join(FAULTS)})")
        if fault == "slow_ack":
            with self._atomic():
                self._session(profile_id)
                self._faults[profile_id].append(_Fault(fault, "slow ack", operation=_SEND_ACK, remaining=n or 1,
                                                       seconds=TIMEOUT_AFTER if seconds is None else seconds))
            return
        if fault == "logged_out":
            self._unlink(profile_id, reason or "logged out from the phone")
            return
        with self._atomic():
            session = self._session(profile_id)
            if fault == "rate_overlimit":
                self._faults[profile_id].append(_Fault(
                    fault, reason or "rate-overlimit", "RATE_LIMITED", "send",
                    remaining=n if n is not None or seconds is not None else 1,
                    until=self.clock.after(seconds) if seconds is not None else None))
            elif fault in ("timeout", "fail_next"):
                self._faults[profile_id].append(_Fault(
                    fault, reason or ("timeout" if fault == "timeout" else "injected failure"),
                    operation=operation, remaining=n or 1,
                    seconds=TIMEOUT_AFTER if seconds is None else seconds))
            elif fault == "temporary_ban":
                until = self.clock.after(BAN_SECONDS if seconds is None else seconds)
                self._bans[profile_id] = until
                self._set_state(session, CLOSED)
                self._emit(session, EngineEvent(BANNED, {"reason": reason or "temporarily banned", "until": until}))
            else:  # disconnect
                if session.state not in LIVE:
                    raise SimulationError(f"profile '{profile_id}' has no open session to drop")
                self._set_state(session, CLOSED)
                self._emit(session, EngineEvent(DISCONNECTED, {"reason": reason or "connection lost",
                                                               "reconnect": True}))

    # The device side: sessions

    def attach(self, device: Device) -> None:
        """A new engine for a profile takes over its session (the one before it is gone)."""
        with self._atomic():
            session = self._sessions.get(device.profile_id)
            if session is None:
                self._sessions[device.profile_id] = _Session(device)
            else:
                self._set_state(session, CLOSED)
                session.device = device

    def connect(self, profile_id: str, phone_number: str = "", auto_pair: AutoPair | None = None) -> str:
        """Log in with the device's stored credentials, or start a QR login, or (given a phone number) a
        pairing-code login. Returns the pairing code or ""."""
        with self._atomic():
            until = self._bans.get(profile_id)
            if until is not None and until > self.clock.now():
                raise _refuse(f"temporarily banned until {until.isoformat()}", until=until.isoformat())
        self._before_call(profile_id, "connect", connected=False)
        session = self._session(profile_id)
        credentials = session.device.store.load()
        with self._atomic():
            if session.state in (CONNECTING, ONLINE) or (session.state == QR_SHOWN and not phone_number):
                return ""
            if session.state == PAIRING_SHOWN and not phone_number:
                return session.pairing_code
            if credentials:
                generation = self._set_state(session, CONNECTING)
                self._later(CONNECT_LATENCY, self._resume, profile_id, generation, credentials)
                return ""
            self._set_jid(profile_id, "")  # no credentials: whatever was linked before is not this device any more
            if not phone_number:
                self._start_qr(profile_id, auto_pair)
                return ""
            jid = _user_jid(phone_number)
            if jid is None:
                raise _refuse(f"'{phone_number}' is not a valid phone number")
            if session.state == PAIRING_SHOWN and session.pairing_jid == jid:
                return session.pairing_code
            self._require_registered(jid, _refuse)
            return self._start_pairing(profile_id, jid, auto_pair)

    def disconnect(self, profile_id: str) -> None:
        """Close the session (or stop a login), keeping the link."""
        with self._atomic():
            session = self._session(profile_id)
            if session.state in LIVE:
                self._set_state(session, CLOSED)
                self._emit(session, EngineEvent(DISCONNECTED, {"reason": "closed", "reconnect": False}))

    def logout(self, profile_id: str) -> None:
        """Unlink the device: its credentials are revoked and cleared."""
        self._unlink(profile_id, "logged out")

    def release(self, profile_id: str) -> None:
        """Close the session silently (the engine is being dropped); the link stays, as on WhatsApp."""
        with self._atomic():
            self._set_state(self._session(profile_id), CLOSED)

    # The device side: messages

    def send(self, profile_id: str, message: OutgoingMessage) -> str:
        self._before_call(profile_id, f"send_{message.type}")
        chat_id = normalize_chat_id(message.chat_id, "chatId")
        with self._atomic():
            session = self._connected(profile_id)
            if message.id and (profile_id, message.id) in self._sent_ids:
                # WhatsApp dedupes by the sender's message id: a repeated send is acknowledged, not delivered.
                return self._sent_ids[profile_id, message.id]
            sent = self._new_message(session.jid, profile_id, chat_id, message.type, message.content,
                                     message.media, client_id=message.id)
            if message.id:
                self._sent_ids[profile_id, message.id] = sent.wa_message_id
            self._keep(sent)
            self._receipt(sent, "server")
            if sent.undelivered:
                self._later(self.delivered_delay, self._arrive, sent)
            slow = self._take_fault(profile_id, _SEND_ACK)
        if slow is not None:  # accepted and durable: only the answer is late
            self.clock.sleep(slow.seconds)
        return sent.wa_message_id

    def lookup(self, profile_id: str, phone_numbers: list[str]) -> dict[str, bool]:
        self._before_call(profile_id, "lookup")
        with self._atomic():
            self._connected(profile_id)
            return {phone: self.is_registered(phone) for phone in phone_numbers}

    # The device side: groups

    def list_groups(self, profile_id: str) -> list[GroupInfo]:
        self._before_call(profile_id, "list_groups")
        with self._atomic():
            me = self._connected(profile_id).jid
            return [self._info(group) for group in self._groups.values() if me in group.roles]

    def get_group(self, profile_id: str, group_id: str) -> GroupInfo:
        self._before_call(profile_id, "get_group")
        with self._atomic():
            return self._info(self._member_group(group_id, self._connected(profile_id).jid))

    def create_group(self, profile_id: str, name: str, participants: list[str]
                     ) -> tuple[GroupInfo, list[ParticipantResult]]:
        self._before_call(profile_id, "create_group")
        with self._atomic():
            me = self._connected(profile_id).jid
            subject = self._subject(name)
            number = self._next("group")
            digits = int.from_bytes(self._digest("group", str(number))[:8]) % 10**12
            group = _Group(f"120363{digits:012d}@g.us", subject, me, self.clock.now(), {me: SUPERADMIN})
            results = [result for result, _ in (self._add(group, raw) for raw in participants)]
            self._groups[group.group_id] = group
            self._group_event(group, "create", list(group.roles), me, name=subject)
            return self._info(group), results

    def update_group(self, profile_id: str, group_id: str, *, name: str | None = None,
                     description: str | None = None, announce: bool | None = None, locked: bool | None = None
                     ) -> GroupInfo:
        self._before_call(profile_id, "update_group")
        with self._atomic():
            me = self._connected(profile_id).jid
            group = self._member_group(group_id, me)
            # Check everything before changing anything: WhatsApp applies none of a refused request.
            if announce is not None or locked is not None:
                self._require_admin(group, me, "change the group's settings")
            if (name is not None or description is not None) and group.locked:
                self._require_admin(group, me, "edit the group's info while it is locked")
            subject = None if name is None else self._subject(name)
            if description is not None and len(description) > MAX_DESCRIPTION:
                raise _refuse(f"the description is longer than {MAX_DESCRIPTION} characters")
            if subject is not None and subject != group.name:
                group.name = subject
                self._group_event(group, "subject", [], me, name=subject)
            if description is not None and description != group.description:
                group.description = description
                self._group_event(group, "description", [], me, description=description)
            if announce is not None and announce != group.announce:
                group.announce = announce
                self._group_event(group, "settings", [], me, announce=announce)
            if locked is not None and locked != group.locked:
                group.locked = locked
                self._group_event(group, "settings", [], me, locked=locked)
            return self._info(group)

    def update_participants(self, profile_id: str, group_id: str, action: str, participants: list[str]
                            ) -> list[ParticipantResult]:
        if action not in ("add", "remove", "promote", "demote"):
            raise _refuse(f"unknown participants action '{action}'")
        self._before_call(profile_id, f"{action}_participants")
        with self._atomic():
            me = self._connected(profile_id).jid
            group = self._member_group(group_id, me)
            self._require_admin(group, me, f"{action} participants")
            change = self._add if action == "add" else partial(self._change_role, action=action, actor=me)
            outcomes = [change(group, raw) for raw in participants]
            results = [result for result, _ in outcomes]
            changed = [result.chat_id for result, did_change in outcomes if did_change]
            if changed:
                event = {"add": "join", "remove": "leave"}.get(action, action)
                self._group_event(group, event, changed, me, also=changed if action == "remove" else ())
            return results

    def leave_group(self, profile_id: str, group_id: str) -> None:
        self._before_call(profile_id, "leave_group")
        with self._atomic():
            me = self._connected(profile_id).jid
            group = self._member_group(group_id, me)
            del group.roles[me]
            self._group_event(group, "leave", [me], me, also=[me])
            if group.roles and not any(role != MEMBER for role in group.roles.values()):
                # WhatsApp never leaves a group without an admin: the longest-standing member takes over.
                heir = next(iter(group.roles))
                group.roles[heir] = ADMIN
                self._group_event(group, "promote", [heir], me)

    def invite_link(self, profile_id: str, group_id: str, *, revoke: bool = False) -> str:
        self._before_call(profile_id, "revoke_invite_link" if revoke else "invite_link")
        with self._atomic():
            me = self._connected(profile_id).jid
            group = self._member_group(group_id, me)
            self._require_admin(group, me, "revoke the invite link" if revoke else "get the invite link")
            if revoke:
                group.invite_generation += 1
                self._group_event(group, "settings", [], me, invite_link_revoked=True)
            return self._invite_code(group)

    # Internals. Methods below expect the lock to be held unless they say otherwise.

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Hold the lock; on leaving the outermost block, even by an exception, hand the queued events out
        (without the lock)."""
        self._lock.acquire()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            outermost = self._depth == 0
            if outermost:
                self._state.commit()  # durable before any device hears of it
            self._lock.release()
            if outermost:
                self._flush()

    def _flush(self) -> None:
        """Run queued callbacks in order. Only one thread runs them at a time; another that finds it busy
        leaves its own to it rather than wait, so no caller waits on someone else's event handler."""
        while self._flushing.acquire(blocking=False):
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        callback = self._outbox.popleft()
                    try:
                        callback()
                    except Exception:
                        log.exception("a simulator event callback failed")
            finally:
                self._flushing.release()
            with self._lock:
                # Something queued between our last look and the release would otherwise wait for the next call.
                if not self._outbox:
                    return

    def _later(self, seconds: float, action: Callable[..., None], *args: Any) -> None:
        """Run `action(*args)` under the lock after `seconds` of simulated time."""
        def run() -> None:
            with self._atomic():
                action(*args)
        self.clock.call_later(seconds, run)

    def _emit(self, session: _Session, event: EngineEvent, acknowledge: Callable[[], None] | None = None) -> None:
        device = session.device

        def hand_over() -> None:
            device.emit(event)
            if acknowledge is not None:  # the device handled it (an exception above leaves it queued)
                acknowledge()
        self._outbox.append(hand_over)

    def _notify(self, profile_id: str, event: EngineEvent) -> None:
        """Give a linked profile an event now, or when it next connects (as WhatsApp's offline queue does).
        It stays in the durable offline queue until the device has handled it."""
        session = self._sessions[profile_id]
        seq = self._state.queue_event(profile_id, event)
        if session.state == ONLINE:
            self._emit(session, event, self._acknowledge(seq))
        else:
            self._missed[profile_id].append((event, seq))

    def _acknowledge(self, seq: int | None) -> Callable[[], None] | None:
        return None if seq is None else partial(self._state.ack_event, seq)

    def _drop_missed(self, profile_id: str) -> None:
        self._missed.pop(profile_id, None)
        self._state.drop_events(profile_id)

    def _set_jid(self, profile_id: str, jid: str) -> None:
        session = self._sessions[profile_id]
        if session.jid != jid:
            session.jid = jid
            self._state.set_link(profile_id, jid)

    def _to_inbox(self, chat: str, entry: dict[str, Any]) -> None:
        self._inboxes[chat].append(entry)
        self._state.append_inbox(chat, entry)

    def _keep(self, message: _Message) -> None:
        """Record a message (new, or changed: delivered or read by someone) in the durable state."""
        if self._state.durable:
            self._state.save_message(message.wa_message_id, message.record())

    def _restore(self, saved: simstore.Snapshot) -> None:
        """Start from what the durable state kept (nothing, for a network in memory only): dedupe memory,
        inboxes, offline queues, links; deliveries and reads still to come are scheduled again."""
        with self._atomic():
            self._counters.update(saved.counters)
            self._revoked |= saved.revoked
            for profile_id, jid in saved.links.items():
                self._sessions[profile_id] = _Session(_Absent(profile_id), jid=jid)
            for chat, entry in saved.inbox:
                self._inboxes[chat].append(entry)
            for seq, profile_id, event in saved.queued:
                self._missed[profile_id].append((event, seq))
            for record in saved.messages:
                message = _Message.from_record(record)
                if message.sender_profile and message.client_id:
                    self._sent_ids[message.sender_profile, message.client_id] = message.wa_message_id
                if message.undelivered:
                    self._later(self.delivered_delay, self._arrive, message)
                for jid in sorted(message.unread - message.undelivered):
                    read_delay = self._read_delays.get(jid, self.read_delay)
                    if read_delay is not None:
                        self._later(read_delay, self._read, message, jid)

    def _linked(self, jid: str) -> list[str]:
        return [profile_id for profile_id, session in self._sessions.items() if session.jid == jid]

    def _reachable(self, jid: str) -> bool:
        # Multi-device: a message is delivered when the phone or any of its linked devices is online.
        return jid not in self._offline or any(self._sessions[p].state == ONLINE for p in self._linked(jid))

    def _digest(self, *parts: str) -> bytes:
        return hmac.new(self._secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()

    def _next(self, scope: str) -> int:
        self._counters[scope] += 1
        self._state.set_counter(scope, self._counters[scope])
        return self._counters[scope]

    def _session(self, profile_id: str) -> _Session:
        session = self._sessions.get(profile_id)
        if session is None:
            raise SimulationError(f"no simulator engine exists for profile '{profile_id}'")
        return session

    def _set_state(self, session: _Session, state: str) -> int:
        session.state = state
        session.generation += 1
        return session.generation

    def _connected(self, profile_id: str) -> _Session:
        session = self._sessions.get(profile_id)
        if session is None or session.state != ONLINE:
            raise _refuse("the profile is not connected", "PROFILE_NOT_CONNECTED")
        return session

    def _before_call(self, profile_id: str, operation: str, *, connected: bool = True) -> None:
        """Apply an injected fault to this call, if one is armed. Takes the lock itself: a timeout blocks
        outside it."""
        with self._atomic():
            if connected:
                self._connected(profile_id)
            fault = self._take_fault(profile_id, operation)
        if fault is None:
            return
        if fault.kind == "timeout":
            self.clock.sleep(fault.seconds)
        raise _refuse(fault.reason, fault.code)

    def _take_fault(self, profile_id: str, operation: str) -> _Fault | None:
        faults = self._faults[profile_id]
        now = self.clock.now()
        faults[:] = [f for f in faults if f.until is None or f.until > now]
        for fault in faults:
            if fault.matches(operation):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        faults.remove(fault)
                return fault
        return None

    def _phone(self, raw: str) -> str:
        jid = _user_jid(raw)
        if jid is None:
            raise SimulationError(f"'{raw}' is not a valid phone number")
        return jid

    def _registered(self, jid: str) -> bool:
        return jid not in self._unregistered and not jid.partition("@")[0].endswith("0000")

    def _require_registered(self, jid: str, error: Callable[[str], Exception] = SimulationError) -> None:
        if not self._registered(jid):
            raise error(f"{_e164(jid)} is not on WhatsApp")

    def _push_name(self, jid: str) -> str:
        return self._push_names.get(jid, f"Simulated {jid.partition('@')[0][-4:]}")

    # Logins

    def _start_qr(self, profile_id: str, auto_pair: AutoPair | None) -> None:
        session = self._sessions[profile_id]
        generation = self._set_state(session, QR_SHOWN)
        login = str(self._next(f"login:{profile_id}"))
        # The keys stay for the whole login; the reference changes with each code, as in WhatsApp Web.
        keys = [self._digest(label, profile_id, login) for label in ("qr-noise", "qr-identity", "qr-adv")]
        codes = [
            "2@" + ",".join(base64.b64encode(part).decode()
                            for part in (self._digest("qr-ref", profile_id, login, str(i))[:18], *keys))
            for i in range(len(QR_LIFETIMES))
        ]
        self._show_qr(profile_id, generation, codes, 0)
        if auto_pair is not None:
            self._later(auto_pair.delay, self._auto_scan, profile_id, generation, auto_pair.phone_number)

    def _show_qr(self, profile_id: str, generation: int, codes: list[str], index: int) -> None:
        session = self._sessions[profile_id]
        if session.generation != generation:
            return
        if index == len(codes):
            self._set_state(session, CLOSED)
            self._emit(session, EngineEvent(QR_TIMEOUT, {}))
            return
        lifetime = QR_LIFETIMES[index]
        session.qr_code = codes[index]
        self._emit(session, EngineEvent(QR, {"code": codes[index], "expires_at": self.clock.after(lifetime)}))
        self._later(lifetime, self._show_qr, profile_id, generation, codes, index + 1)

    def _auto_scan(self, profile_id: str, generation: int, phone: str) -> None:
        session = self._sessions[profile_id]
        jid = _user_jid(phone)
        if session.generation != generation or jid is None:
            return
        if self._registered(jid):
            self._link(profile_id, jid)
        else:
            log.warning("auto-pair phone %s is not on WhatsApp", phone)

    def _start_pairing(self, profile_id: str, jid: str, auto_pair: AutoPair | None) -> str:
        session = self._sessions[profile_id]
        generation = self._set_state(session, PAIRING_SHOWN)
        digest = self._digest("pairing", profile_id, str(self._next(f"login:{profile_id}")))
        chars = "".join(PAIRING_ALPHABET[byte % len(PAIRING_ALPHABET)] for byte in digest[:8])
        session.pairing_code, session.pairing_jid = f"{chars[:4]}-{chars[4:]}", jid
        self._emit(session, EngineEvent(PAIRING, {"code": session.pairing_code}))
        self._later(PAIRING_LIFETIME, self._expire_pairing, profile_id, generation)
        if auto_pair is not None and _user_jid(auto_pair.phone_number) == jid:
            self._later(auto_pair.delay, self._auto_scan, profile_id, generation, auto_pair.phone_number)
        return session.pairing_code

    def _expire_pairing(self, profile_id: str, generation: int) -> None:
        session = self._sessions[profile_id]
        if session.generation == generation:
            self._set_state(session, CLOSED)
            self._emit(session, EngineEvent(QR_TIMEOUT, {}))

    def _credential_token(self, profile_id: str, jid: str, device_id: int) -> str:
        # Derived from the seed, not remembered: a network started later (same seed) accepts it as well.
        return self._digest("credentials", profile_id, jid, str(device_id)).hex()

    def _link(self, profile_id: str, jid: str) -> None:
        """A phone approved the login: save the device's credentials and connect it."""
        session = self._sessions[profile_id]
        device_id = self._next(f"device:{profile_id}")
        credentials = {"phone_number": _e164(jid), "push_name": self._push_name(jid), "device_id": device_id,
                       "token": self._credential_token(profile_id, jid, device_id)}
        store = session.device.store
        self._outbox.append(lambda: store.save(credentials))
        self._go_online(profile_id, jid)

    def _resume(self, profile_id: str, generation: int, credentials: dict[str, Any]) -> None:
        """The end of a login with stored credentials: accepted unless revoked or forged."""
        session = self._sessions[profile_id]
        if session.generation != generation:
            return
        jid = _user_jid(str(credentials.get("phone_number", "")))
        token = str(credentials.get("token", ""))
        device_id = credentials.get("device_id")
        if (jid is not None and isinstance(device_id, int) and token not in self._revoked
                and hmac.compare_digest(token, self._credential_token(profile_id, jid, device_id))):
            self._go_online(profile_id, jid)
        else:
            self._forget(profile_id, "the device was unlinked from the phone")

    def _go_online(self, profile_id: str, jid: str) -> None:
        session = self._sessions[profile_id]
        if session.jid != jid:
            self._drop_missed(profile_id)  # queued for another number this device no longer is
        self._set_state(session, ONLINE)
        self._set_jid(profile_id, jid)
        self._emit(session, EngineEvent(CONNECTED, {"phone_number": _e164(jid), "push_name": self._push_name(jid)}))
        for event, seq in self._missed.pop(profile_id, ()):
            self._emit(session, event, self._acknowledge(seq))
        self._deliver_pending(jid)

    def _unlink(self, profile_id: str, reason: str) -> None:
        """Revoke and forget the device's credentials. Takes the lock itself: the store is read outside it."""
        credentials = self._session(profile_id).device.store.load()
        with self._atomic():
            if credentials:
                token = str(credentials.get("token", ""))
                self._revoked.add(token)
                self._state.revoke(token)
            self._forget(profile_id, reason)

    def _forget(self, profile_id: str, reason: str) -> None:
        """The device is no longer linked: close it, drop what waited for it, clear its credentials."""
        session = self._sessions[profile_id]
        self._set_state(session, CLOSED)
        self._set_jid(profile_id, "")
        self._drop_missed(profile_id)
        self._outbox.append(session.device.store.clear)
        self._emit(session, EngineEvent(LOGGED_OUT, {"reason": reason}))

    # Messages

    def _new_message(self, sender: str, sender_profile: str | None, chat_id: str, type: str,
                     content: dict[str, Any], media: Media | None, client_id: str = "") -> _Message:
        """Check a message as WhatsApp would and address it; group messages go to the group's inbox at once."""
        checked = _checked_content(type, content, media)
        if is_group(chat_id):
            group = self._member_group(chat_id, sender)
            if group.announce and group.roles[sender] == MEMBER:
                raise _refuse("only admins can send messages to this group", "NOT_GROUP_ADMIN")
            recipients = {jid for jid in group.roles if jid != sender}
        elif self._registered(chat_id):
            recipients = {chat_id}
        else:
            raise _refuse("recipient is not on WhatsApp")
        seed = client_id or str(self._next(f"message:{sender}"))
        wa_message_id = "3EB0" + self._digest("message", sender, seed).hex()[:20].upper()
        message = _Message(wa_message_id, chat_id, sender, sender_profile, type, checked, self.clock.now(),
                           undelivered=set(recipients), unread=set(recipients), client_id=client_id)
        if is_group(chat_id):
            self._to_inbox(chat_id, message.as_received().as_dict())
        return message

    def _arrive(self, message: _Message) -> None:
        for jid in sorted(message.undelivered):
            if self._reachable(jid):
                self._deliver(message, jid)
            else:
                self._pending[jid].append(message)

    def _deliver_pending(self, jid: str) -> None:
        for message in self._pending.pop(jid, ()):
            self._deliver(message, jid)

    def _deliver(self, message: _Message, jid: str) -> None:
        if jid not in message.undelivered:
            return
        message.undelivered.discard(jid)
        self._keep(message)
        received = message.as_received().as_dict()
        self._to_inbox(jid, received)
        for profile_id in self._linked(jid):
            if profile_id != message.sender_profile:
                self._notify(profile_id, EngineEvent(MESSAGE, deepcopy(received)))
        if not message.undelivered:
            self._receipt(message, "delivered")
        read_delay = self._read_delays.get(jid, self.read_delay)
        if read_delay is not None:
            self._later(read_delay, self._read, message, jid)

    def _read(self, message: _Message, jid: str) -> None:
        if jid not in message.unread:
            return
        message.unread.discard(jid)
        self._keep(message)
        # A group message counts as read once every member has read it, as in WhatsApp's message info.
        if not message.unread and not message.undelivered:
            self._receipt(message, "read")

    def _receipt(self, message: _Message, status: str) -> None:
        profile_id = message.sender_profile
        session = self._sessions.get(profile_id) if profile_id is not None else None
        if session is None or session.jid != message.sender:
            return  # a test phone, or a device unlinked since it sent
        self._notify(profile_id, EngineEvent(RECEIPT, {
            "wa_message_id": message.wa_message_id, "chat_id": message.chat_id, "status": status,
            "timestamp": self.clock.now()}))

    # Groups

    def _member_group(self, group_id: str, jid: str) -> _Group:
        group = self._groups.get(normalize_group_id(group_id, "groupId"))
        if group is None:
            raise _refuse("group not found", "NOT_FOUND")
        if jid not in group.roles:
            raise _refuse("not a participant of this group", "FORBIDDEN")
        return group

    def _require_admin(self, group: _Group, jid: str, what: str) -> None:
        if group.roles[jid] == MEMBER:
            raise _refuse(f"only group admins can {what}", "NOT_GROUP_ADMIN")

    def _subject(self, name: str) -> str:
        subject = name.strip()
        if not subject:
            raise _refuse("the group name is empty")
        if len(subject) > MAX_SUBJECT:
            raise _refuse(f"the group name is longer than {MAX_SUBJECT} characters")
        return subject

    def _add(self, group: _Group, raw: str) -> tuple[ParticipantResult, bool]:
        """Add one participant; the flag says whether the group changed."""
        jid = _user_jid(raw)
        if jid is None:
            return ParticipantResult(raw, "NOT_ON_WHATSAPP", "not a valid phone number"), False
        if jid in group.roles:
            return ParticipantResult(jid, "ALREADY_MEMBER"), False
        if not self._registered(jid):
            return ParticipantResult(jid, "NOT_ON_WHATSAPP", "not on WhatsApp"), False
        if jid in self._refuse_group_add:
            return ParticipantResult(jid, "PRIVACY_REFUSED", "their privacy settings do not allow adding them"), False
        if len(group.roles) >= MAX_GROUP_SIZE:
            return ParticipantResult(jid, "FAILED", "the group is full"), False
        group.roles[jid] = MEMBER
        return ParticipantResult(jid, "ADDED"), True

    def _change_role(self, group: _Group, raw: str, *, action: str, actor: str) -> tuple[ParticipantResult, bool]:
        """Remove, promote or demote one participant; the flag says whether the group changed. Promoting an
        admin or demoting a member succeeds without a change, as WhatsApp answers."""
        done = {"remove": "REMOVED", "promote": "PROMOTED", "demote": "DEMOTED"}[action]
        jid = _user_jid(raw)
        if jid is None or jid not in group.roles:
            return ParticipantResult(jid or raw, "NOT_MEMBER"), False
        role = group.roles[jid]
        if role == SUPERADMIN and action != "promote":
            return ParticipantResult(jid, "NOT_AUTHORIZED", f"the group's creator cannot be {done.lower()}"), False
        if action == "remove" and jid == actor:
            return ParticipantResult(jid, "NOT_AUTHORIZED", "leave the group instead of removing yourself"), False
        if action == "remove":
            del group.roles[jid]
        elif action == "promote" and role == MEMBER:
            group.roles[jid] = ADMIN
        elif action == "demote" and role == ADMIN:
            group.roles[jid] = MEMBER
        else:
            return ParticipantResult(jid, done), False
        return ParticipantResult(jid, done), True

    def _group_event(self, group: _Group, action: str, participants: list[str], by: str, *,
                     also: list[str] | tuple[str, ...] = (), **extra: Any) -> None:
        """A GROUP event to every linked profile of a member (and of `also`: those who just left)."""
        for jid in dict.fromkeys([*group.roles, *also]):
            for profile_id in self._linked(jid):
                self._notify(profile_id, EngineEvent(GROUP, {
                    "group_id": group.group_id, "action": action, "participants": list(participants), "by": by,
                    **extra}))

    def _invite_code(self, group: _Group) -> str:
        digest = self._digest("invite", group.group_id, str(group.invite_generation))
        return "".join(INVITE_ALPHABET[byte % len(INVITE_ALPHABET)] for byte in digest[:22])

    def _info(self, group: _Group) -> GroupInfo:
        return GroupInfo(
            group_id=group.group_id, name=group.name, description=group.description, owner=group.owner,
            created_at=group.created_at,
            participants=tuple(Participant(jid, role) for jid, role in group.roles.items()),
            announce=group.announce, locked=group.locked)


def _checked_content(type: str, content: dict[str, Any], media: Media | None) -> dict[str, Any]:
    """The content as the recipient gets it, after the checks WhatsApp makes; media travels as metadata (type,
    name, size, sha256), as a receiving client sees it before downloading."""
    if type not in SEND_TYPES:
        raise _refuse(f"unknown message type '{type}'")
    if type == "text":
        text = str(content.get("text", ""))
        if not text.strip():
            raise _refuse("the text is empty")
        if len(text) > MAX_TEXT:
            raise _refuse(f"the text is longer than {MAX_TEXT} characters")
        return {"text": text}
    if type in MEDIA_KINDS:
        if media is None or not media.data:
            raise _refuse(f"{type} messages need media")
        if not media.mimetype.startswith(MEDIA_KINDS[type]):
            raise _refuse(f"'{media.mimetype}' is not a {type} mimetype")
        if len(media.data) > MEDIA_LIMITS[type]:
            raise _refuse(f"the {type} is larger than {MEDIA_LIMITS[type] >> 20} MB")
        caption = str(content.get("caption", ""))
        if len(caption) > MAX_CAPTION:
            raise _refuse(f"the caption is longer than {MAX_CAPTION} characters")
        return {"caption": caption, "media": {"mimetype": media.mimetype, "filename": media.filename,
                                              "size": len(media.data),
                                              "sha256": hashlib.sha256(media.data).hexdigest()}}
    if type == "location":
        location = dict(content.get("location") or {})
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not isinstance(latitude, int | float) or not -90 <= latitude <= 90:
            raise _refuse("the location needs a latitude from -90 to 90")
        if not isinstance(longitude, int | float) or not -180 <= longitude <= 180:
            raise _refuse("the location needs a longitude from -180 to 180")
        return {"location": {"latitude": latitude, "longitude": longitude, "name": location.get("name", ""),
                             "address": location.get("address", "")}}
    if type == "contact":
        contact = dict(content.get("contact") or {})
        if not contact.get("vcard") and not (contact.get("full_name") and contact.get("phone_number")):
            raise _refuse("the contact needs a vcard, or a full name and a phone number")
        return {"contact": {key: contact.get(key, "")
                            for key in ("full_name", "phone_number", "organization", "vcard")}}
    poll = dict(content.get("poll") or {})
    options = [str(option) for option in poll.get("options") or ()]
    if not str(poll.get("question", "")).strip():
        raise _refuse("the poll needs a question")
    if not 2 <= len(options) <= 12:
        raise _refuse("a poll needs 2 to 12 options")
    if len(set(options)) != len(options) or not all(option.strip() for option in options):
        raise _refuse("poll options must be unique and not empty")
    return {"poll": {"question": str(poll["question"]), "options": options,
                     "allow_multiple_answers": bool(poll.get("allow_multiple_answers", False))}}


# The network of this process

_network: SimulatedNetwork | None = None
_network_lock = threading.Lock()


def network() -> SimulatedNetwork:
    """The network every simulator engine of this process shares, made on first use from
    WAGW_SIMULATOR_SEED (default "wagw"), WAGW_SIMULATOR_TIME_SCALE (default 1.0) and WAGW_SIMULATOR_STATE
    (a SQLite file that keeps the network's server side across restarts of the process; default: none)."""
    global _network
    with _network_lock:
        if _network is None:
            scale = float(os.environ.get("WAGW_SIMULATOR_TIME_SCALE") or 1.0)
            state = simstore.open_state(os.environ.get("WAGW_SIMULATOR_STATE", ""))
            _network = SimulatedNetwork(os.environ.get("WAGW_SIMULATOR_SEED") or DEFAULT_SEED, RealClock(scale),
                                        state=state)
        return _network


def reset_network(replacement: SimulatedNetwork | None = None) -> SimulatedNetwork:
    """Replace the process's network (closing the old one's clock): with `replacement`, or a fresh one from
    the environment. Engines made before keep the network they were given."""
    global _network
    with _network_lock:
        old, _network = _network, replacement
    if old is not None and old is not replacement:
        old.close()
    return network()

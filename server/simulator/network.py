"""The simulated WhatsApp network: numbers, devices, logins, messages and receipts (DESIGN.md §4).

It plays WhatsApp's part, not ours: numbers that are or are not on WhatsApp, logins by rotating QR codes or
pairing codes that a simulated phone scans or types, credentials that survive a restart, server acks followed
by delivery and read receipts, groups with WhatsApp's rules (groups.py), content checks (content.py), and
faults a test injects. There is one network, in the simulator service (service.py): every engine host's
`simulator` engine is a device attached to it, so profiles on different hosts message each other.

Everything is deterministic under a seed: ids, QR strings, pairing and invite codes come from an HMAC of the
seed, never from os.urandom. Time comes from a Clock (clock.py).

Rules worth knowing when using it from the API alone:
- every valid phone number is on WhatsApp, except numbers whose last four digits are 0000 and numbers a test
  `unregister()`s;
- every number is online and reads what it receives (delivered after 0.2 s, read 1 s later) unless a test says
  otherwise with `set_online()` / `set_reads()`.

Devices: a Device is one attachment of a profile's device (an engine of an engine host). The newest attachment
of a profile wins, as WhatsApp replaces an older stream of the same device; the replaced one hears `replaced`
and its calls fail PROFILE_NOT_CONNECTED. Durable events (receipts, incoming messages, group changes) wait in
the profile's queue until a device acknowledges them: one that dies before recording them (a crash, a host
taken over) has them handed to the profile's next attachment when it connects.

Conversations: reactions, edits (by the sender, within 15 minutes), revokes (by the sender or a group admin,
within two days) and poll votes (encrypted by WhatsApp: the recipient gets the SHA-256 of each option chosen)
travel as messages about another message, as in WhatsApp. Uploaded media is kept (bounded, in memory: a restart
forgets it, like media WhatsApp no longer has) for devices to download. Numbers have a profile picture unless a
test removes it, may block others (a blocked sender's messages are never delivered), see typing and recording in
their chats, and read receipts follow a profile's explicit MarkRead as well as a phone's own reading.

Restarts: given a durable state (store.py), what WhatsApp's servers would keep outlives the process.

Threading: one lock guards all state. Events are handed to devices under it, in order, once the operation's
writes are committed; `Device.deliver` only queues them, so no caller ever waits on another device's consumer.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import threading
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Protocol

from server.core.errors import ApiError
from server.core.phones import is_group, normalize_chat_id, normalize_group_id, normalize_phone, phone_to_chat_id
from server.simulator import events
from server.simulator.clock import Clock, RealClock
from server.simulator.content import PROTOCOL_TYPES, Media, checked_content, checked_protocol
from server.simulator.errors import Refusal, SimulationError
from server.simulator.events import Event
from server.simulator.groups import SUPERADMIN, Group, GroupInfo, ParticipantResult, subject
from server.simulator.store import NetworkState, Snapshot

log = logging.getLogger("wagw.simulator")

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

# Bounds on what the network remembers, so long demos and benchmarks don't grow without end.
INBOX_LIMIT = 10_000
QUEUE_LIMIT = 1_000
MESSAGE_INDEX_LIMIT = 100_000
MEDIA_LIMIT_BYTES = 512 << 20
PRESENCE_LIMIT = 1_000
# What WhatsApp allows on sent messages (simulated time).
EDIT_WINDOW = 15 * 60.0
REVOKE_WINDOW = 2 * 24 * 3600.0
PRESENCES = ("typing", "recording", "paused")

FAULTS = ("rate_overlimit", "temporary_ban", "logged_out", "disconnect", "timeout", "fail_next", "slow_ack")
# The internal operation a slow_ack fault waits on: taken after a send is accepted, never before a call.
_SEND_ACK = "ack:send"

# Session states.
CLOSED, CONNECTING, QR_SHOWN, PAIRING_SHOWN, ONLINE = "closed", "connecting", "qr", "pairing", "connected"
LIVE = frozenset({CONNECTING, QR_SHOWN, PAIRING_SHOWN, ONLINE})


class Device(Protocol):
    """One attachment of a profile's device: where the network hands the device's events. `deliver` is called
    with the network's lock held: it must only pass the event on (to a queue), never block or call back."""

    profile_id: str

    def deliver(self, event: Event) -> None: ...


@dataclass(frozen=True)
class AutoPair:
    """The simulated phone of a demo profile: it scans the QR code (or types the pairing code) by itself."""

    phone_number: str
    delay: float  # simulated seconds after the code appears


@dataclass(frozen=True)
class OutgoingMessage:
    """What a device sends: content as checked by content.py, media as its description, and the sender's own
    id for the message (the gateway's), by which WhatsApp recognises a repeated send."""

    chat_id: str
    type: str
    content: dict[str, Any]
    media: Media | None = None
    id: str = ""
    media_data: bytes = b""  # the uploaded file, kept for downloads
    reply_to: str = ""  # the WhatsApp id of the message it quotes


@dataclass
class _Session:
    """What the network knows about one profile's device."""

    device: Device | None = None  # the current attachment; None while no engine is attached
    state: str = CLOSED
    # Bumped on every change of state: timed actions from an older state see another number and do nothing.
    generation: int = 0
    # The linked phone's chat id; kept while disconnected, since the device stays linked and catches up later.
    jid: str = ""
    qr_code: str = ""
    pairing_code: str = ""
    pairing_jid: str = ""
    # The highest durable event handed to the current attachment (a new attachment starts from 0).
    delivered: int = 0


@dataclass
class _Message:
    """A message on its way: to whom it still has to be delivered, and who has yet to read it."""

    wa_message_id: str
    chat_id: str  # as addressed: a person's chat id or a group id
    sender: str
    sender_profile: str | None  # the profile that gets the receipts; None for a simulated phone
    type: str
    content: dict[str, Any]
    timestamp: dt.datetime
    undelivered: set[str]
    unread: set[str]
    client_id: str = ""  # the sending profile's own id for the message (the gateway's), which WhatsApp dedupes by

    @property
    def protocol(self) -> bool:
        """A message about another message (a reaction, an edit, …): it gets no receipts of its own here."""
        return self.type in PROTOCOL_TYPES

    def as_received(self) -> dict[str, Any]:
        """The MESSAGE event's data; in a one-to-one chat the recipient sees it in its chat with the sender."""
        chat = self.chat_id if is_group(self.chat_id) else self.sender
        return {"wa_message_id": self.wa_message_id, "chat_id": chat, "sender": self.sender, "type": self.type,
                "content": deepcopy(self.content), "timestamp": self.timestamp}

    def as_received_by(self, sender_name: str) -> dict[str, Any]:
        return {**self.as_received(), "sender_name": sender_name}

    def record(self) -> dict[str, Any]:
        """As the network's durable state keeps it (store.py)."""
        return {"wa_message_id": self.wa_message_id, "chat_id": self.chat_id, "sender": self.sender,
                "sender_profile": self.sender_profile, "type": self.type, "content": self.content,
                "timestamp": self.timestamp, "undelivered": sorted(self.undelivered),
                "unread": sorted(self.unread), "client_id": self.client_id}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> _Message:
        return cls(**{**record, "undelivered": set(record["undelivered"]), "unread": set(record["unread"])})


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


def user_jid(raw: str) -> str | None:
    """A person's chat id, or None for something that is no phone number."""
    try:
        return phone_to_chat_id(normalize_phone(raw, "phone"))
    except ApiError:
        return None


def _e164(jid: str) -> str:
    return "+" + jid.partition("@")[0]


class SimulatedNetwork:
    """One simulated WhatsApp. Methods taking a Device are what a linked device asks of WhatsApp (the simulator
    service calls them for the engines); the others are what phones do and what tests set up and observe."""

    def __init__(self, seed: str = DEFAULT_SEED, clock: Clock | None = None, *,
                 delivered_delay: float = DELIVERED_DELAY, read_delay: float = READ_DELAY,
                 state: NetworkState | None = None):
        self.seed = seed
        self.clock = clock or RealClock()
        self.delivered_delay = delivered_delay
        self.read_delay = read_delay
        self._secret = hashlib.sha256(f"wagw-simulator\0{seed}".encode()).digest()
        self._counters: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._depth = 0  # nesting of _atomic() on the thread holding the lock
        self._handouts: list[tuple[Device, Event]] = []  # events to hand out when the operation ends
        self._sessions: dict[str, _Session] = {}
        # Each phone's linked profiles, in the order they were linked: every delivery looks them up (and a group event,
        # each member's), and a scan of every session each time grew with the profiles (3.6 % of its CPU at 200).
        self._linked_profiles: dict[str, dict[str, None]] = defaultdict(dict)
        self._bans: dict[str, dt.datetime] = {}
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        # Durable events not yet acknowledged, per profile, by sequence number (oldest first).
        self._queued: dict[str, OrderedDict[int, Event]] = defaultdict(OrderedDict)
        self._queued_profile: dict[int, str] = {}
        self._unregistered: set[str] = set()
        self._refuse_group_add: set[str] = set()
        self._offline: set[str] = set()
        self._read_delays: dict[str, float | None] = {}  # None: never reads
        self._push_names: dict[str, str] = {}
        self._pending: dict[str, list[_Message]] = defaultdict(list)
        self._inboxes: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=INBOX_LIMIT))
        # (profile id, the gateway's message id) → WhatsApp message id: what WhatsApp remembers to dedupe sends.
        self._sent_ids: dict[tuple[str, str], str] = {}
        self._groups: dict[str, Group] = {}
        # Messages by WhatsApp id, for what refers to them (reactions, edits, revokes, votes, reads).
        self._index: OrderedDict[str, _Message] = OrderedDict()
        # Uploaded media by SHA-256, oldest first.
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._pictures: dict[str, str] = {}  # chat id → picture id ("": none); unset: the default picture
        self._blocked: dict[str, set[str]] = defaultdict(set)  # number → whom it blocks
        self._presences: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=PRESENCE_LIMIT))
        self._read_by: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=INBOX_LIMIT))
        self._deleted_for: dict[str, set[str]] = defaultdict(set)  # number → ids it deleted for itself
        # What WhatsApp's servers keep across a restart of this process (store.py); by default nothing.
        self._state = state or NetworkState()
        self._restore(self._state.load())

    def close(self) -> None:
        """Stop the clock's scheduler thread and close the state."""
        self.clock.close()
        with self._lock:
            self._state.close()

    # Numbers

    def is_registered(self, phone: str) -> bool:
        """Whether a number is on WhatsApp: any valid number but those ending in 0000 or unregistered."""
        jid = user_jid(phone)
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

    def send_from(self, phone: str, to: str, type: str, content: dict[str, Any], media: Media | None = None,
                  media_data: bytes = b"") -> str:
        """A phone sends a message (of any type, reactions, edits, revokes and poll votes too) to a number or a
        group it is in; it arrives at once where the recipients are reachable. Returns the message id. WhatsApp's
        refusals raise Refusal, as for a device."""
        sender = self._phone(phone)
        chat_id = normalize_chat_id(to, "to")
        with self._atomic():
            self._require_registered(sender)
            message = self._new_message(sender, None, chat_id, type, content, media, media_data=media_data)
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
            if group.join(jid):
                self._group_event(group, "join", [jid], jid)
            return group.group_id

    # What tests observe

    def inbox(self, phone_or_chat_id: str) -> list[dict[str, Any]]:
        """Every message the network delivered to a number (as MESSAGE event data, chat_id as the recipient
        sees it), or, for a group id, every message sent to the group. Oldest first."""
        key = (normalize_group_id(phone_or_chat_id, "chat_id") if is_group(phone_or_chat_id)
               else self._phone(phone_or_chat_id))
        with self._atomic():
            return [deepcopy(entry) for entry in self._inboxes.get(key, ())]

    def set_picture(self, phone: str, picture_id: str) -> None:
        """The number's profile picture: a new id means a new picture; "" removes it."""
        jid = self._phone(phone)
        with self._atomic():
            self._pictures[jid] = picture_id

    def expire_media(self, sha256: str) -> None:
        """WhatsApp's servers forget an uploaded file: downloads of it fail from now on."""
        with self._atomic():
            self._blobs.pop(sha256, None)

    def presences(self, phone: str) -> list[dict[str, Any]]:
        """What a number saw of others typing or recording in its chats, oldest first."""
        jid = self._phone(phone)
        with self._atomic():
            return [dict(entry) for entry in self._presences.get(jid, ())]

    def read_by(self, phone: str) -> list[str]:
        """The ids of the number's messages that a recipient's device marked read (MarkRead), oldest first."""
        jid = self._phone(phone)
        with self._atomic():
            return list(self._read_by.get(jid, ()))

    # Faults

    def inject(self, profile_id: str, fault: str, *, n: int | None = None, seconds: float | None = None,
               operation: str | None = None, reason: str | None = None) -> None:
        """Make WhatsApp misbehave for one profile (whose device the network knows):
        - rate_overlimit: the next `n` sends (default 1), or every send for `seconds`, raise RATE_LIMITED;
        - temporary_ban: BANNED {reason, until}; the session closes and connect() is refused for `seconds`
          (default 3600);
        - logged_out: LOGGED_OUT; the credentials are revoked;
        - disconnect: DISCONNECTED with reconnect=True; connect() again logs back in with the credentials;
        - timeout: the next `n` calls (default 1; only `operation` if given) block `seconds` (default 1), then
          raise "timeout";
        - fail_next: the next `n` calls (default 1; only `operation` if given) raise `reason` ("injected failure");
        - slow_ack: the next `n` sends (default 1) are accepted (they go on to their recipients), but the answer
          takes `seconds` (default 1) to come back: a crash in that window leaves the sender not knowing.
        Operations: connect, lookup, a group operation name, send_<type>, or "send" for any send."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault '{fault}' (one of {', '.join(FAULTS)})")
        with self._atomic():
            session = self._session(profile_id)
            if fault == "slow_ack":
                self._faults[profile_id].append(_Fault(fault, "slow ack", operation=_SEND_ACK, remaining=n or 1,
                                                       seconds=TIMEOUT_AFTER if seconds is None else seconds))
            elif fault == "logged_out":
                self._unlink(profile_id, reason or "logged out from the phone")
            elif fault == "rate_overlimit":
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
                self._emit(session, events.BANNED, {"reason": reason or "temporarily banned", "until": until})
            else:  # disconnect
                if session.state not in LIVE:
                    raise SimulationError(f"profile '{profile_id}' has no open session to drop")
                self._set_state(session, CLOSED)
                self._emit(session, events.DISCONNECTED, {"reason": reason or "connection lost", "reconnect": True})

    # The device side: sessions

    def attach(self, device: Device) -> None:
        """A device's attachment takes over its profile's session; the one before it is closed and told."""
        with self._atomic():
            session = self._sessions.setdefault(device.profile_id, _Session())
            if session.device is device:
                return
            if session.device is not None:
                self._handouts.append((session.device, Event(events.REPLACED)))
            self._set_state(session, CLOSED)
            session.device, session.delivered = device, 0

    def release(self, device: Device) -> None:
        """The attachment is gone (its engine was dropped, or its engine host's stream ended): the session
        closes silently; the link stays, and durable events wait for the next attachment."""
        with self._atomic():
            session = self._sessions.get(device.profile_id)
            if session is not None and session.device is device:
                self._set_state(session, CLOSED)
                session.device = None

    def connect(self, device: Device, credentials: dict[str, Any] | None = None, phone_number: str = "",
                auto_pair: AutoPair | None = None) -> str:
        """Attach the device and log in: with the credentials it kept, or by a QR login, or (given a phone
        number) a pairing-code login. Returns the pairing code or ""."""
        profile_id = device.profile_id
        self.attach(device)
        with self._atomic():
            until = self._bans.get(profile_id)
            if until is not None and until > self.clock.now():
                raise Refusal(f"temporarily banned until {until.isoformat()}", until=until.isoformat())
        self._before_call(device, "connect", connected=False)
        with self._atomic():
            session = self._current(device)
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
            jid = user_jid(phone_number)
            if jid is None:
                raise Refusal(f"'{phone_number}' is not a valid phone number")
            if session.state == PAIRING_SHOWN and session.pairing_jid == jid:
                return session.pairing_code
            self._require_registered(jid, Refusal)
            return self._start_pairing(profile_id, jid, auto_pair)

    def disconnect(self, device: Device) -> None:
        """Close the session (or stop a login), keeping the link."""
        with self._atomic():
            session = self._sessions.get(device.profile_id)
            if session is not None and session.device is device and session.state in LIVE:
                self._set_state(session, CLOSED)
                self._emit(session, events.DISCONNECTED, {"reason": "closed", "reconnect": False})

    def logout(self, device: Device) -> None:
        """Attach the device and unlink it: its credentials are revoked."""
        self.attach(device)
        with self._atomic():
            self._unlink(device.profile_id, "logged out")

    def acknowledge(self, seqs: list[int]) -> None:
        """A device recorded these durable events: they are handed out no more."""
        with self._atomic():
            for seq in seqs:
                profile_id = self._queued_profile.pop(seq, None)
                if profile_id is not None:
                    self._queued[profile_id].pop(seq, None)
                self._state.ack_event(seq)

    # The device side: messages

    def send(self, device: Device, message: OutgoingMessage) -> str:
        profile_id = device.profile_id
        self._before_call(device, f"send_{message.type}")
        chat_id = normalize_chat_id(message.chat_id, "chatId")
        with self._atomic():
            session = self._connected(device)
            if message.id and (profile_id, message.id) in self._sent_ids:
                # WhatsApp dedupes by the sender's message id: a repeated send is acknowledged, not delivered.
                return self._sent_ids[profile_id, message.id]
            sent = self._new_message(session.jid, profile_id, chat_id, message.type, message.content,
                                     message.media, client_id=message.id, media_data=message.media_data,
                                     reply_to=message.reply_to)
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

    def lookup(self, device: Device, phone_numbers: list[str]) -> dict[str, bool]:
        self._before_call(device, "lookup")
        with self._atomic():
            self._connected(device)
            return {phone: self.is_registered(phone) for phone in phone_numbers}

    # The device side: conversations

    def delete_for_me(self, device: Device, chat_id: str, wa_message_id: str) -> None:
        """Delete a message from the profile's own devices (app state: nobody else sees a change)."""
        self._before_call(device, "delete_for_me")
        with self._atomic():
            me = self._connected(device).jid
            message = self._index.get(wa_message_id)
            if message is None or not self._in_chat(message, me, normalize_chat_id(chat_id, "chatId")):
                raise Refusal("message not found in this chat", "NOT_FOUND")
            self._deleted_for[me].add(wa_message_id)

    def mark_read(self, device: Device, chat_id: str, wa_message_ids: list[str]) -> None:
        """The profile read these messages: their senders get read receipts (a group message, once every member
        read it)."""
        self._before_call(device, "mark_read")
        with self._atomic():
            me = self._connected(device).jid
            chat = normalize_chat_id(chat_id, "chatId")
            for wa_message_id in wa_message_ids:
                message = self._index.get(wa_message_id)
                if message is None or message.sender == me or not self._in_chat(message, me, chat):
                    continue
                if me in message.unread and me not in message.undelivered:
                    self._read_by[message.sender].append(wa_message_id)
                    self._read(message, me)

    def send_presence(self, device: Device, chat_id: str, presence: str) -> None:
        """Show the profile typing, recording or neither to the chat's other side (or the group's members)."""
        if presence not in PRESENCES:
            raise Refusal(f"unknown presence '{presence}' (one of {', '.join(PRESENCES)})")
        self._before_call(device, "presence")
        with self._atomic():
            me = self._connected(device).jid
            chat = normalize_chat_id(chat_id, "chatId")
            audience = ([jid for jid in self._member_group(chat, me).roles if jid != me] if is_group(chat)
                        else [chat])
            for jid in audience:
                self._presences[jid].append({"sender": me, "chat_id": chat if is_group(chat) else me,
                                             "presence": presence, "timestamp": self.clock.now()})

    def get_picture(self, device: Device, chat_id: str) -> tuple[str, str]:
        """(url, picture id) of the picture a number or group shows; NOT_FOUND when it has none."""
        self._before_call(device, "contact_picture")
        with self._atomic():
            self._connected(device)
            chat = normalize_chat_id(chat_id, "chatId")
            if not is_group(chat) and not self._registered(chat):
                raise Refusal(f"{_e164(chat)} is not on WhatsApp", "NOT_FOUND")
            picture_id = self._pictures.get(chat)
            if picture_id is None:  # everyone has a picture until a test removes it
                picture_id = str(1_700_000_000 + int.from_bytes(self._digest("picture", chat)[:3]))
            if not picture_id:
                raise Refusal("no profile picture", "NOT_FOUND")
            name = self._digest("picture-url", chat, picture_id).hex()[:24]
            return f"https://pps.whatsapp.net/v/t61.24694-24/{name}_n.jpg", picture_id

    def update_blocklist(self, device: Device, action: str, chat_ids: list[str]) -> list[str]:
        """Block or unblock numbers; the numbers the profile's number blocks now."""
        if action not in ("block", "unblock"):
            raise Refusal(f"unknown blocklist action '{action}'")
        self._before_call(device, action)
        with self._atomic():
            me = self._connected(device).jid
            jids = [normalize_chat_id(chat_id, "chatIds") for chat_id in chat_ids]
            if any(is_group(jid) for jid in jids):
                raise Refusal("groups cannot be blocked")
            if action == "block":
                self._blocked[me].update(jids)
            else:
                self._blocked[me].difference_update(jids)
                for jid in jids:  # what waited for them arrives now
                    for message in list(self._index.values()):
                        if message.sender == jid and me in message.undelivered:
                            self._later(self.delivered_delay, self._arrive, message)
            return sorted(self._blocked[me])

    def download_media(self, device: Device, sha256: str) -> bytes:
        self._before_call(device, "download_media")
        with self._atomic():
            self._connected(device)
            data = self._blobs.get(sha256)
            if data is None:
                raise Refusal("the media is no longer on WhatsApp's servers", "NOT_FOUND")
            return data

    # The device side: groups

    def list_groups(self, device: Device) -> list[GroupInfo]:
        self._before_call(device, "list_groups")
        with self._atomic():
            me = self._connected(device).jid
            return [group.info() for group in self._groups.values() if me in group.roles]

    def get_group(self, device: Device, group_id: str) -> GroupInfo:
        self._before_call(device, "get_group")
        with self._atomic():
            return self._member_group(group_id, self._connected(device).jid).info()

    def create_group(self, device: Device, name: str, participants: list[str]
                     ) -> tuple[GroupInfo, list[ParticipantResult]]:
        self._before_call(device, "create_group")
        with self._atomic():
            me = self._connected(device).jid
            group_name = subject(name)
            number = self._next("group")
            digits = int.from_bytes(self._digest("group", str(number))[:8]) % 10**12
            group = Group(f"120363{digits:012d}@g.us", group_name, me, self.clock.now(), {me: SUPERADMIN})
            results = [self._add(group, raw)[0] for raw in participants]
            self._groups[group.group_id] = group
            self._group_event(group, "create", list(group.roles), me, name=group_name)
            return group.info(), results

    def update_group(self, device: Device, group_id: str, *, name: str | None = None,
                     description: str | None = None, announce: bool | None = None, locked: bool | None = None
                     ) -> GroupInfo:
        self._before_call(device, "update_group")
        with self._atomic():
            me = self._connected(device).jid
            group = self._member_group(group_id, me)
            for action, changed in group.update(me, name=name, description=description, announce=announce,
                                                locked=locked):
                self._group_event(group, action, [], me, **changed)
            return group.info()

    def update_participants(self, device: Device, group_id: str, action: str, participants: list[str]
                            ) -> list[ParticipantResult]:
        if action not in ("add", "remove", "promote", "demote"):
            raise Refusal(f"unknown participants action '{action}'")
        self._before_call(device, f"{action}_participants")
        with self._atomic():
            me = self._connected(device).jid
            group = self._member_group(group_id, me)
            group.require_admin(me, f"{action} participants")

            def change(raw: str) -> tuple[ParticipantResult, bool]:
                if action == "add":
                    return self._add(group, raw)
                return group.change_role(user_jid(raw), raw, action=action, actor=me)

            outcomes = [change(raw) for raw in participants]
            changed = [result.chat_id for result, did_change in outcomes if did_change]
            if changed:
                event = {"add": "join", "remove": "leave"}.get(action, action)
                self._group_event(group, event, changed, me, also=changed if action == "remove" else ())
            return [result for result, _ in outcomes]

    def leave_group(self, device: Device, group_id: str) -> None:
        self._before_call(device, "leave_group")
        with self._atomic():
            me = self._connected(device).jid
            group = self._member_group(group_id, me)
            heir = group.leave(me)
            self._group_event(group, "leave", [me], me, also=[me])
            if heir is not None:
                self._group_event(group, "promote", [heir], me)

    def invite_link(self, device: Device, group_id: str, *, revoke: bool = False) -> str:
        self._before_call(device, "revoke_invite_link" if revoke else "invite_link")
        with self._atomic():
            me = self._connected(device).jid
            group = self._member_group(group_id, me)
            group.require_admin(me, "revoke the invite link" if revoke else "get the invite link")
            if revoke:
                group.invite_generation += 1
                self._group_event(group, "settings", [], me, invite_link_revoked=True)
            return self._invite_code(group)

    # Internals. Methods below expect the lock to be held unless they say otherwise.

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Hold the lock; when the outermost block ends, even by an exception, commit what it wrote, then hand
        its events to the devices (still under the lock, so every device sees them in the network's order)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._state.commit()  # durable before any device hears of it
                    handouts, self._handouts = self._handouts, []
                    for device, event in handouts:
                        device.deliver(event)

    def _later(self, seconds: float, action: Callable[..., None], *args: Any) -> None:
        """Run `action(*args)` under the lock after `seconds` of simulated time."""
        def run() -> None:
            with self._atomic():
                action(*args)
        self.clock.call_later(seconds, run)

    def _emit(self, session: _Session, type: str, data: dict[str, Any] | None = None) -> None:
        """A session event, for the device attached now (if any)."""
        if session.device is not None:
            self._handouts.append((session.device, Event(type, data or {})))

    def _notify(self, profile_id: str, type: str, data: dict[str, Any]) -> None:
        """A durable event for a linked profile: queued until a device acknowledges it, handed out now if the
        profile is online, else when it next connects (as WhatsApp's offline queue does)."""
        seq = self._state.queue_event(profile_id, Event(type, data))
        queue = self._queued[profile_id]
        queue[seq] = Event(type, data, seq)
        self._queued_profile[seq] = profile_id
        if len(queue) > QUEUE_LIMIT:
            oldest, _ = queue.popitem(last=False)
            self._queued_profile.pop(oldest, None)
            self._state.ack_event(oldest)
        session = self._sessions[profile_id]
        if session.state == ONLINE:
            self._hand_queued(session, profile_id)

    def _hand_queued(self, session: _Session, profile_id: str) -> None:
        """Hand the current attachment every queued event it has not had yet."""
        if session.device is None:
            return
        for seq, event in self._queued.get(profile_id, {}).items():
            if seq > session.delivered:
                self._handouts.append((session.device, event))
                session.delivered = seq

    def _drop_queued(self, profile_id: str) -> None:
        for seq in self._queued.pop(profile_id, {}):
            self._queued_profile.pop(seq, None)
        self._state.drop_events(profile_id)

    def _set_jid(self, profile_id: str, jid: str) -> None:
        session = self._sessions[profile_id]
        if session.jid != jid:
            self._relink(profile_id, session.jid, jid)
            session.jid = jid
            self._state.set_link(profile_id, jid)

    def _relink(self, profile_id: str, old: str, new: str) -> None:
        if old:
            linked = self._linked_profiles[old]
            linked.pop(profile_id, None)
            if not linked:
                del self._linked_profiles[old]
        if new:
            self._linked_profiles[new][profile_id] = None

    def _to_inbox(self, chat: str, entry: dict[str, Any]) -> None:
        self._inboxes[chat].append(entry)
        self._state.append_inbox(chat, entry)

    def _keep(self, message: _Message) -> None:
        """Record a message (new, or changed: delivered or read by someone) in the durable state."""
        if self._state.durable:
            self._state.save_message(message.wa_message_id, message.record())

    def _restore(self, saved: Snapshot) -> None:
        """Start from what the durable state kept (nothing, for a network in memory only): dedupe memory,
        inboxes, offline queues, links; deliveries and reads still to come are scheduled again."""
        with self._atomic():
            self._counters.update(saved.counters)
            for profile_id, jid in saved.links.items():
                self._sessions[profile_id] = _Session(jid=jid)
                self._relink(profile_id, "", jid)
            for chat, entry in saved.inbox:
                self._inboxes[chat].append(entry)
            for profile_id, event in saved.queued:
                self._queued[profile_id][event.seq] = event
                self._queued_profile[event.seq] = profile_id
            for record in saved.messages:
                message = _Message.from_record(record)
                self._remember(message)
                if message.sender_profile and message.client_id:
                    self._sent_ids[message.sender_profile, message.client_id] = message.wa_message_id
                if message.undelivered:
                    self._later(self.delivered_delay, self._arrive, message)
                for jid in sorted(message.unread - message.undelivered):
                    read_delay = self._read_delays.get(jid, self.read_delay)
                    if read_delay is not None:
                        self._later(read_delay, self._read, message, jid)

    def _linked(self, jid: str) -> list[str]:
        return list(self._linked_profiles.get(jid, ()))

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
            raise SimulationError(f"no simulator device exists for profile '{profile_id}'")
        return session

    def _set_state(self, session: _Session, state: str) -> int:
        session.state = state
        session.generation += 1
        return session.generation

    def _current(self, device: Device) -> _Session:
        """The device's session, if this device is its current attachment."""
        session = self._sessions.get(device.profile_id)
        if session is None or session.device is not device:
            raise Refusal("the device is not attached: another connection of it replaced this one",
                          "PROFILE_NOT_CONNECTED")
        return session

    def _connected(self, device: Device) -> _Session:
        session = self._current(device)
        if session.state != ONLINE:
            raise Refusal("the profile is not connected", "PROFILE_NOT_CONNECTED")
        return session

    def _before_call(self, device: Device, operation: str, *, connected: bool = True) -> None:
        """Apply an injected fault to this call, if one is armed. Takes the lock itself: a timeout blocks
        outside it."""
        with self._atomic():
            if connected:
                self._connected(device)
            fault = self._take_fault(device.profile_id, operation)
        if fault is None:
            return
        if fault.kind == "timeout":
            self.clock.sleep(fault.seconds)
        raise Refusal(fault.reason, fault.code)

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
        jid = user_jid(raw)
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
            self._emit(session, events.QR_TIMEOUT)
            return
        lifetime = QR_LIFETIMES[index]
        session.qr_code = codes[index]
        self._emit(session, events.QR, {"code": codes[index], "expires_at": self.clock.after(lifetime)})
        self._later(lifetime, self._show_qr, profile_id, generation, codes, index + 1)

    def _auto_scan(self, profile_id: str, generation: int, phone: str) -> None:
        session = self._sessions[profile_id]
        jid = user_jid(phone)
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
        self._emit(session, events.PAIRING, {"code": session.pairing_code})
        self._later(PAIRING_LIFETIME, self._expire_pairing, profile_id, generation)
        if auto_pair is not None and user_jid(auto_pair.phone_number) == jid:
            self._later(auto_pair.delay, self._auto_scan, profile_id, generation, auto_pair.phone_number)
        return session.pairing_code

    def _expire_pairing(self, profile_id: str, generation: int) -> None:
        session = self._sessions[profile_id]
        if session.generation == generation:
            self._set_state(session, CLOSED)
            self._emit(session, events.QR_TIMEOUT)

    def _credential_token(self, profile_id: str, jid: str, device_id: int) -> str:
        # Derived from the seed, not remembered: a network started later (same seed) accepts it as well.
        return self._digest("credentials", profile_id, jid, str(device_id)).hex()

    def _link(self, profile_id: str, jid: str) -> None:
        """A phone approved the login: give the device its credentials and connect it."""
        session = self._sessions[profile_id]
        device_id = self._next(f"device:{profile_id}")
        self._emit(session, events.CREDENTIALS, {
            "phone_number": _e164(jid), "push_name": self._push_name(jid), "device_id": device_id,
            "token": self._credential_token(profile_id, jid, device_id)})
        self._go_online(profile_id, jid)

    def _resume(self, profile_id: str, generation: int, credentials: dict[str, Any]) -> None:
        """The end of a login with stored credentials: accepted unless unlinked since, or forged."""
        session = self._sessions[profile_id]
        if session.generation != generation:
            return
        jid = user_jid(str(credentials.get("phone_number", "")))
        token = str(credentials.get("token", ""))
        device_id = credentials.get("device_id")
        if (jid is not None and isinstance(device_id, int)
                and device_id > self._counters[f"unlinked:{profile_id}"]
                and hmac.compare_digest(token, self._credential_token(profile_id, jid, device_id))):
            self._go_online(profile_id, jid)
        else:
            self._forget(profile_id, "the device was unlinked from the phone")

    def _go_online(self, profile_id: str, jid: str) -> None:
        session = self._sessions[profile_id]
        if session.jid != jid:
            self._drop_queued(profile_id)  # queued for another number this device no longer is
        self._set_state(session, ONLINE)
        self._set_jid(profile_id, jid)
        self._emit(session, events.CONNECTED, {"phone_number": _e164(jid), "push_name": self._push_name(jid)})
        self._hand_queued(session, profile_id)
        self._deliver_pending(jid)

    def _unlink(self, profile_id: str, reason: str) -> None:
        """Unlink the device: every credential given to it so far is refused from now on."""
        devices = self._counters[f"device:{profile_id}"]
        if self._counters[f"unlinked:{profile_id}"] != devices:
            self._counters[f"unlinked:{profile_id}"] = devices
            self._state.set_counter(f"unlinked:{profile_id}", devices)
        self._forget(profile_id, reason)

    def _forget(self, profile_id: str, reason: str) -> None:
        """The device is no longer linked: close it, drop what waited for it; it forgets its credentials."""
        session = self._sessions[profile_id]
        self._set_state(session, CLOSED)
        self._set_jid(profile_id, "")
        self._drop_queued(profile_id)
        self._emit(session, events.LOGGED_OUT, {"reason": reason})

    # Messages

    def _new_message(self, sender: str, sender_profile: str | None, chat_id: str, type: str,
                     content: dict[str, Any], media: Media | None, client_id: str = "", media_data: bytes = b"",
                     reply_to: str = "") -> _Message:
        """Check a message as WhatsApp would and address it; group messages go to the group's inbox at once. A reply's
        quoted id travels in the content as `reply_to`, unchecked: WhatsApp's servers cannot read it."""
        if type in PROTOCOL_TYPES:
            checked = self._protocol(sender, chat_id, type, checked_protocol(type, content))
        else:
            checked = checked_content(type, content, media)
        if reply_to:
            checked["reply_to"] = reply_to
        if is_group(chat_id):
            group = self._member_group(chat_id, sender)
            group.require_may_send(sender)
            recipients = {jid for jid in group.roles if jid != sender}
        elif self._registered(chat_id):
            if chat_id in self._blocked.get(sender, ()):
                raise Refusal("this number is blocked by the sender: unblock it to send")
            recipients = {chat_id}
        else:
            raise Refusal("recipient is not on WhatsApp")
        if media is not None and media_data:
            self._keep_blob(media, media_data)
        seed = client_id or str(self._next(f"message:{sender}"))
        wa_message_id = "3EB0" + self._digest("message", sender, seed).hex()[:20].upper()
        message = _Message(wa_message_id, chat_id, sender, sender_profile, type, checked, self.clock.now(),
                           undelivered=set(recipients), unread=set(recipients), client_id=client_id)
        self._remember(message)
        if is_group(chat_id):
            self._to_inbox(chat_id, message.as_received())
        return message

    def _remember(self, message: _Message) -> None:
        self._index[message.wa_message_id] = message
        while len(self._index) > MESSAGE_INDEX_LIMIT:
            self._index.popitem(last=False)

    def _in_chat(self, message: _Message, jid: str, chat_id: str) -> bool:
        """Whether `message` is in the chat `chat_id` as `jid` sees it (a group, or the one-to-one chat)."""
        if is_group(message.chat_id):
            return chat_id == message.chat_id
        return {message.sender, message.chat_id} == {jid, chat_id}

    def _protocol(self, sender: str, chat_id: str, type: str, content: dict[str, Any]) -> dict[str, Any]:
        """A reaction, edit, revoke or poll vote checked against the message it is about, as its recipients get
        it."""
        target = self._index.get(content.get("target") or content["poll"])
        if target is None or not self._in_chat(target, sender, chat_id):
            raise Refusal("the message it is about is not in this chat", "NOT_FOUND")
        age = (self.clock.now() - target.timestamp).total_seconds()
        if type == "edit":
            if target.sender != sender or target.type != "text":
                raise Refusal("only the sender of a text message can edit it")
            if age > EDIT_WINDOW:
                raise Refusal("the message is too old to edit (15 minutes)")
        elif type == "revoke":
            admin = is_group(chat_id) and self._member_group(chat_id, sender).roles.get(sender) != "MEMBER"
            if target.sender != sender and not admin:
                raise Refusal("only the sender (or a group admin) can delete a message for everyone")
            if age > REVOKE_WINDOW:
                raise Refusal("the message is too old to delete for everyone")
        elif type == "poll_vote":
            poll = target.content.get("poll") if target.type == "poll" else None
            if poll is None:
                raise Refusal("a vote is on a poll")
            options = content["options"]
            if any(option not in poll["options"] for option in options) or len(set(options)) != len(options):
                raise Refusal("a vote picks options of the poll, each once")
            if len(options) > 1 and not poll["allow_multiple_answers"]:
                raise Refusal("this poll takes one option")
            # WhatsApp encrypts votes; a recipient matches the SHA-256 of each option against the poll.
            return {"poll": target.wa_message_id,
                    "selected_hashes": [hashlib.sha256(option.encode()).hexdigest() for option in options]}
        return content

    def _keep_blob(self, media: Media, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != media.sha256 or len(data) != media.size:
            raise Refusal("the uploaded file does not match its description (size, SHA-256)")
        self._blobs[media.sha256] = data
        self._blobs.move_to_end(media.sha256)
        while sum(len(blob) for blob in self._blobs.values()) > MEDIA_LIMIT_BYTES and len(self._blobs) > 1:
            self._blobs.popitem(last=False)

    def _arrive(self, message: _Message) -> None:
        for jid in sorted(message.undelivered):
            if message.sender in self._blocked.get(jid, ()):
                continue  # never delivered while blocked: the sender sees one tick
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
        received = message.as_received()
        self._to_inbox(jid, received)
        for profile_id in self._linked(jid):
            if profile_id != message.sender_profile:
                self._notify(profile_id, events.MESSAGE, message.as_received_by(self._push_name(message.sender)))
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
        if profile_id is None or session is None or session.jid != message.sender or message.protocol:
            return  # a simulated phone, a device unlinked since it sent, or a message about another
        self._notify(profile_id, events.RECEIPT, {
            "wa_message_id": message.wa_message_id, "chat_id": message.chat_id, "status": status,
            "timestamp": self.clock.now()})

    # Groups

    def _member_group(self, group_id: str, jid: str) -> Group:
        group = self._groups.get(normalize_group_id(group_id, "groupId"))
        if group is None:
            raise Refusal("group not found", "NOT_FOUND")
        group.require_member(jid)
        return group

    def _add(self, group: Group, raw: str) -> tuple[ParticipantResult, bool]:
        jid = user_jid(raw)
        return group.add(jid, raw, on_whatsapp=jid is not None and self._registered(jid),
                         refuses_add=jid in self._refuse_group_add)

    def _group_event(self, group: Group, action: str, participants: list[str], by: str, *,
                     also: list[str] | tuple[str, ...] = (), **extra: Any) -> None:
        """A GROUP event to every linked profile of a member (and of `also`: those who just left)."""
        for jid in dict.fromkeys([*group.roles, *also]):
            for profile_id in self._linked(jid):
                self._notify(profile_id, events.GROUP, {
                    "group_id": group.group_id, "action": action, "participants": list(participants), "by": by,
                    **extra})

    def _invite_code(self, group: Group) -> str:
        digest = self._digest("invite", group.group_id, str(group.invite_generation))
        return "".join(INVITE_ALPHABET[byte % len(INVITE_ALPHABET)] for byte in digest[:22])


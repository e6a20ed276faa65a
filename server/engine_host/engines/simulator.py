"""The `simulator` engine: a profile's device on the simulated WhatsApp (DESIGN.md §4), for tests, demos and
benchmarks. It supports everything; the simulator service (`python -m server.simulator`, the one network every
engine host connects to) decides what WhatsApp would answer.

Engine settings (all optional):
- `autoPair` (bool, default false): the simulated phone links the profile by itself — it scans the first QR
  code, or types the pairing code when connect was given a phone number — so a demo needs nothing but the API;
- `autoPairPhone` (E.164): the number that links; by default one derived from the profile id (`+62812…`, on
  WhatsApp by the network's rules);
- `autoPairDelayMs` (0 to 60000, default 3000): how long the phone takes, in simulated time;
- `recognisesRepeats` (bool, default true): false sends without the gateway's message id, so the network cannot
  recognise a message sent again, as with whatsmeow and the Cloud API (server/core/delivery_guarantee.py).

How it talks to the service: one SimulatorLink per engine-host process holds one gRPC channel and one event
stream (proto/wagw/simulator/v1: DeviceService.StreamEvents), multiplexing the events of every device of the
host. One stream rather than one per device, because a stream holds a server thread for its whole life and a
host may hold hundreds of profiles; and the link demultiplexes at once: each profile's events are handled in
order on a shared pool (one profile at a time per thread), so a profile whose events are slow to record delays
only itself. An event the network keeps (receipts, messages, group changes) is acknowledged after the host has
recorded it (a receipt for a send not recorded yet, once that send is); one the host could not record is offered
to it again, and one never acknowledged, because the host died first, is handed to the profile's next attachment.
Acknowledgements go in batches, one call every 50 ms at most, on a thread of their own (`_Acknowledgements`): one
call per event was a third of the host's delivery time and as much of the service's, while nothing waits on an
acknowledgement but the network's bookkeeping (an event whose acknowledgement is lost in a crash is handed out
again, and the host recognises it).

When the stream breaks (the simulator service restarted, or is gone), every open session hears DISCONNECTED
with reconnect: the engine host reconnects it (with its backoff), the device attaches again and resumes with its
credentials, and what waited for it on the network arrives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from server.core import engine_specs
from server.core.config import load
from server.core.engine_specs import send_operation
from server.core.errors import error_info
from server.core.logs import fields
from server.core.phones import phone_to_chat_id
from server.core.rpc import internal_metadata
from server.engine_host.engines import base
from server.engine_host.engines.base import (
    Emit,
    Engine,
    EngineError,
    EngineEvent,
    GroupInfo,
    MessageRef,
    OutgoingMessage,
    Participant,
    ParticipantResult,
    Picture,
    SessionStore,
)
from wagw.simulator.v1 import simulator_pb2 as pb
from wagw.simulator.v1 import simulator_pb2_grpc

log = logging.getLogger("wagw.engines.simulator")

ENGINE = engine_specs.SIMULATOR.name
# A call may wait on an injected timeout or slow ack (simulated seconds, scaled): longer than any test injects.
CALL_TIMEOUT_S = 60.0
# How long connect() waits for the event stream to be open (the simulator service starting, or restarting).
STREAM_WAIT_S = 5.0
STREAM_RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0)
EVENT_THREADS = 16
# Pauses before an event the host could not record is offered to it again.
RECORD_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)


def default_auto_pair_phone(profile_id: str) -> str:
    """A valid Indonesian mobile number that is the same for a profile id in every run and on every network.
    Its last four digits are never 0000, which the network treats as not on WhatsApp."""
    digits = f"{int.from_bytes(hashlib.sha256(profile_id.encode()).digest()[:8]) % 10**8:08d}"
    if digits.endswith("0000"):
        digits = digits[:-1] + "1"
    return f"+62812{digits}"


class _InOrder:
    """Runs each key's work in submission order on a shared pool. A key's work holds at most one thread, so a
    key whose work is slow delays only itself (until every thread is held by a slow key)."""

    def __init__(self, threads: int):
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="simulator-events")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._closed = False

    def submit(self, key: str, work: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                return
            queue = self._queues.get(key)
            if queue is not None:  # a thread is draining this key: it will run this too
                queue.append(work)
                return
            self._queues[key] = deque([work])
        self._pool.submit(self._drain, key)

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue or self._closed:
                    del self._queues[key]
                    return
                work = queue.popleft()
            try:
                work()
            except Exception:
                log.exception("handling a simulator event failed", extra=fields(profile_id=key))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Acknowledgements:
    """The recorded events' seqs, sent to the service in one Acknowledge call at most every `EVERY_S`: a lone event
    goes at once, and what is recorded within `EVERY_S` of a call waits for the next. Closing sends what is waiting
    (for at most `FLUSH_S`); what a crash leaves unsent the network hands out again, and the host recognises it.

    Why wait at all: the calls cost both sides more than the events they acknowledge. With a call as soon as the
    last one returned, a host delivering 150-200 messages a second still made one for every two or three
    events; one call every 50 ms took a tenth of the host's CPU per delivered message and a quarter of the
    simulator's (bench.delivery, alternated runs)."""

    EVERY_S = 0.05
    FLUSH_S = 2.0

    def __init__(self, send: Callable[[list[int]], None], every_s: float = EVERY_S):
        self._send = send
        self._every_s = every_s
        self._waiting: list[int] = []
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator-acks", daemon=True)
        self._thread.start()

    def add(self, seq: int) -> None:
        with self._changed:
            if not self._closed.is_set():
                self._waiting.append(seq)
                self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed.set()
            self._changed.notify()
        self._thread.join(self.FLUSH_S)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or self._closed.is_set())
                seqs, self._waiting = self._waiting, []
            if seqs:
                self._send(seqs)
                self._closed.wait(self._every_s)  # closing cuts the pause short: what waits goes at once
            elif self._closed.is_set():
                return


class SimulatorLink:
    """An engine host's connection to the simulator service: the channel, the event stream, and which engine is
    each profile's current device here."""

    def __init__(self, address: str, metadata: tuple[tuple[str, str], ...] = (), *,
                 stream_wait_s: float = STREAM_WAIT_S):
        self.address = address
        self._metadata = metadata
        self._stream_wait_s = stream_wait_s
        # gRPC's own reconnect backoff grows to two minutes: a restarted service would wait that long for us.
        self._channel = grpc.insecure_channel(address, options=[
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(STREAM_RETRY_S[-1] * 1000))])
        self._devices = simulator_pb2_grpc.DeviceServiceStub(self._channel)
        self._engines: dict[str, SimulatorEngine] = {}
        self._lock = threading.Lock()
        self._opened = threading.Condition(self._lock)
        self._connection_id = ""
        self._events = _InOrder(EVENT_THREADS)
        self._acknowledgements = _Acknowledgements(self._acknowledge)
        self._closed = threading.Event()
        self._stream: grpc.RpcContext | None = None
        threading.Thread(target=self._run, name="simulator-stream", daemon=True).start()

    def register(self, engine: SimulatorEngine) -> None:
        """`engine` is now its profile's device on this host: events of an engine before it are dropped (the
        network hands the ones it keeps to the new attachment when it connects)."""
        with self._lock:
            self._engines[engine.profile_id] = engine

    def unregister(self, engine: SimulatorEngine) -> None:
        with self._lock:
            if self._engines.get(engine.profile_id) is engine:
                del self._engines[engine.profile_id]

    def device(self, engine: SimulatorEngine, *, wait: bool = True) -> pb.Device:
        """The engine as the service knows it, through the open stream (waited for a few seconds, or not)."""
        with self._opened:
            opened = self._opened.wait_for(lambda: self._connection_id or self._closed.is_set(),
                                           self._stream_wait_s if wait else 0)
            if not opened or self._closed.is_set():
                raise EngineError(ENGINE, f"the simulated WhatsApp at {self.address} is unreachable", "UNAVAILABLE")
            return pb.Device(connection_id=self._connection_id, attachment_id=engine.attachment_id,
                             profile_id=engine.profile_id)

    def call(self, method: str, request: Any) -> Any:
        """One DeviceService call; the network's refusals come back as EngineErrors with their code, a service
        that does not answer as UNAVAILABLE."""
        try:
            return getattr(self._devices, method)(request, timeout=CALL_TIMEOUT_S, metadata=self._metadata)
        except grpc.RpcError as error:
            info = error_info(error)
            if info:
                code, metadata = info
                raise EngineError(ENGINE, error.details(), code, **metadata) from error
            raise EngineError(ENGINE, f"the simulated WhatsApp at {self.address} did not answer "
                                      f"({error.code().name})", "UNAVAILABLE") from error

    def acknowledge(self, seq: int) -> None:
        """The host recorded the event `seq`: the network may forget it (soon: see `_Acknowledgements`)."""
        self._acknowledgements.add(seq)

    def _acknowledge(self, seqs: list[int]) -> None:
        if self._closed.is_set():  # kept by the network: handed out again to the next attachment
            return
        try:
            self._devices.Acknowledge(pb.AcknowledgeRequest(seqs=seqs), timeout=CALL_TIMEOUT_S,
                                      metadata=self._metadata)
        except grpc.RpcError as error:  # kept by the network: handed out again to the next attachment
            log.warning("acknowledging simulator events failed",
                        extra=fields(events=len(seqs), error=error.code().name))

    def wait_for_retry(self, engine: SimulatorEngine, seconds: float) -> bool:
        """Pause before an event of `engine` is offered to its host again; False when that is pointless: the
        link closed, or another engine is its profile's device now (the network hands that one the event)."""
        if self._closed.wait(seconds):
            return False
        with self._lock:
            return self._engines.get(engine.profile_id) is engine

    def close(self) -> None:
        self._acknowledgements.close()
        self._closed.set()
        with self._opened:
            self._opened.notify_all()
        if self._stream is not None:
            self._stream.cancel()
        self._events.close()
        self._channel.close()

    def _run(self) -> None:
        attempt = 0
        while not self._closed.is_set():
            try:
                self._stream = self._devices.StreamEvents(pb.StreamEventsRequest(), metadata=self._metadata)
                for event in self._stream:
                    if event.HasField("opened"):
                        attempt = 0
                        with self._opened:
                            self._connection_id = event.opened.connection_id
                            self._opened.notify_all()
                    else:
                        self._dispatch(event)
            except grpc.RpcError as error:
                failure = error.code().name
            except Exception:  # a bug here must not end the link: the host would never reconnect
                log.exception("reading the simulator's event stream failed")
                failure = "an error"
            else:
                failure = "the stream ended"
            with self._opened:
                lost, self._connection_id = self._connection_id, ""
                engines = list(self._engines.values())
            if self._closed.is_set():
                return
            if lost:
                log.warning("the simulator's event stream broke", extra=fields(address=self.address, error=failure))
                for engine in engines:
                    self._events.submit(engine.profile_id, engine.connection_lost)
            else:
                log.info("the simulator is unreachable", extra=fields(address=self.address, error=failure))
            self._closed.wait(STREAM_RETRY_S[min(attempt, len(STREAM_RETRY_S) - 1)])
            attempt += 1

    def _dispatch(self, event: pb.DeviceEvent) -> None:
        with self._lock:
            engine = self._engines.get(event.profile_id)
        if engine is not None and engine.attachment_id == event.attachment_id:
            self._events.submit(event.profile_id, lambda: engine.handle(event))


_link: SimulatorLink | None = None
_link_lock = threading.Lock()


def process_link() -> SimulatorLink:
    """This engine host's link to the simulator service (WAGW_SIMULATOR_ADDRESS), made on first use."""
    global _link
    with _link_lock:
        if _link is None:
            settings = load()
            _link = SimulatorLink(settings.simulator_target, internal_metadata(settings))
        return _link


class SimulatorEngine(Engine):
    spec = engine_specs.SIMULATOR

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit, *,
                 link: SimulatorLink | None = None):
        super().__init__(profile_id, settings, store, emit)
        self.link = link or process_link()
        self.attachment_id = uuid.uuid4().hex
        # A session is open or opening: a broken stream means a dropped connection, to be reconnected.
        self._open = False
        self.link.register(self)

    @property
    def recognises_repeats(self) -> bool:
        """The simulated WhatsApp dedupes by our message id, unless the profile's `recognisesRepeats` setting
        keeps the id from it (to try a deliveryGuarantee as a real engine would need it)."""
        return bool(self.settings.get("recognisesRepeats", True))

    # Session

    def connect(self, phone_number: str = "") -> str:
        credentials = self.store.load()
        self._open = True
        try:
            request = pb.ConnectRequest(device=self.link.device(self), phone_number=phone_number,
                                        auto_pair=self._auto_pair())
            if credentials:
                request.credentials.CopyFrom(pb.Credentials(
                    phone_number=str(credentials.get("phone_number", "")),
                    push_name=str(credentials.get("push_name", "")),
                    device_id=int(credentials.get("device_id", 0)), token=str(credentials.get("token", ""))))
            return self.link.call("Connect", request).pairing_code
        except EngineError as error:
            if error.code == "UNAVAILABLE":  # no answer: a dropped connection, which the host reconnects
                self.connection_lost()
            else:
                self._open = False
            raise

    def disconnect(self) -> None:
        self._open = False
        self._quietly("Disconnect", lambda device: pb.DisconnectRequest(device=device))

    def logout(self) -> None:
        self._open = False
        self.link.call("Logout", pb.LogoutRequest(device=self.link.device(self)))

    def close(self) -> None:
        self._open = False
        self._quietly("Release", lambda device: pb.ReleaseRequest(device=device))
        self.link.unregister(self)

    # Messages

    def send(self, message: OutgoingMessage) -> str:
        self.require(send_operation(message.type))
        request = pb.SendRequest(device=self.link.device(self), chat_id=message.chat_id, type=message.type,
                                 content=json.dumps(message.content),
                                 id=message.id if self.recognises_repeats else "",
                                 reply_to=message.reply_to.wa_message_id if message.reply_to else "")
        if message.media is not None:
            data = message.media.data
            request.media.CopyFrom(pb.Media(mimetype=message.media.mimetype, filename=message.media.filename,
                                            size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data))
        return self.link.call("Send", request).wa_message_id

    # Conversations: reactions, edits and revokes are messages about another message, as in WhatsApp

    def react(self, message: MessageRef, emoji: str) -> None:
        self._about(message, "reaction", emoji=emoji)

    def edit(self, message: MessageRef, text: str) -> None:
        self._about(message, "edit", text=text)

    def revoke(self, message: MessageRef) -> None:
        self._about(message, "revoke")

    def _about(self, message: MessageRef, kind: str, **content: str) -> None:
        self.link.call("Send", pb.SendRequest(device=self.link.device(self), chat_id=message.chat_id, type=kind,
                                              content=json.dumps({"target": message.wa_message_id, **content})))

    def delete_for_me(self, message: MessageRef) -> None:
        self.link.call("DeleteForMe", pb.DeleteForMeRequest(device=self.link.device(self), chat_id=message.chat_id,
                                                            wa_message_id=message.wa_message_id))

    def mark_read(self, chat_id: str, messages: list[MessageRef]) -> None:
        self.link.call("MarkRead", pb.MarkReadRequest(device=self.link.device(self), chat_id=chat_id,
                                                      wa_message_ids=[m.wa_message_id for m in messages]))

    def send_presence(self, chat_id: str, presence: str, last_received: MessageRef | None = None) -> None:
        self.link.call("SendPresence", pb.SendPresenceRequest(device=self.link.device(self), chat_id=chat_id,
                                                              presence=presence))

    def contact_picture(self, chat_id: str) -> Picture | None:
        try:
            reply = self.link.call("GetPicture", pb.GetPictureRequest(device=self.link.device(self), chat_id=chat_id))
        except EngineError as error:
            if error.code == "NOT_FOUND":
                return None
            raise
        return Picture(url=reply.url, picture_id=reply.picture_id)

    def update_blocklist(self, chat_ids: list[str], block: bool) -> None:
        self.link.call("UpdateBlocklist", pb.UpdateBlocklistRequest(
            device=self.link.device(self), action="block" if block else "unblock", chat_ids=chat_ids))

    def download_media(self, media_ref: dict[str, Any]) -> bytes:
        return self.link.call("DownloadMedia", pb.DownloadMediaRequest(device=self.link.device(self),
                                                                       sha256=str(media_ref.get("sha256", "")))).data

    def lookup(self, phone_numbers: list[str]) -> dict[str, str]:
        reply = self.link.call("Lookup", pb.LookupRequest(device=self.link.device(self), phone_numbers=phone_numbers))
        return {phone: phone_to_chat_id(phone) if reply.registered.get(phone) else "" for phone in phone_numbers}

    def list_templates(self) -> list[dict[str, Any]]:
        reply = self.link.call("ListTemplates", pb.ListTemplatesRequest(device=self.link.device(self)))
        return [json.loads(entry) for entry in reply.templates]

    # Groups

    def list_groups(self) -> list[GroupInfo]:
        reply = self.link.call("ListGroups", pb.ListGroupsRequest(device=self.link.device(self)))
        return [_group(group) for group in reply.groups]

    def get_group(self, group_id: str) -> GroupInfo:
        return _group(self.link.call("GetGroup", pb.GetGroupRequest(device=self.link.device(self),
                                                                    group_id=group_id)))

    def create_group(self, name: str, participants: list[str]) -> tuple[GroupInfo, list[ParticipantResult]]:
        reply = self.link.call("CreateGroup", pb.CreateGroupRequest(device=self.link.device(self), name=name,
                                                                    participants=participants))
        return _group(reply.group), [_result(result) for result in reply.results]

    def update_group(self, group_id: str, *, name: str | None = None, description: str | None = None,
                     announce: bool | None = None, locked: bool | None = None) -> GroupInfo:
        changes = {key: value for key, value in
                   {"name": name, "description": description, "announce": announce, "locked": locked}.items()
                   if value is not None}
        return _group(self.link.call("UpdateGroup", pb.UpdateGroupRequest(
            device=self.link.device(self), group_id=group_id, **changes)))

    def update_participants(self, group_id: str, action: str, participants: list[str]) -> list[ParticipantResult]:
        reply = self.link.call("UpdateParticipants", pb.UpdateParticipantsRequest(
            device=self.link.device(self), group_id=group_id, action=action, participants=participants))
        return [_result(result) for result in reply.results]

    def leave_group(self, group_id: str) -> None:
        self.link.call("LeaveGroup", pb.LeaveGroupRequest(device=self.link.device(self), group_id=group_id))

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        return self.link.call("InviteLink", pb.InviteLinkRequest(device=self.link.device(self), group_id=group_id,
                                                                 revoke=revoke)).code

    # Events, on the link's threads: one profile's in order

    def handle(self, event: pb.DeviceEvent) -> None:
        """One event of the network for this device: credentials are kept, the rest goes to the host as an
        EngineEvent, which the host acknowledges once it has recorded it (an event the network keeps stays
        there until then). When the host could not record it (its database refused), it is offered again, with
        a growing pause, while this engine is its profile's device: the profile's later events wait behind it."""
        kind = event.WhichOneof("kind")
        acknowledge = (lambda: self.link.acknowledge(event.seq)) if event.seq else None
        if kind in ("credentials", "replaced"):
            if kind == "credentials":
                credentials = event.credentials
                self.store.save({"phone_number": credentials.phone_number, "push_name": credentials.push_name,
                                 "device_id": credentials.device_id, "token": credentials.token})
            else:  # another engine host attached this device: the session is its now
                self._open = False
            if acknowledge is not None:
                acknowledge()
            return
        if kind in ("qr_timeout", "disconnected", "logged_out", "banned"):
            self._open = False
        if kind == "logged_out":
            self.store.clear()
        engine_event = dataclasses.replace(_engine_event(event), ack=acknowledge)
        for attempt in itertools.count():
            try:
                self.emit(engine_event)
                return
            except Exception:  # logged by the host; kept by the network, unacknowledged
                if not self.link.wait_for_retry(self, RECORD_RETRY_S[min(attempt, len(RECORD_RETRY_S) - 1)]):
                    return

    def connection_lost(self) -> None:
        """The stream to the network broke (or a call got no answer): an open session dropped."""
        if self._open:
            self._open = False
            self.emit(EngineEvent(base.DISCONNECTED, {
                "reason": "the connection to the simulated WhatsApp was lost", "reconnect": True}))

    def _auto_pair(self) -> pb.AutoPair | None:
        if not self.settings.get("autoPair"):
            return None
        return pb.AutoPair(
            phone_number=self.settings.get("autoPairPhone") or default_auto_pair_phone(self.profile_id),
            delay_seconds=int(self.settings.get("autoPairDelayMs", engine_specs.SIMULATOR_AUTO_PAIR_DELAY_MS)) / 1000,
        )

    def _quietly(self, method: str, request: Callable[[pb.Device], Any]) -> None:
        """A call that closes the session: when the service cannot be reached, the session is closed already
        (the service drops a broken stream's devices; a restarted one has none)."""
        try:
            self.link.call(method, request(self.link.device(self, wait=False)))
        except EngineError as error:
            if error.code not in ("UNAVAILABLE", "PROFILE_NOT_CONNECTED"):
                raise


def _time(stamp: Any) -> dt.datetime:
    return stamp.ToDatetime(tzinfo=dt.UTC)


def _engine_event(event: pb.DeviceEvent) -> EngineEvent:
    """The network's event as the engine interface's (base.py)."""
    kind = event.WhichOneof("kind")
    if kind == "qr_code":
        return EngineEvent(base.QR, {"code": event.qr_code.code, "expires_at": _time(event.qr_code.expires_at)})
    if kind == "pairing_code":
        return EngineEvent(base.PAIRING, {"code": event.pairing_code.code})
    if kind == "qr_timeout":
        return EngineEvent(base.QR_TIMEOUT, {})
    if kind == "connected":
        return EngineEvent(base.CONNECTED, {"phone_number": event.connected.phone_number,
                                            "push_name": event.connected.push_name})
    if kind == "disconnected":
        return EngineEvent(base.DISCONNECTED, {"reason": event.disconnected.reason,
                                               "reconnect": event.disconnected.reconnect})
    if kind == "logged_out":
        return EngineEvent(base.LOGGED_OUT, {"reason": event.logged_out.reason})
    if kind == "banned":
        until = _time(event.banned.until) if event.banned.HasField("until") else None
        return EngineEvent(base.BANNED, {"reason": event.banned.reason, "until": until})
    if kind == "message":
        return _message_event(event.message)
    if kind == "receipt":
        receipt = event.receipt
        return EngineEvent(base.RECEIPT, {"wa_message_id": receipt.wa_message_id, "chat_id": receipt.chat_id,
                                          "status": receipt.status, "timestamp": _time(receipt.timestamp)})
    if kind == "group_change":
        change = event.group_change
        data: dict[str, Any] = {"group_id": change.group_id, "action": change.action,
                                "participants": list(change.participants), "by": change.by}
        for name in ("name", "description", "announce", "locked", "invite_link_revoked"):
            if change.HasField(name):
                data[name] = getattr(change, name)
        return EngineEvent(base.GROUP, data)
    raise ValueError(f"no engine event for a simulator '{kind}' event")


# Messages about another message, as the engine interface's events (base.py).
_ABOUT = {"reaction": base.REACTION, "edit": base.EDITED, "revoke": base.REVOKED}


def _message_event(message: pb.IncomingMessage) -> EngineEvent:
    content = json.loads(message.content)
    common = {"chat_id": message.chat_id, "timestamp": _time(message.timestamp)}
    if message.type in _ABOUT:
        return EngineEvent(_ABOUT[message.type], {**common, "sender": message.sender, **content})
    if message.type == "poll_vote":
        return EngineEvent(base.POLL_VOTE, {**common, "voter": message.sender, "target": content["poll"],
                                            "option_hashes": content.get("selected_hashes", [])})
    media = content.get("media")
    incoming = base.IncomingMessage(
        wa_message_id=message.wa_message_id, chat_id=message.chat_id, sender=message.sender, type=message.type,
        content=content, timestamp=_time(message.timestamp), sender_name=message.sender_name,
        media_ref={"sha256": media["sha256"]} if media else None)
    return EngineEvent(base.MESSAGE, incoming.as_dict())


def _group(group: pb.Group) -> GroupInfo:
    return GroupInfo(group_id=group.group_id, name=group.name, description=group.description, owner=group.owner,
                     created_at=_time(group.created_at),
                     participants=tuple(Participant(p.chat_id, p.role) for p in group.participants),
                     announce=group.announce, locked=group.locked)


def _result(result: pb.ParticipantResult) -> ParticipantResult:
    return ParticipantResult(result.chat_id, result.status, result.error)

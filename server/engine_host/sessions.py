"""The live sessions of one engine host, and what their events mean for a profile (DESIGN.md §4).

Engines report what happens as EngineEvents; this module turns them into profile statuses and event-log
rows (in a group commit: the events that arrive together share a transaction, and one that fails fails alone),
and owns the policy: dropped connections reconnect with backoff, a temporary ban is waited out, a logout forgets
the credentials, and at start every profile that should be connected is opened again with its stored credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from server.core import delivery_guarantee, events, lids, lifecycle, rows, urls
from server.core.config import load
from server.core.db import CommitGroup, Prepared, connection, database, is_sqlite, utcnow, write_transaction
from server.core.engine_specs import CLOUDAPI
from server.core.errors import ApiError, conflict, not_found
from server.core.hosts import HEARTBEAT_EVERY_S, alive_hosts
from server.core.logs import fields
from server.core.media_store import MediaStore
from server.core.models import EngineHost, Message, Profile
from server.engine_host import placement
from server.engine_host.conversations import Conversations, quote
from server.engine_host.engines import base
from server.engine_host.engines.registry import engine_class
from server.engine_host.engines.store import DatabaseSessionStore
from server.engine_host.media import resolve as resolve_media

T = TypeVar("T")
log = logging.getLogger("wagw.sessions")

# The host's reconnect delays, attempt after attempt; the last one repeats for as long as the outage lasts.
RECONNECT_BACKOFF_S = (1, 2, 4, 8, 15, 30, 60, 120, 180)
# When an engine reconnects by itself (whatsmeow after a drop), how long the host lets it before it takes over:
# whatsmeow waits 2 s longer after each failed dial, without a cap, so a long outage would outgrow the host's.
ENGINE_RETRIES_FOR_S = 600.0
# How many WhatsApp ids' early receipts a host keeps (SessionManager._early_receipts).
EARLY_RECEIPTS_LIMIT = 10_000
# What a placement round reads: every profile that should be connected, whichever host holds it.
_WANTED = Prepared(lambda: Profile.select(Profile.id, Profile.host_id, Profile.status)
                   .where(Profile.desired_state == "connected"))


class SessionManager:
    def __init__(self, host_id: str, address: str, database_url: str, *, url_guard: urls.Guard | None = None,
                 media: MediaStore | None = None):
        self.host_id = host_id
        self.address = address
        self.database_url = database_url
        self._engines: dict[str, base.Engine] = {}
        self._lock = threading.RLock()
        self._reconnects: dict[str, threading.Timer] = {}
        self._attempts: dict[str, int] = {}
        self._stopping = threading.Event()
        # One per profile: a send and the receipts for it are recorded in order (an engine may report a
        # receipt before send() has returned the message's WhatsApp id).
        self._send_locks: dict[str, threading.RLock] = defaultdict(threading.RLock)
        # Receipts for a WhatsApp id that no message has yet, by (profile, id), not acknowledged. After a crash
        # between an engine's send and its record, the retried send learns the id only after its receipts came:
        # they wait here, and are acknowledged once applied.
        self._early_receipts: OrderedDict[tuple[str, str], list[base.EngineEvent]] = OrderedDict()
        # Every event's record, in group commit: the events of every profile that arrive while one transaction
        # is under way are recorded together in the next one, each in a savepoint, or receipts without one (their
        # record is replayable: CommitGroup) (three receipts a sent message, each with a transaction of its own,
        # were most of the host's write turns). One group for all profiles,
        # unlike the API's sends: an event's record locks a message and its batch, and a profile's send gate only
        # when a receipt is the first word of a message still PENDING (rare); were that ever to meet a worker's
        # lease renewal in a PostgreSQL deadlock, the transaction fails and every engine offers its events again.
        # On SQLite sends record here too (`_write`); on PostgreSQL receipts do not (`_record`).
        self._records = CommitGroup()
        # What media URLs may reach (server/core/urls.py).
        self.url_guard = url_guard or urls.Guard()
        # Reactions, edits, revokes, reads, presence, pictures, blocks and media (conversations.py).
        settings = load()
        self.conversations = Conversations(
            self, media or MediaStore(settings.media_dir, int(settings.media_max_mb * 1024 * 1024)),
            dt.timedelta(days=settings.media_retention_days), self.url_guard)

    # Requests

    def connect(self, profile_id: str, phone_number: str = "") -> str:
        with database.connection_context(), write_transaction():
            profile = _profile(profile_id)
            if profile.status == "CONNECTED" and profile_id in self._engines:
                return ""
            profile.desired_state = "connected"
            profile.host_id = self.host_id
            profile.pairing_code = ""
            profile.save()
            self._set_status(profile, "CONNECTING")
        return self._open(profile_id, phone_number)

    def disconnect(self, profile_id: str) -> None:
        self._cancel_reconnect(profile_id)
        with database.connection_context(), write_transaction():
            profile = _profile(profile_id)
            profile.desired_state = "disconnected"
            profile.save()
        engine = self._engines.pop(profile_id, None)
        if engine is not None:
            engine.disconnect()
        with database.connection_context(), write_transaction():
            self._set_status(_profile(profile_id), "DISCONNECTED")

    def logout(self, profile_id: str) -> None:
        self._cancel_reconnect(profile_id)
        engine = self._engine(profile_id)
        with database.connection_context(), write_transaction():
            profile = _profile(profile_id)
            profile.desired_state = "disconnected"
            profile.save()
        engine.logout()
        self._engines.pop(profile_id, None)
        engine.store.clear()
        with database.connection_context(), write_transaction():
            self._set_status(_profile(profile_id), "LOGGED_OUT")

    def forget(self, profile_id: str) -> None:
        """The profile is being deleted: unlink if we can, then drop the session and its keys."""
        self._cancel_reconnect(profile_id)
        engine = self._engines.pop(profile_id, None)
        if engine is None:
            return
        try:
            engine.logout()
        except ApiError as error:
            log.info("logout on delete failed", extra=fields(profile_id=profile_id, error=error.message))
        engine.close()
        engine.store.clear()

    def engine(self, profile_id: str) -> base.Engine:
        """The live engine of a profile this host holds (for sends and group calls)."""
        engine = self._engines.get(profile_id)
        if engine is None:
            raise ApiError("PROFILE_NOT_CONNECTED", f"profile '{profile_id}' has no session on this host")
        return engine

    def send(self, message_id: str, profile_id: str = "") -> str:
        """Send a stored outbound message through its profile's session; record it SENT. Returns WhatsApp's id.
        A message already sent is answered with its id, not sent again; one whose earlier send has an unknown
        outcome follows the profile's delivery guarantee (server/core/delivery_guarantee.py).

        With `profile_id` (a worker's step knows it), a message with no media to fetch is read by its dispatch mark,
        under the profile's send lock: one statement where the read and the mark were two. Any other (media, or not
        PENDING, or marked before) takes the general path, read first."""
        if profile_id:
            engine = self.engine(profile_id)
            with self._send_locks[profile_id]:
                handed_at = utcnow()  # when it went to WhatsApp: its sent time, from which a batch's next item is paced
                message = self._write(lambda: lifecycle.dispatch_reading(message_id, profile_id, handed_at),
                                      savepoint=False, transaction=False)
                if message is not None:
                    try:
                        outgoing = self._outgoing(message, None)  # a reply's quote may fail
                    except Exception:  # whatever stopped it, it never left
                        with database.connection_context():
                            lifecycle.undispatch(message_id, utcnow())
                        raise
                    return self._send_dispatched(engine, message, outgoing, handed_at)
        with database.connection_context():
            message = rows.message(message_id)
            if message is None:
                raise not_found("message", message_id)
            if message.wa_message_id and message.status != "PENDING":
                return message.wa_message_id
            media = message.content.get("media")
            outgoing = self._outgoing(message, media)
        engine = self.engine(message.profile_id)
        with self._send_locks[message.profile_id]:
            handed_at = utcnow()
            # The mark is the check: only a message still PENDING and never given to WhatsApp takes it. The
            # message is read again only when it does not (a concurrent retry of it may have sent it).
            dispatched = self._write(lambda: lifecycle.dispatch(message_id, handed_at), savepoint=False,
                                     transaction=False)
            with database.connection_context():
                if not dispatched:
                    recorded = rows.message(message_id)
                    if recorded is None:  # deleted with its profile meanwhile
                        raise not_found("message", message_id)
                    if recorded.wa_message_id and recorded.status != "PENDING":
                        return recorded.wa_message_id
                    if recorded.status != "PENDING":
                        raise conflict(f"message '{message_id}' is {recorded.status}: {recorded.error}", state=True)
                    self._outcome_unknown(engine, recorded, handed_at)
            wa_message_id = self._send_dispatched(engine, message, outgoing, handed_at)
        if media is not None and "url" in media and outgoing.media is not None:  # inline media stays in the row
            self.conversations.keep(message, outgoing.media.data, outgoing.media.mimetype, outgoing.media.filename)
        return wa_message_id

    def _outgoing(self, message: Message, media: dict[str, Any] | None) -> base.OutgoingMessage:
        """What the engine sends for a stored message: its content, its `media` (None: none to fetch) fetched or
        decoded, a reply's quote looked up."""
        content = {key: value for key, value in message.content.items() if key != "media"}
        return base.OutgoingMessage(
            chat_id=message.chat_id, type=message.type.lower(), content=content,
            media=resolve_media(message.type, media, self.url_guard, voice_note=bool(content.get("voice_note")))
            if media else None,
            reply_to=quote(message.profile_id, message.reply_to) if message.reply_to else None,
            mentions=tuple(message.mentions), id=message.id,
        )

    def _send_dispatched(self, engine: base.Engine, message: Message, outgoing: base.OutgoingMessage,
                         handed_at: dt.datetime) -> str:
        """The engine's send of a message marked dispatched, and its record; under the profile's send lock."""
        try:
            wa_message_id = engine.send(outgoing)
        except ApiError as error:
            if error.code != "UNAVAILABLE":  # the engine's answer: it did not leave (no answer: unknown)
                with database.connection_context():
                    lifecycle.undispatch(message.id, utcnow())
            raise

        def record_sent() -> list[base.EngineEvent]:
            lifecycle.sent(message, wa_message_id, handed_at)
            with self._lock:
                early = self._early_receipts.pop((message.profile_id, wa_message_id), [])
            for receipt in early:
                _record_receipt(message.profile_id, receipt.data)
            return early

        # Each record keeps its own transaction (a single send's SENT is one statement on PostgreSQL): one around
        # them all would only add its BEGIN and COMMIT. An early receipt that fails to record no longer undoes the
        # send's record (WhatsApp did take the message); the receipt itself is not acknowledged, as before.
        early = self._write(record_sent, transaction=False)
        for receipt in early:
            _acknowledge(receipt)
        return wa_message_id

    def _write(self, work: Callable[[], T], *, savepoint: bool = True, transaction: bool = True) -> T:
        """Run a send's record in a write transaction. On SQLite, in the group commit of the host's events
        (`_records`): the whole database has one writer at a time, and during deliveries its lock was held nine
        tenths of the time (bench.delivery, two engine hosts), half of it by holders waiting for a core or the GIL:
        a send that joins the transaction under way shares its turn. On PostgreSQL, in one of its own: a send locks
        its profile's gate row, which a group holding several profiles' rows could take in another order than a
        worker renewing its leases; or, for work whose statements keep their own transactions (`transaction=False`:
        one statement, db.write_statement, or records that each take theirs), in none."""
        if is_sqlite():
            return self._records.run(work, savepoint=savepoint)
        with database.connection_context(), write_transaction() if transaction else contextlib.nullcontext():
            return work()

    @staticmethod
    def _outcome_unknown(engine: base.Engine, message: Message, now: dt.datetime) -> None:
        """An earlier send of the message was given to WhatsApp and its answer never recorded (its engine host
        died, or the engine did not answer): send it again if the engine or the profile's guarantee allows,
        else fail it OUTCOME_UNKNOWN and raise."""
        profile = _profile(message.profile_id)
        if delivery_guarantee.resend_unknown(engine.recognises_repeats, profile.delivery_guarantee):
            log.info("sending again a message whose outcome is unknown",
                     extra=fields(message_id=message.id, engine=engine.name,
                                  guarantee=profile.delivery_guarantee))
            return
        reason = delivery_guarantee.outcome_unknown_reason(engine.name)
        lifecycle.failed(message, reason, now)
        log.warning("a message whose outcome is unknown failed", extra=fields(message_id=message.id))
        raise conflict(f"message '{message.id}' is FAILED: {reason}", state=True)

    # Lifecycle of the host

    def start(self) -> None:
        self._beat()
        self.restore()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        threading.Thread(target=self._placement_loop, name="placement", daemon=True).start()

    def stop(self) -> None:
        """Close every session without changing what the profiles want: the next host reopens them."""
        self._stopping.set()
        for timer in list(self._reconnects.values()):
            timer.cancel()
        for engine in list(self._engines.values()):
            try:
                engine.close()
            except Exception:
                log.exception("closing an engine failed")
        self._engines.clear()
        with database.connection_context(), write_transaction():
            EngineHost.delete().where(EngineHost.id == self.host_id).execute()

    def restore(self) -> None:
        """One round of placement (server/engine_host/placement.py): open the profiles this host holds and has no
        session for (after a restart with the same id, or handed over by another host), claim this host's share
        of the orphans of hosts that died, and hand sessions over to a host that holds fewer. A session of this
        host left RECONNECTING with no attempt scheduled (one failed in a way nobody caught) is retried too."""
        with database.connection_context():
            alive = alive_hosts()
            # Plain tuples: every host reads every wanted profile every round, and making model instances of them
            # was most of an idle engine host's time.
            wanted = _WANTED.execute().fetchall()
        if self.host_id not in alive:  # our own lease lapsed: our profiles are the others' to take now
            return
        holders = {profile_id: host_id for profile_id, host_id, _ in wanted}
        with self._lock:
            stalled = [profile_id for profile_id, host_id, status in wanted
                       if profile_id in self._engines and host_id == self.host_id
                       and status == "RECONNECTING" and profile_id not in self._reconnects]
        for profile_id in stalled:
            log.info("retrying a stalled session", extra=fields(profile_id=profile_id))
            self._schedule_reconnect(profile_id, 0)
        loads = dict.fromkeys(alive, 0)
        for host_id in holders.values():
            if host_id in loads:
                loads[host_id] += 1
        todo = placement.plan(loads, [profile_id for profile_id, host_id in holders.items() if host_id not in loads])
        mine = sorted(profile_id for profile_id, host_id in holders.items()
                      if host_id == self.host_id and profile_id not in self._engines)
        claimed = [profile_id for profile_id, host_id in todo.claims.items()
                   if host_id == self.host_id and self._claim(profile_id, holders[profile_id])]
        for profile_id in mine + claimed:
            log.info("restoring session", extra=fields(profile_id=profile_id))
            try:
                self.connect(profile_id)
            except ApiError as error:
                log.warning("restore failed", extra=fields(profile_id=profile_id, error=error.message))
        targets = [to for giver, to in todo.moves if giver == self.host_id]
        # The sessions to move are looked up only when there is somewhere to move them (rarely: every round of
        # every host runs this).
        for profile_id, target in zip(self._movable() if targets else [], targets, strict=False):
            self._hand_over(profile_id, target)

    def _claim(self, profile_id: str, previous: str | None) -> bool:
        """Take an orphan, unless another host took it since we looked (compare-and-set on its row)."""
        held = Profile.host_id.is_null() if previous is None else Profile.host_id == previous
        with database.connection_context(), write_transaction():
            return bool(Profile.update(host_id=self.host_id).where((Profile.id == profile_id) & held).execute())

    def _movable(self) -> list[str]:
        """The sessions this host may hand over: connected ones (a login in progress stays where it is)."""
        with database.connection_context():
            connected = [row.id for row in Profile.select(Profile.id).where(
                (Profile.host_id == self.host_id) & (Profile.status == "CONNECTED")
                & (Profile.desired_state == "connected")).order_by(Profile.id.desc())]
        return [profile_id for profile_id in connected if profile_id in self._engines]

    def _hand_over(self, profile_id: str, target: str) -> None:
        """Close the profile's session here, then name `target` as its host, which opens it on its next round.
        Under the profile's send lock, so no send is half-way through this host's session when it closes."""
        self._cancel_reconnect(profile_id)
        with self._send_locks[profile_id]:
            engine = self._engines.pop(profile_id, None)
            if engine is not None:
                engine.close()
            with database.connection_context(), write_transaction():
                profile = Profile.get_or_none(Profile.id == profile_id)
                if profile is None or profile.host_id != self.host_id:
                    return
                profile.host_id = target
                self._set_status(profile, "RECONNECTING", f"moving to engine host {target}")
        log.info("session handed over", extra=fields(profile_id=profile_id, to=target))

    def _heartbeat_loop(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(HEARTBEAT_EVERY_S):
            try:
                self._beat()
            except Exception:
                log.exception("heartbeat failed")
            now = time.monotonic()
            if now - last > 2 * HEARTBEAT_EVERY_S:  # the others count this host gone after HOST_STALE_AFTER
                log.warning("heartbeat late", extra=fields(seconds=round(now - last, 2)))
            last = now

    def _placement_loop(self) -> None:
        """Apart from the heartbeat, so that slow connects never delay the beat that keeps this host's lease."""
        while not self._stopping.wait(HEARTBEAT_EVERY_S):
            try:
                self.restore()
            except Exception:
                log.exception("placement failed")

    def _beat(self) -> None:
        # On a connection the beating thread keeps: a burst of work that takes every pooled connection (many
        # sessions restored at once) must not make this host look dead to the others.
        with connection(keep=True), write_transaction():
            updated = (EngineHost.update(address=self.address, heartbeat_at=utcnow())
                       .where(EngineHost.id == self.host_id).execute())
            if not updated:
                EngineHost.create(id=self.host_id, address=self.address)

    # Engines and their events

    def _engine(self, profile_id: str) -> base.Engine:
        with self._lock:
            engine = self._engines.get(profile_id)
            if engine is None:
                with database.connection_context():
                    profile = _profile(profile_id)
                store = DatabaseSessionStore(profile_id, profile.engine, self.database_url)
                engine = engine_class(profile.engine)(
                    profile_id, profile.engine_settings, store, lambda event: self.on_event(profile_id, event)
                )
                self._engines[profile_id] = engine
            return engine

    def _open(self, profile_id: str, phone_number: str) -> str:
        engine = self._engine(profile_id)
        code = engine.connect(phone_number)
        if code:
            with database.connection_context(), write_transaction():
                Profile.update(pairing_code=code).where(Profile.id == profile_id).execute()
        return code

    def on_event(self, profile_id: str, event: base.EngineEvent) -> None:
        """Called on the engine's own threads for everything that happens on a session. The event is
        acknowledged (`event.ack`) once it is recorded: a receipt for a message whose send is not recorded yet
        waits on this host, unacknowledged, until it is (so a host that dies meanwhile loses nothing: the
        network hands it to the next host). Raises when recording failed: the engine keeps the event and
        offers it again. Must not be called inside a transaction: another thread may record it (`_records`)."""
        if event.type == base.RECEIPT and event.data.get("status") not in _RECEIPT_STATUS:
            _acknowledge(event)  # nothing to record ("server" among them: one of every sent message's three)
            return

        def record() -> bool:
            if event.type == base.RECEIPT:  # two of every sent message's events: no profile row needed
                return self._receipt(profile_id, event)
            profile = rows.profile(profile_id)
            if profile is not None:
                self._apply(profile, event)
            return False

        try:
            with self._send_locks[profile_id]:
                waiting = self._record(event, record)
                if waiting:  # under the profile's send lock still: its send's record takes it from here
                    self._wait_for_send(profile_id, event)
        except Exception:
            log.exception("handling an engine event failed",
                          extra=fields(profile_id=profile_id, event=event.type))
            raise
        if not waiting:
            _acknowledge(event)
        self._follow_up(profile_id, event)

    def _record(self, event: base.EngineEvent, record: Callable[[], bool]) -> bool:
        """Run an event's `record`: in the host's group commit (`_records`), or on PostgreSQL for a receipt at once
        (lifecycle.receipt: a delivered or read one by statements that commit by themselves, a failed one in a
        transaction of its own). The group runs one transaction at a time for all the host's events (SQLite's one
        writer takes turns anyway); on PostgreSQL a receipt would wait for it only to share a COMMIT, a round trip
        more than it saves."""
        if event.type == base.RECEIPT and not is_sqlite():
            with database.connection_context():
                return record()
        # A receipt's record is database work only: it goes without a savepoint (CommitGroup).
        return self._records.run(record, replayable=event.type == base.RECEIPT)

    def _apply(self, profile: Profile, event: base.EngineEvent) -> None:
        """Record an event other than a receipt (`_receipt`), in the caller's transaction."""
        data = event.data
        if event.type == base.QR:
            profile.qr_code, profile.qr_expires_at = data["code"], _naive(data["expires_at"])
            profile.save()
            events.record("qr.updated", profile.id, {"qr": data["code"], "expiresAt": data["expires_at"]})
            self._set_status(profile, "QR_READY")
        elif event.type == base.PAIRING:
            profile.pairing_code = data["code"]
            profile.save()
            events.record("qr.updated", profile.id, {"pairingCode": data["code"]})
        elif event.type == base.QR_TIMEOUT:
            profile.desired_state = "disconnected"
            self._set_status(profile, "DISCONNECTED", "the QR code expired before it was scanned")
        elif event.type == base.CONNECTED:
            profile.phone_number = data.get("phone_number") or profile.phone_number
            self._set_status(profile, "CONNECTED")
        elif event.type == base.DISCONNECTED:
            wanted = data.get("reconnect") and profile.desired_state == "connected"
            self._set_status(profile, "RECONNECTING" if wanted else "DISCONNECTED", data.get("reason", ""))
        elif event.type == base.LOGGED_OUT:
            profile.desired_state = "disconnected"
            self._set_status(profile, "LOGGED_OUT", data.get("reason", ""))
        elif event.type == base.BANNED:
            self._set_status(profile, "BANNED", data.get("reason", ""))
        elif event.type == base.FAILED:
            self._set_status(profile, "FAILED", data.get("reason", ""))
        elif event.type == base.MESSAGE:
            _record_incoming(profile.id, _by_phone(profile.id, data))
        elif event.type == base.GROUP:
            events.record("group.updated", profile.id, _camel(data))
        else:
            self.conversations.record(profile.id, dataclasses.replace(event, data=_by_phone(profile.id, data)))

    @staticmethod
    def _receipt(profile_id: str, event: base.EngineEvent) -> bool:
        """Record a receipt, in the caller's transaction if any; True when it must wait for its message's send to be
        recorded (`_wait_for_send`, once this is committed). The profile's row is read only when no message has the
        receipt's id: a deleted profile's receipts wait for nothing."""
        return not _record_receipt(profile_id, event.data) and rows.profile(profile_id) is not None

    def _wait_for_send(self, profile_id: str, event: base.EngineEvent) -> None:
        """Keep a receipt, not acknowledged, until its message's send is recorded (`send` applies it then)."""
        with self._lock:
            self._early_receipts.setdefault((profile_id, event.data["wa_message_id"]), []).append(event)
            while len(self._early_receipts) > EARLY_RECEIPTS_LIMIT:
                self._early_receipts.popitem(last=False)

    def _follow_up(self, profile_id: str, event: base.EngineEvent) -> None:
        """What happens after the event is recorded: reconnects, forgetting credentials."""
        if event.type == base.CONNECTED:
            self._attempts.pop(profile_id, None)
            self._cancel_reconnect(profile_id)
        elif event.type == base.DISCONNECTED and event.data.get("reconnect"):
            self._schedule_reconnect(profile_id, ENGINE_RETRIES_FOR_S if event.data.get("engine_retries") else None)
        elif event.type == base.BANNED and event.data.get("until"):
            until = _naive(event.data["until"])
            self._schedule_reconnect(profile_id, max((until - utcnow()).total_seconds(), 0))
        elif event.type in (base.LOGGED_OUT, base.QR_TIMEOUT):
            engine = self._engines.pop(profile_id, None)
            if engine is not None and event.type == base.LOGGED_OUT:
                engine.store.clear()

    def _schedule_reconnect(self, profile_id: str, delay: float | None = None) -> None:
        """The next attempt for a profile, replacing any scheduled one: after `delay`, or after the backoff
        of its attempts so far (RECONNECT_BACKOFF_S)."""
        if self._stopping.is_set():
            return
        with self._lock:
            attempt = self._attempts.get(profile_id, 0)
            self._attempts[profile_id] = attempt + 1
            if delay is None:
                delay = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
            self._cancel_reconnect(profile_id)
            timer = threading.Timer(delay, self._reconnect, args=(profile_id,))
            timer.daemon = True
            self._reconnects[profile_id] = timer
        timer.start()

    def _reconnect(self, profile_id: str) -> None:
        """One attempt, on its timer's thread. The timer stays registered while it runs, so that restore() sees
        an attempt under way; the engine's events schedule the next one. Nothing when the profile was handed
        over or taken over meanwhile: it is the other host's now."""
        try:
            with database.connection_context():
                profile = Profile.get_or_none(Profile.id == profile_id)
            if (profile is None or profile.desired_state != "connected" or profile.status == "CONNECTED"
                    or profile.host_id != self.host_id):
                return
            try:
                self._open(profile_id, "")
            except ApiError as error:
                log.warning("reconnect failed", extra=fields(profile_id=profile_id, error=error.message))
                with database.connection_context():
                    profile = Profile.get(Profile.id == profile_id)
                with self._lock:
                    scheduled = self._reconnects.get(profile_id) is not threading.current_thread()
                # Again unless the engine's event said it needs a person (FAILED), or scheduled the next attempt.
                if profile.status == "RECONNECTING" and not scheduled:
                    self._schedule_reconnect(profile_id)
        finally:
            with self._lock:
                if self._reconnects.get(profile_id) is threading.current_thread():
                    del self._reconnects[profile_id]

    def _cancel_reconnect(self, profile_id: str) -> None:
        with self._lock:
            timer = self._reconnects.pop(profile_id, None)
        if timer is not None:
            timer.cancel()

    @staticmethod
    def _set_status(profile: Profile, status: str, reason: str = "") -> None:
        """Change the status and record `session.status`, in the caller's transaction."""
        previous = profile.status
        profile.status = status
        profile.last_error = reason if status in ("FAILED", "BANNED", "LOGGED_OUT", "RECONNECTING",
                                                  "DISCONNECTED") else ""
        if status != "QR_READY":
            profile.qr_code, profile.qr_expires_at = "", None
        profile.updated_at = utcnow()
        profile.save()
        if status != previous:
            events.record("session.status", profile.id,
                          {"status": status, "previousStatus": previous, "reason": reason})

    def deliver_webhook(self, profile_id: str, payload: dict[str, Any]) -> int:
        """A Cloud API webhook notification for a cloudapi profile, its signature already checked by the API
        server: each event for the profile's own `phoneNumberId` goes through on_event, as if its engine had
        emitted it (no live engine is needed); events for other phone numbers are ignored. Returns how many
        events were handled."""
        from server.engine_host.engines.cloudapi import webhooks  # lazily, like every engine: it loads pywa

        with database.connection_context():
            profile = _profile(profile_id)
        if profile.engine != CLOUDAPI.name:
            raise not_found("cloudapi profile", profile_id)
        phone_id = str(profile.engine_settings.get("phoneNumberId", ""))
        handled = 0
        for event_phone_id, event in webhooks.events_from_webhook(payload):
            if phone_id and event_phone_id == phone_id:
                self.on_event(profile_id, event)
                handled += 1
        return handled


# What an engine's receipt status means for an outbound message. Not "server" (WhatsApp accepted it): send()
# records that from the engine's own answer, so the receipt brings nothing. Either the message is SENT already, or
# its send was never recorded (the host died in between) and no message has the receipt's WhatsApp id.
_RECEIPT_STATUS = {"delivered": "DELIVERED", "read": "READ", "failed": "FAILED"}


def _record_receipt(profile_id: str, data: dict[str, Any]) -> bool:
    """Move an outbound message forward; False when no outbound message has the receipt's WhatsApp id (yet)."""
    status = _RECEIPT_STATUS[data["status"]]
    return lifecycle.receipt(profile_id, data["wa_message_id"], status, utcnow(), data.get("error", ""))


def _acknowledge(event: base.EngineEvent) -> None:
    if event.ack is not None:
        event.ack()


def _by_phone(profile_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """An engine's message data with the people it names by LID under their phone-number chat ids, when the
    profile knows them (server/core/lids.py); a LID given beside a phone number (`lid`) is learned first."""
    person = data.get("sender") or data.get("voter", "")
    if data.get("lid") and person:
        lids.learn(profile_id, data["lid"], person)
    return {**data, **{key: lids.phone_chat_id(profile_id, data[key]) for key in ("chat_id", "sender", "voter")
                       if data.get(key)}}


def _record_incoming(profile_id: str, data: dict[str, Any]) -> None:
    """Store an incoming message (once: engines may redeliver) and record `message.received`."""
    timestamp = data.get("timestamp")
    details = {key: value for key, value in data.items() if key != "media_ref"}  # the engine's keys stay inside
    lifecycle.received(
        profile_id, wa_message_id=data["wa_message_id"], chat_id=data["chat_id"], type_name=data["type"].upper(),
        content=data.get("content", {}), sender=data.get("sender", ""),
        created_at=_naive(timestamp) if isinstance(timestamp, dt.datetime) else utcnow(), details=_camel(details),
        sender_name=data.get("sender_name", ""), media_ref=data.get("media_ref"),
    )


def _profile(profile_id: str) -> Profile:
    profile = Profile.get_or_none(Profile.id == profile_id)
    if profile is None:
        raise not_found("profile", profile_id)
    return profile


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    """Engine data (snake_case) as event data (lowerCamelCase, like the rest of the API)."""
    def convert(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(part.title() for part in rest)

    return {convert(key): _camel(value) if isinstance(value, dict) else value for key, value in data.items()}

"""Delivering one outbound message: wait for its time, its profile's connection and the send gate, then
hand it to the engine host. Returns how long to wait before trying again, or None when the message is done
(sent, failed, or no longer pending). Safe to run twice for one message at once: the gate admits one send
per profile, the status is read again under the gate, and the engine recognises a repeated message id."""

from __future__ import annotations

import logging
import time

from server.core import bulk, outbox, send_gate
from server.core.config import load
from server.core.db import database, utcnow, write_transaction
from server.core.errors import ApiError
from server.core.hosts import effective_status
from server.core.logs import fields
from server.core.models import Batch, Message, Profile
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2

log = logging.getLogger("wagw.delivery")

# How long to wait when the profile is not connected, or the engine host cannot be reached.
NOT_CONNECTED_RETRY_S = 5.0
# How long WhatsApp's rate-overlimit pauses a profile's whole queue.
RATE_LIMIT_PAUSE_S = load().rate_limit_pause_s


def deliver(message_id: str) -> float | None:
    with database.connection_context():
        message = Message.get_or_none(Message.id == message_id)
        if message is None or message.status != "PENDING":
            return None
        if message.batch_id and message.not_before is None:
            return None  # a bulk item whose turn has not come: the previous item schedules it
        wait = (message.not_before - utcnow()).total_seconds() if message.not_before else 0.0
        if wait > outbox.EARLY_S:
            return wait
        if wait > 0:
            time.sleep(wait)  # the last stretch, to the millisecond (bulk pacing)
        profile = Profile.get_by_id(message.profile_id)
        if effective_status(profile) != "CONNECTED":
            return NOT_CONNECTED_RETRY_S
        while wait := send_gate.acquire(profile):
            if wait > outbox.EARLY_S:
                return wait
            time.sleep(wait)  # the previous send is finishing, or the profile's gap is running
        sent = False
        try:
            message = Message.get_by_id(message_id)
            if message.status != "PENDING":  # another delivery of the same message won the race
                return None
            with write_transaction():
                Message.update(handed_at=utcnow(), attempts=Message.attempts + 1).where(
                    Message.id == message_id).execute()
                if message.batch_id:
                    Batch.update(status="PROCESSING", started_at=utcnow()).where(
                        (Batch.id == message.batch_id) & (Batch.status == "QUEUED")).execute()
            engine_client.call(profile, lambda host: host.Send, engine_host_pb2.SendRequest(message_id=message_id))
            sent = True
        except ApiError as error:
            return _failed(profile, message, error)
        finally:
            send_gate.release(profile, sent=sent)
        if message.batch_id:  # the next item waits its gap from this one's send
            bulk.advance(message.batch_id, Message.get_by_id(message_id).sent_at or utcnow())
        return None


def _failed(profile: Profile, message: Message, error: ApiError) -> float | None:
    """Decide what a refused send means: wait and retry, pause the profile, or fail the message."""
    if error.code in ("RATE_LIMITED", "PROFILE_NOT_CONNECTED"):
        # Refused before it left: not handed after all (a bulk cancel may still cancel it).
        with write_transaction():
            Message.update(handed_at=None).where(Message.id == message.id).execute()
    if error.code == "RATE_LIMITED":
        send_gate.pause(profile, RATE_LIMIT_PAUSE_S, error.message)
        log.warning("profile paused", extra=fields(profile_id=profile.id, reason=error.message))
        return RATE_LIMIT_PAUSE_S
    if error.code in ("PROFILE_NOT_CONNECTED", "UNAVAILABLE"):
        return NOT_CONNECTED_RETRY_S
    with write_transaction():
        failed = Message.update(status="FAILED", error=f"{error.code}: {error.message}", updated_at=utcnow()).where(
            (Message.id == message.id) & (Message.status == "PENDING")).execute()
        if failed:
            bulk.item_changed(message, "PENDING", "FAILED")
    if message.batch_id:
        bulk.advance(message.batch_id, utcnow())
    return None

"""Delivering a profile's outbound messages, one step at a time, by the worker holding the lease of the profile's
send gate (server/core/send_gate.py, a durable job: server/core/jobs.py). A step sends at most one message: the
oldest waiting single send or the batch item whose time has come (server/core/lifecycle.py `next_to_send`), once
the gate and the profile's connection allow it. It answers when the next step is due (the gap after this send, a
batch's next item, the end of a pause or of the day at the daily cap, a retry), and never waits itself.

Safe against crashes and repeats: a message is handed over (recorded) before the engine call, a crash leaves it
PENDING and the next holder sends it again, and the engine host recognises a repeated message id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from server.core import jobs, lifecycle, rows, send_gate
from server.core.config import Settings
from server.core.db import database, utcnow
from server.core.errors import ApiError
from server.core.hosts import alive_hosts, effective_status
from server.core.logs import fields
from server.core.models import Message, Profile, SendGate
from server.engine_host import client as engine_client
from wagw.engine.v1 import engine_host_pb2

log = logging.getLogger("wagw.delivery")

# How soon to look again when the profile is not connected, or the engine host cannot be reached.
NOT_CONNECTED_RETRY_S = 5.0
# The engine hosts' liveness as read at most this long ago (one query each step was a tenth of a worker's CPU): a
# host that died since is found out by the call, which fails UNAVAILABLE and is tried again later.
HOSTS_VIEW_S = 0.5


def step(profile_id: str, lease: jobs.Lease, now: dt.datetime, settings: Settings,
         clock: Callable[[], dt.datetime] = utcnow, gate: SendGate | None = None) -> dt.datetime | None:
    """Send the profile's next message if it may go now; returns when to look again (None: nothing waits).
    `gate`: the profile's send gate as the step began (jobs.run_step's snapshot of the job's row; read here when not
    given). `clock` tells the time after the engine call (tests inject both)."""
    with database.connection_context():
        message, later = lifecycle.next_to_send(profile_id, now)
        if message is None:
            return later
        profile = rows.profile(profile_id)
        gate = gate if gate is not None else rows.send_gate(profile_id)
        if profile is None or gate is None:  # deleted, with its messages
            return None
        ready = send_gate.ready_at(gate, profile, now)
        if ready > now:
            return ready
        hosts = alive_hosts(HOSTS_VIEW_S)
        if effective_status(profile, hosts) != "CONNECTED":
            return now + dt.timedelta(seconds=NOT_CONNECTED_RETRY_S)
        if not lifecycle.hand_over(message, now, lease):
            return now  # sent or cancelled meanwhile: look again
        try:
            engine_client.call(profile, lambda host: host.Send,
                               engine_host_pb2.SendRequest(message_id=message.id, profile_id=profile_id), hosts)
        except ApiError as error:
            return _refused(profile, message, error, settings, clock())
        after = clock()
        ready = send_gate.attempted(profile, after)
        return ready if message.batch_id is None else _after_item(profile_id, ready, after)


def _after_item(profile_id: str, ready: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """When to look again after a batch item went. Its record scheduled the batch's next item a delay later, so the
    step looks that up now: answering `ready` (at once, without a gap) would run a second step only to learn it, a
    lease check, a turn of the scheduler's pool and the same lookup for every item of every bulk."""
    with database.connection_context():
        following, later = lifecycle.next_to_send(profile_id, now)
    if following is not None:
        return ready
    return None if later is None else max(ready, later)


def _refused(profile: Profile, message: Message, error: ApiError, settings: Settings, now: dt.datetime
             ) -> dt.datetime:
    """What a refused send means: wait and try again, pause the profile, or fail the message."""
    if error.code in ("RATE_LIMITED", "PROFILE_NOT_CONNECTED"):
        lifecycle.unhand(message, now)  # refused before it left: a batch cancel may still cancel it
    if error.code == "RATE_LIMITED":
        until = now + dt.timedelta(seconds=settings.rate_limit_pause_s)
        send_gate.pause(profile, until, error.message)
        log.warning("profile paused", extra=fields(profile_id=profile.id, reason=error.message))
        return until
    if error.code in ("PROFILE_NOT_CONNECTED", "UNAVAILABLE"):
        return now + dt.timedelta(seconds=NOT_CONNECTED_RETRY_S)
    lifecycle.failed(message, f"{error.code}: {error.message}", now)
    return send_gate.attempted(profile, now)

"""The per-profile send gate (DESIGN.md §5), enforced through the database so that any number of workers
share it: one send in flight per profile, a minimum gap with jitter between sends, a daily cap, and pauses
when WhatsApp pushes back (rate-overlimit, ban). Every decision is one conditional UPDATE, atomic on SQLite
and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import os
import random

import peewee

from server.core.db import utcnow, write_transaction
from server.core.models import Profile, SendGate

# How long a worker may hold the gate for one send before another may take it (a crashed worker's lease).
LEASE = dt.timedelta(seconds=float(os.environ.get("WAGW_SEND_LEASE_S", "").strip() or 60))
_EPOCH = dt.datetime(1970, 1, 1)
# How soon to try again while another send of the profile is in flight.
BUSY_RETRY_S = 0.05


def _today(now: dt.datetime) -> str:
    return now.date().isoformat()


def _row(profile: Profile) -> SendGate:
    gate = SendGate.get_or_none(SendGate.profile == profile.id)
    if gate is None:
        try:
            with write_transaction():
                gate = SendGate.create(profile=profile.id, busy_until=_EPOCH, next_at=_EPOCH, paused_until=_EPOCH)
        except peewee.IntegrityError:  # another worker made it first
            gate = SendGate.get(SendGate.profile == profile.id)
    return gate


def acquire(profile: Profile) -> float:
    """Take the gate for one send: 0 when taken, else the seconds to wait before trying again."""
    now = utcnow()
    gate = _row(profile)
    today = _today(now)
    under_cap = (SendGate.day != today) | (SendGate.sent_today < profile.daily_cap) if profile.daily_cap else True
    with write_transaction():
        taken = (SendGate.update(busy_until=now + LEASE)
                 .where((SendGate.profile == profile.id) & (SendGate.busy_until <= now) & (SendGate.next_at <= now)
                        & (SendGate.paused_until <= now) & under_cap)
                 .execute())
    if taken:
        return 0.0
    gate = SendGate.get(SendGate.profile == profile.id)
    if profile.daily_cap and gate.day == today and gate.sent_today >= profile.daily_cap:
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time())
        return (tomorrow - now).total_seconds()
    if (gate.paused_until or _EPOCH) > now:
        return (gate.paused_until - now).total_seconds()
    if (gate.busy_until or _EPOCH) > now:
        # A send is in flight: it usually ends within moments, then the profile's gap runs.
        return max(BUSY_RETRY_S, profile.min_gap_ms / 1000)
    return max(((gate.next_at or _EPOCH) - now).total_seconds(), 0.01)


def release(profile: Profile, *, sent: bool) -> None:
    """Give the gate back after a send attempt; the next send waits the profile's gap plus jitter."""
    now = utcnow()
    gap_ms = profile.min_gap_ms + (random.randint(0, profile.jitter_ms) if profile.jitter_ms else 0)
    today = _today(now)
    fields: dict[peewee.Field, object] = {SendGate.busy_until: _EPOCH,
                                          SendGate.next_at: now + dt.timedelta(milliseconds=gap_ms)}
    if sent:
        fields[SendGate.sent_today] = peewee.Case(None, [(SendGate.day == today, SendGate.sent_today + 1)], 1)
        fields[SendGate.day] = today
    with write_transaction():
        SendGate.update(fields).where(SendGate.profile == profile.id).execute()


def pause(profile: Profile, seconds: float, reason: str) -> None:
    """Hold every send of the profile (WhatsApp said rate-overlimit, or banned it) and free the gate."""
    with write_transaction():
        SendGate.update(paused_until=utcnow() + dt.timedelta(seconds=seconds), pause_reason=reason,
                        busy_until=_EPOCH).where(SendGate.profile == profile.id).execute()


def sent_today(profile: Profile) -> int:
    gate = SendGate.get_or_none(SendGate.profile == profile.id)
    return gate.sent_today if gate is not None and gate.day == _today(utcnow()) else 0

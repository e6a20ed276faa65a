"""Which engine hosts are alive, and what that means for a profile's status (DESIGN.md §4).

Every engine host writes a heartbeat row (EngineHost) every HEARTBEAT_EVERY_S: a lease on its sessions. A host
whose heartbeat is older than HOST_STALE_AFTER (three missed beats) is gone: its profiles are shown RECONNECTING
(or DISCONNECTED, if nobody wants them connected), sends to them are refused (PROFILE_NOT_CONNECTED) rather than
accepted for a host that will never answer, and the live hosts take them over (server/engine_host/placement.py).
The lease is short so that all of this happens within seconds of a crash; a host that stops cleanly deletes its
row and is gone at once. Every role reads this: the API to show statuses and refuse sends,
the workers to wait, the engine hosts to take over.

The API server reads liveness on every request that shows or uses a profile's status, so it may take a view up to
VIEW_S old (`alive_hosts(max_age_s=VIEW_S)`): a host is judged gone only HOST_STALE_AFTER after its last
heartbeat anyway, and a send accepted meanwhile waits in the outbox for the profile's next host, as one accepted
just before the host died does. A worker's delivery step takes a view up to half a second old (a send to a host
that died meanwhile fails UNAVAILABLE and is tried again later); the engine hosts read it fresh.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Collection

from server.core.db import Prepared, utcnow
from server.core.models import EngineHost, Profile

# A host whose heartbeat is older than this is gone: its profiles may be taken over. Three beats, so that one
# slow write (a loaded database) does not hand a live host's sessions away.
HEARTBEAT_EVERY_S = 1.0
HOST_STALE_AFTER = dt.timedelta(seconds=3 * HEARTBEAT_EVERY_S)
# A call for a profile when no host is alive goes to a host whose heartbeat is late by less than this, rather than
# failing at once: a host busy enough to miss beats (a burst of restored sessions) still answers, and a dead one
# refuses the connection quickly.
LATE_HOST_GRACE = dt.timedelta(seconds=30)
# Statuses that need a live session somewhere.
LIVE_STATUSES = frozenset({"CONNECTING", "QR_READY", "CONNECTED", "RECONNECTING"})


# How old a view of the live hosts the API server may use.
VIEW_S = 1.0


class _View:
    """The last view of the live hosts, and when it was taken (`clock`: seconds, injectable for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.taken_at = float("-inf")
        self.hosts: dict[str, str] = {}
        self.lock = threading.Lock()


_view = _View()


def alive_hosts(max_age_s: float = 0.0) -> dict[str, str]:
    """Engine hosts with a fresh heartbeat: id → address; with `max_age_s`, possibly as read that long ago."""
    if max_age_s > 0 and _view.clock() - _view.taken_at < max_age_s:
        return _view.hosts
    taken_at = _view.clock()
    hosts = _beating_since(utcnow() - HOST_STALE_AFTER)
    with _view.lock:
        if taken_at > _view.taken_at:
            _view.taken_at, _view.hosts = taken_at, hosts
    return hosts


def late_hosts() -> dict[str, str]:
    """Engine hosts whose heartbeat is late but recent (within LATE_HOST_GRACE): id → address, worth a call when
    none is alive. Never for statuses or takeovers: for those a late host is gone."""
    return _beating_since(utcnow() - LATE_HOST_GRACE)


# Read by every process, busy or idle, every few seconds at least: its SQL is built once (server/core/db.py).
_BEATING = Prepared(lambda since: EngineHost.select(EngineHost.id, EngineHost.address)
                    .where(EngineHost.heartbeat_at > since))


def _beating_since(since: dt.datetime) -> dict[str, str]:
    return dict(_BEATING.execute(since).fetchall())


def effective_status(row: Profile, hosts: Collection[str] | None = None) -> str:
    """The stored status, unless it needs a live session and no live host holds it: then the profile is
    RECONNECTING (it wants to be connected, and a host will take it) or DISCONNECTED."""
    hosts = alive_hosts() if hosts is None else hosts
    if row.status in LIVE_STATUSES and row.host_id not in hosts:
        return "RECONNECTING" if row.desired_state == "connected" else "DISCONNECTED"
    return row.status

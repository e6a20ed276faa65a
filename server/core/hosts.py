"""Which engine hosts are alive, and what that means for a profile's status (DESIGN.md §4).

Every engine host writes a heartbeat row (EngineHost) every HEARTBEAT_EVERY_S; a host whose heartbeat is older
than HOST_STALE_AFTER is gone, its profiles are shown RECONNECTING (or DISCONNECTED, if nobody wants them
connected), and another host takes them over. Every role reads this: the API to show statuses and refuse sends,
the workers to wait, the engine hosts to take over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from server.core.db import utcnow
from server.core.models import EngineHost, Profile

# A host whose heartbeat is older than this is gone: its profiles may be taken over.
HOST_STALE_AFTER = dt.timedelta(seconds=10)
HEARTBEAT_EVERY_S = 2.0
# Statuses that need a live session somewhere.
LIVE_STATUSES = frozenset({"CONNECTING", "QR_READY", "CONNECTED", "RECONNECTING"})


def alive_hosts() -> dict[str, str]:
    """Engine hosts with a fresh heartbeat: id → address."""
    recent = EngineHost.select().where(EngineHost.heartbeat_at > utcnow() - HOST_STALE_AFTER)
    return {host.id: host.address for host in recent}


def effective_status(row: Profile, hosts: Collection[str] | None = None) -> str:
    """The stored status, unless it needs a live session and no live host holds it: then the profile is
    RECONNECTING (it wants to be connected, and a host will take it) or DISCONNECTED."""
    hosts = alive_hosts() if hosts is None else hosts
    if row.status in LIVE_STATUSES and row.host_id not in hosts:
        return "RECONNECTING" if row.desired_state == "connected" else "DISCONNECTED"
    return row.status

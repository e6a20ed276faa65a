"""Event names and the filters webhooks, WebSocket clients and streams subscribe with (DESIGN.md §7)."""

from __future__ import annotations

from server.core.errors import invalid

EVENT_NAMES = (
    "qr.updated",
    "session.status",
    "message.received",
    "message.ack",
    "message.reaction",
    "message.edited",
    "message.revoked",
    "poll.vote",
    "group.updated",
    "bulk.progress",
    "bulk.finished",
)
_FAMILIES = {name.split(".")[0] for name in EVENT_NAMES}


def validate(filters: list[str], field: str) -> list[str]:
    """`*`, `<family>.*` (e.g. `message.*`) or an exact event name; duplicates dropped."""
    result: list[str] = []
    for raw in filters:
        item = raw.strip()
        family, _, rest = item.partition(".")
        ok = item == "*" or item in EVENT_NAMES or (rest == "*" and family in _FAMILIES)
        if not ok:
            raise invalid(field, f"'{raw}' is not an event filter: use *, <family>.* or one of "
                                 + ", ".join(EVENT_NAMES))
        if item not in result:
            result.append(item)
    return result


def matches(filters: list[str], event: str) -> bool:
    """Whether an event name passes any of the filters (an empty list passes everything)."""
    if not filters:
        return True
    family = event.split(".")[0]
    return any(f == "*" or f == event or f == f"{family}.*" for f in filters)

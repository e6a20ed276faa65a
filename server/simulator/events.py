"""What the simulated network tells a linked device: the events of its event stream (DESIGN.md §4).

Session events (a QR code, connected, …) describe the device's state now: they are handed to the device that
is attached at the time, or to nobody. Events the network keeps until the device acknowledges them (DURABLE:
receipts, incoming messages, group changes) carry a sequence number: they wait while the device is offline,
and an engine host that dies before recording one has it handed to the profile's next attachment (after a
restart or a takeover), as WhatsApp's offline queue does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Event types, and their data:
CREDENTIALS = "credentials"  # {"phone_number", "push_name", "device_id", "token"}: keep them, log in with them
QR = "qr"                    # {"code", "expires_at": datetime}: a QR code to show; each replaces the last
QR_TIMEOUT = "qr_timeout"    # {}: the last QR code (or the pairing code) expired unscanned
PAIRING = "pairing"          # {"code": "XXXX-XXXX"}
CONNECTED = "connected"      # {"phone_number": E.164, "push_name"}
DISCONNECTED = "disconnected"  # {"reason", "reconnect": bool}
LOGGED_OUT = "logged_out"    # {"reason"}: the device was unlinked; forget the credentials
BANNED = "banned"            # {"reason", "until": datetime | None}
REPLACED = "replaced"        # {}: another attachment of the same device took over
MESSAGE = "message"          # {"wa_message_id", "chat_id", "sender", "type", "content", "timestamp": datetime}
RECEIPT = "receipt"          # {"wa_message_id", "chat_id", "status": server|delivered|read, "timestamp": datetime}
GROUP = "group"              # {"group_id", "action", "participants", "by", and "name", "description",
                             #  "announce", "locked" or "invite_link_revoked" when the action changed them}

DURABLE = frozenset({MESSAGE, RECEIPT, GROUP})


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    # Not 0 for a DURABLE event: acknowledge it by this number once it is recorded.
    seq: int = 0

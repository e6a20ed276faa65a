"""whatsmeow's events as Go hands them to neonize: serialized protobufs through the ctypes callback neonize gives
Go. Shared by the offline whatsmeow tests and the offline engine host of the crash tests
(tests/support/whatsmeow_offline.py).
"""

from __future__ import annotations

import ctypes
from typing import Any

from neonize._binder import func_callback_bytes
from neonize.client import NewClient
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as nz

# The linked phone's number in these events.
ME = "628123456789"


def feed(client: NewClient, event: Any, *, partial: bool = False) -> None:
    """Deliver a whatsmeow event as Go does: serialized, through the ctypes callback neonize hands Go. `partial`:
    with a required field left unset, as neonize's Go encoder leaves some."""
    data = event.SerializePartialToString() if partial else event.SerializeToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    func_callback_bytes(client.event.execute)(client.uuid, ctypes.addressof(buffer), len(data),
                                              EVENT_TO_INT[type(event)])


# Protobufs as Go sends them (every proto2 field neonize's Go side always sets).


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> nz.JID:
    return nz.JID(User=user, Server=server, RawAgent=0, Device=device, Integrator=0, IsEmpty=False)


def device_event(user: str = ME, push_name: str = "Shop") -> nz.Device:
    return nz.Device(JID=jid(user, device=7), Platform="android", BussinessName="", PushName=push_name,
                     Initialized=True)

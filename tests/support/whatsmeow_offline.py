"""An engine host whose whatsmeow sessions reach a WhatsApp played offline, for the crash tests: run it as
`python -m tests.support.whatsmeow_offline` in place of `python -m server.engine_host` (`running_stack(...,
engine_host_module=...)`). Everything is the real engine host and the real neonize client; only the calls that
would talk to WhatsApp are stood in for:

- `connect` plays WhatsApp accepting the linked device (the device, then Connected) through neonize's own
  dispatch path, and holds the session until `stop`;
- `send_message` hands the message to "WhatsApp": it appends the message's WhatsApp id to the file named by
  WAGW_TEST_WHATSAPP_LOG (what the phone received), then answers; while the file named by WAGW_TEST_HOLD_SENDS
  exists it never answers, which is the window the delivery guarantees are about (WhatsApp has the message, the
  gateway has no answer) for a test to SIGKILL the host in.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from neonize.proto import Neonize_pb2 as nz

from server.core.config import load
from server.engine_host import host
from server.engine_host.engines.whatsmeow import _Client, _DeviceTable
from tests.support.neonize_events import device_event, feed

HELD_POLL_S = 0.05
_stopped: dict[bytes, threading.Event] = {}


def _connect(client: _Client) -> None:
    stopped = _stopped.setdefault(client.uuid, threading.Event())
    feed(client, device_event())
    feed(client, nz.Connected(status=True))
    stopped.wait()


def _stop(client: _Client) -> None:
    _stopped.setdefault(client.uuid, threading.Event()).set()


def _send_message(client: _Client, to: nz.JID, message: Any) -> nz.SendResponse:
    wa_message_id = f"3EB0{secrets.token_hex(8).upper()}"
    with Path(os.environ["WAGW_TEST_WHATSAPP_LOG"]).open("a") as log:
        log.write(f"{wa_message_id}\n")
    held = Path(os.environ["WAGW_TEST_HOLD_SENDS"])
    while held.exists():
        time.sleep(HELD_POLL_S)
    return nz.SendResponse(ID=wa_message_id, Timestamp=0, ServerID=0)


def main() -> None:
    _Client.connect = _connect
    _Client.stop = _stop
    _Client.send_message = _send_message
    _DeviceTable.holds = lambda table, jid: True  # the device WhatsApp "linked" above is taken to be stored
    host.serve(load())


if __name__ == "__main__":
    main()

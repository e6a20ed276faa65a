"""The `simulator` engine: a profile's device on the simulated WhatsApp network (simnet.py), for tests, demos
and benchmarks (DESIGN.md §4). It supports everything; the network decides what WhatsApp would answer.

Engine settings (all optional):
- `autoPair` (bool, default false): the simulated phone links the profile by itself — it scans the first QR
  code, or types the pairing code when connect was given a phone number — so a demo needs nothing but the API;
- `autoPairPhone` (E.164): the number that links; by default one derived from the profile id (`+62812…`, on
  WhatsApp by the network's rules);
- `autoPairDelayMs` (0 to 60000, default 3000): how long the phone takes, in simulated time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from server.core import engine_specs
from server.core.engine_specs import send_operation
from server.engine_host.engines.base import (
    Emit,
    Engine,
    GroupInfo,
    OutgoingMessage,
    ParticipantResult,
    SessionStore,
)
from server.simulator import network as simnet


def default_auto_pair_phone(profile_id: str) -> str:
    """A valid Indonesian mobile number that is the same for a profile id in every run and on every network.
    Its last four digits are never 0000, which the network treats as not on WhatsApp."""
    digits = f"{int.from_bytes(hashlib.sha256(profile_id.encode()).digest()[:8]) % 10**8:08d}"
    if digits.endswith("0000"):
        digits = digits[:-1] + "1"
    return f"+62812{digits}"


class SimulatorEngine(Engine):
    spec = engine_specs.SIMULATOR

    def __init__(self, profile_id: str, settings: dict[str, Any], store: SessionStore, emit: Emit, *,
                 network: simnet.SimulatedNetwork | None = None):
        super().__init__(profile_id, settings, store, emit)
        self.network = network or simnet.network()
        self.network.attach(self)

    def _auto_pair(self) -> simnet.AutoPair | None:
        if not self.settings.get("autoPair"):
            return None
        return simnet.AutoPair(
            self.settings.get("autoPairPhone") or default_auto_pair_phone(self.profile_id),
            int(self.settings.get("autoPairDelayMs", engine_specs.SIMULATOR_AUTO_PAIR_DELAY_MS)) / 1000,
        )

    # Session

    def connect(self, phone_number: str = "") -> str:
        return self.network.connect(self.profile_id, phone_number, self._auto_pair())

    def disconnect(self) -> None:
        self.network.disconnect(self.profile_id)

    def logout(self) -> None:
        self.network.logout(self.profile_id)

    def close(self) -> None:
        self.network.release(self.profile_id)

    # Messages

    def send(self, message: OutgoingMessage) -> str:
        self.require(send_operation(message.type))
        return self.network.send(self.profile_id, message)

    def lookup(self, phone_numbers: list[str]) -> dict[str, bool]:
        return self.network.lookup(self.profile_id, phone_numbers)

    # Groups

    def list_groups(self) -> list[GroupInfo]:
        return self.network.list_groups(self.profile_id)

    def get_group(self, group_id: str) -> GroupInfo:
        return self.network.get_group(self.profile_id, group_id)

    def create_group(self, name: str, participants: list[str]) -> tuple[GroupInfo, list[ParticipantResult]]:
        return self.network.create_group(self.profile_id, name, participants)

    def update_group(self, group_id: str, *, name: str | None = None, description: str | None = None,
                     announce: bool | None = None, locked: bool | None = None) -> GroupInfo:
        return self.network.update_group(self.profile_id, group_id, name=name, description=description,
                                         announce=announce, locked=locked)

    def update_participants(self, group_id: str, action: str, participants: list[str]) -> list[ParticipantResult]:
        return self.network.update_participants(self.profile_id, group_id, action, participants)

    def leave_group(self, group_id: str) -> None:
        self.network.leave_group(self.profile_id, group_id)

    def invite_link(self, group_id: str, *, revoke: bool = False) -> str:
        return self.network.invite_link(self.profile_id, group_id, revoke=revoke)

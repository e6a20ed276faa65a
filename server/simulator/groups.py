"""WhatsApp's group rules, as the simulated network applies them (DESIGN.md §4).

- `announce` and `locked` are changed by admins only; name and description by any member unless the group is
  locked; adding, removing, promoting, demoting and the invite link are admin-only;
- the creator (SUPERADMIN) can be neither removed nor demoted; promoting an admin or demoting a member succeeds
  without a change, as WhatsApp answers;
- a group never stays without an admin: when its last admin leaves, the longest-standing member takes over;
- in an announce-only group, only admins send.

A Group changes itself and says what changed; the network (network.py) tells the members.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from server.simulator.errors import Refusal

MEMBER, ADMIN, SUPERADMIN = "MEMBER", "ADMIN", "SUPERADMIN"
MAX_SUBJECT = 100
MAX_DESCRIPTION = 2_048
MAX_GROUP_SIZE = 1_024


@dataclass(frozen=True)
class Participant:
    chat_id: str
    role: str  # MEMBER, ADMIN or SUPERADMIN


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    name: str
    description: str
    owner: str
    created_at: dt.datetime
    participants: tuple[Participant, ...]
    announce: bool
    locked: bool


@dataclass(frozen=True)
class ParticipantResult:
    chat_id: str
    status: str  # ADDED, ALREADY_MEMBER, NOT_ON_WHATSAPP, PRIVACY_REFUSED, FAILED, REMOVED, PROMOTED, ...
    error: str = ""


def subject(name: str) -> str:
    """A group name as WhatsApp accepts it."""
    text = name.strip()
    if not text:
        raise Refusal("the group name is empty")
    if len(text) > MAX_SUBJECT:
        raise Refusal(f"the group name is longer than {MAX_SUBJECT} characters")
    return text


@dataclass
class Group:
    group_id: str
    name: str
    owner: str
    created_at: dt.datetime
    roles: dict[str, str]  # chat id → MEMBER/ADMIN/SUPERADMIN, in the order they joined
    description: str = ""
    announce: bool = False
    locked: bool = False
    invite_generation: int = field(default=0)

    def require_member(self, jid: str) -> None:
        if jid not in self.roles:
            raise Refusal("not a participant of this group", "FORBIDDEN")

    def require_admin(self, jid: str, what: str) -> None:
        if self.roles[jid] == MEMBER:
            raise Refusal(f"only group admins can {what}", "NOT_GROUP_ADMIN")

    def require_may_send(self, jid: str) -> None:
        if self.announce and self.roles[jid] == MEMBER:
            raise Refusal("only admins can send messages to this group", "NOT_GROUP_ADMIN")

    def join(self, jid: str) -> bool:
        """A number joins by itself (an invite link); False when it was a member already."""
        if jid in self.roles:
            return False
        if len(self.roles) >= MAX_GROUP_SIZE:
            raise Refusal("the group is full")
        self.roles[jid] = MEMBER
        return True

    def add(self, jid: str | None, raw: str, *, on_whatsapp: bool, refuses_add: bool
            ) -> tuple[ParticipantResult, bool]:
        """An admin adds one participant (`jid` is None when `raw` is no phone number); the flag says whether
        the group changed."""
        if jid is None:
            return ParticipantResult(raw, "NOT_ON_WHATSAPP", "not a valid phone number"), False
        if jid in self.roles:
            return ParticipantResult(jid, "ALREADY_MEMBER"), False
        if not on_whatsapp:
            return ParticipantResult(jid, "NOT_ON_WHATSAPP", "not on WhatsApp"), False
        if refuses_add:
            return ParticipantResult(jid, "PRIVACY_REFUSED", "their privacy settings do not allow adding them"), False
        if len(self.roles) >= MAX_GROUP_SIZE:
            return ParticipantResult(jid, "FAILED", "the group is full"), False
        self.roles[jid] = MEMBER
        return ParticipantResult(jid, "ADDED"), True

    def change_role(self, jid: str | None, raw: str, *, action: str, actor: str) -> tuple[ParticipantResult, bool]:
        """An admin removes, promotes or demotes one participant; the flag says whether the group changed."""
        done = {"remove": "REMOVED", "promote": "PROMOTED", "demote": "DEMOTED"}[action]
        if jid is None or jid not in self.roles:
            return ParticipantResult(jid or raw, "NOT_MEMBER"), False
        role = self.roles[jid]
        if role == SUPERADMIN and action != "promote":
            return ParticipantResult(jid, "NOT_AUTHORIZED", f"the group's creator cannot be {done.lower()}"), False
        if action == "remove" and jid == actor:
            return ParticipantResult(jid, "NOT_AUTHORIZED", "leave the group instead of removing yourself"), False
        if action == "remove":
            del self.roles[jid]
        elif action == "promote" and role == MEMBER:
            self.roles[jid] = ADMIN
        elif action == "demote" and role == ADMIN:
            self.roles[jid] = MEMBER
        else:
            return ParticipantResult(jid, done), False
        return ParticipantResult(jid, done), True

    def update(self, jid: str, *, name: str | None = None, description: str | None = None,
               announce: bool | None = None, locked: bool | None = None) -> list[tuple[str, dict[str, Any]]]:
        """A member changes the fields given. Everything is checked before anything changes (WhatsApp applies
        none of a refused request). Returns each change as (action, what changed)."""
        if announce is not None or locked is not None:
            self.require_admin(jid, "change the group's settings")
        if (name is not None or description is not None) and self.locked:
            self.require_admin(jid, "edit the group's info while it is locked")
        new_name = None if name is None else subject(name)
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise Refusal(f"the description is longer than {MAX_DESCRIPTION} characters")
        changes: list[tuple[str, dict[str, Any]]] = []
        if new_name is not None and new_name != self.name:
            self.name = new_name
            changes.append(("subject", {"name": new_name}))
        if description is not None and description != self.description:
            self.description = description
            changes.append(("description", {"description": description}))
        if announce is not None and announce != self.announce:
            self.announce = announce
            changes.append(("settings", {"announce": announce}))
        if locked is not None and locked != self.locked:
            self.locked = locked
            changes.append(("settings", {"locked": locked}))
        return changes

    def leave(self, jid: str) -> str | None:
        """A member leaves; returns the member promoted because no admin was left, if any."""
        del self.roles[jid]
        if self.roles and not any(role != MEMBER for role in self.roles.values()):
            heir = next(iter(self.roles))
            self.roles[heir] = ADMIN
            return heir
        return None

    def info(self) -> GroupInfo:
        return GroupInfo(
            group_id=self.group_id, name=self.name, description=self.description, owner=self.owner,
            created_at=self.created_at,
            participants=tuple(Participant(jid, role) for jid, role in self.roles.items()),
            announce=self.announce, locked=self.locked)

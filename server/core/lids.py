"""People WhatsApp addresses by LID (`<digits>@lid`, an internal id) instead of their phone number.

WhatsApp is moving people to LIDs: a message may come from `…@lid`, with the phone number beside it or not. One
person must keep one chat id, or their conversation splits in two. So a profile remembers each LID whose phone
number an engine told it; the phone-number chat id is the one stored and shown, and messages stored under the LID
before the number was known move to it.
"""

from __future__ import annotations

from server.core.db import utcnow, write_transaction
from server.core.models import LidMapping, Message
from server.core.phones import is_lid


def learn(profile_id: str, lid: str, chat_id: str) -> None:
    """Remember that `lid` is the person of the phone-number `chat_id`; file what was stored under the LID there."""
    if not is_lid(lid) or is_lid(chat_id):
        return
    with write_transaction():
        known = LidMapping.get_or_none((LidMapping.profile == profile_id) & (LidMapping.lid == lid))
        if known is not None and known.chat_id == chat_id:
            return
        if known is None:
            LidMapping.create(profile=profile_id, lid=lid, chat_id=chat_id)
        else:
            LidMapping.update(chat_id=chat_id, updated_at=utcnow()).where(
                (LidMapping.profile == profile_id) & (LidMapping.lid == lid)).execute()
        mine = Message.profile == profile_id
        Message.update(chat_id=chat_id).where(mine & (Message.chat_id == lid)).execute()
        Message.update(sender=chat_id).where(mine & (Message.sender == lid)).execute()


def phone_chat_id(profile_id: str, chat_id: str) -> str:
    """The phone-number chat id of a LID the profile knows the number of; any other chat id as it is."""
    if not is_lid(chat_id):
        return chat_id
    known = LidMapping.get_or_none((LidMapping.profile == profile_id) & (LidMapping.lid == chat_id))
    return known.chat_id if known is not None else chat_id

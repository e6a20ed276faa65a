"""The rows the API, the workers and the engine hosts read by key on every request or delivered message, with
their SQL built once (server/core/db.py `Prepared`): Peewee building the SQL of a select of a model's columns was
about 40 % of the engine host's and the workers' CPU in the delivery bench."""

from __future__ import annotations

import peewee

from server.core.db import Prepared
from server.core.models import Batch, EngineSession, Message, Profile, SendGate

# With whether its engine's credentials are stored (`has_session`, which every answer about a profile shows): one
# round trip instead of two.
_HAS_SESSION = EngineSession.profile.is_null(False).alias("has_session")
_PROFILE = Prepared(lambda profile_id: Profile.select(Profile, _HAS_SESSION)
                    .join(EngineSession, peewee.JOIN.LEFT_OUTER, on=EngineSession.profile == Profile.id)
                    .where(Profile.id == profile_id).limit(1))
_MESSAGE = Prepared(lambda message_id: Message.select().where(Message.id == message_id).limit(1))
_BATCH = Prepared(lambda batch_id: Batch.select().where(Batch.id == batch_id).limit(1))
_SEND_GATE = Prepared(lambda profile_id: SendGate.select().where(SendGate.profile == profile_id).limit(1))


def profile(profile_id: str) -> Profile | None:
    """The profile, its `has_session` read with it."""
    found = _PROFILE.first(profile_id)
    if found is not None:
        found.has_session = bool(found.has_session)
    return found


def message(message_id: str) -> Message | None:
    return _MESSAGE.first(message_id)


def batch(batch_id: str) -> Batch | None:
    return _BATCH.first(batch_id)


def send_gate(profile_id: str) -> SendGate | None:
    return _SEND_GATE.first(profile_id)

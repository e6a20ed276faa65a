"""The rows the API, the workers and the engine hosts read by key on every request or delivered message, with
their SQL built once (server/core/db.py `Prepared`): Peewee building the SQL of a select of a model's columns was
about 40 % of the engine host's and the workers' CPU in the delivery bench."""

from __future__ import annotations

from server.core.db import Prepared
from server.core.models import Batch, Message, Profile, SendGate

_PROFILE = Prepared(lambda profile_id: Profile.select().where(Profile.id == profile_id).limit(1))
_MESSAGE = Prepared(lambda message_id: Message.select().where(Message.id == message_id).limit(1))
_BATCH = Prepared(lambda batch_id: Batch.select().where(Batch.id == batch_id).limit(1))
_SEND_GATE = Prepared(lambda profile_id: SendGate.select().where(SendGate.profile == profile_id).limit(1))


def profile(profile_id: str) -> Profile | None:
    return _PROFILE.first(profile_id)


def message(message_id: str) -> Message | None:
    return _MESSAGE.first(message_id)


def batch(batch_id: str) -> Batch | None:
    return _BATCH.first(batch_id)


def send_gate(profile_id: str) -> SendGate | None:
    return _SEND_GATE.first(profile_id)

"""Engine credentials in the gateway's own database: the SessionStore every engine is given."""

from __future__ import annotations

from typing import Any

from server.core.db import database, utcnow, write_transaction
from server.core.models import EngineSession


class DatabaseSessionStore:
    def __init__(self, profile_id: str, engine: str, database_url: str):
        self.profile_id = profile_id
        self.engine = engine
        self.database_url = database_url

    def load(self) -> dict[str, Any] | None:
        with database.connection_context():
            row = EngineSession.get_or_none(EngineSession.profile == self.profile_id)
        return row.data if row is not None and row.engine == self.engine else None

    def save(self, data: dict[str, Any]) -> None:
        with database.connection_context(), write_transaction():
            updated = (EngineSession
                       .update(engine=self.engine, data=data, updated_at=utcnow())
                       .where(EngineSession.profile == self.profile_id)
                       .execute())
            if not updated:
                EngineSession.insert(profile=self.profile_id, engine=self.engine, data=data).execute()

    def clear(self) -> None:
        with database.connection_context(), write_transaction():
            EngineSession.delete().where(EngineSession.profile == self.profile_id).execute()

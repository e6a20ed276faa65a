"""Schema versions: a new database gets the current schema at once; an existing one is upgraded in place.

A migration is a function of (database, migrator) appended to MIGRATIONS with the next number. Since a fresh
database is created from the current models and stamped with the latest version, a migration only ever runs
on a database made by an older release, and must leave it equal to what the models create.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply_operations

from server.core import models
from server.core.db import database, is_sqlite, utcnow, write_transaction
from server.core.models import ALL_MODELS, BaseModel


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()


Migration = Callable[[peewee.Database, SchemaMigrator], None]

def _engine_sessions(database: peewee.Database, migrator: SchemaMigrator) -> None:
    profile = models.Profile
    apply_operations(
        migrator.add_column("profile", "desired_state", profile.desired_state),
        migrator.add_column("profile", "host_id", profile.host_id),
        migrator.add_column("profile", "qr_code", profile.qr_code),
        migrator.add_column("profile", "qr_expires_at", profile.qr_expires_at),
        migrator.add_column("profile", "pairing_code", profile.pairing_code),
    )
    database.create_tables([models.EngineSession, models.EngineHost, models.Event])


def _outbox(database: peewee.Database, migrator: SchemaMigrator) -> None:
    database.create_tables([models.Message, models.SendGate])


def _bulk(database: peewee.Database, migrator: SchemaMigrator) -> None:
    database.create_tables([models.Batch])


def _webhook_deliveries(database: peewee.Database, migrator: SchemaMigrator) -> None:
    database.create_tables([models.WebhookDelivery, models.WebhookCursor])
    # Webhooks of an older release never received events: start them at the present, not the whole history.
    last = models.Event.select(peewee.fn.MAX(models.Event.id)).scalar() or 0
    models.WebhookCursor.insert(name="webhooks", last_event_id=last).execute()


def _durable_jobs(database: peewee.Database, migrator: SchemaMigrator) -> None:
    # Tables made by an earlier step of this same upgrade come from today's models already: change what is old.
    gate, delivery, message = models.SendGate, models.WebhookDelivery, models.Message
    gate_columns = {column.name for column in database.get_columns("send_gate")}
    operations = []
    if "busy_until" in gate_columns:
        operations.append(migrator.rename_column("send_gate", "busy_until", "leased_until"))
    for name in ("lease_owner", "due_at", "queued_at", "version"):
        if name not in gate_columns:
            operations.append(migrator.add_column("send_gate", name, gate._meta.fields[name]))
    if "lease_owner" not in {column.name for column in database.get_columns("webhook_delivery")}:
        operations.append(migrator.add_column("webhook_delivery", "lease_owner", delivery.lease_owner))
    if "queued_at" in {column.name for column in database.get_columns("message")}:
        operations.append(migrator.drop_column("message", "queued_at"))
    order = ["profile_id", "status", "batch_id", "created_at"]
    if not any(index.columns == order for index in database.get_indexes("message")):
        operations.append(migrator.add_index("message", order))
    apply_operations(*operations)
    # Messages accepted by the older release and still waiting: their profiles' queues need a look now.
    now = utcnow()
    for (profile_id,) in message.select(message.profile).where(message.status == "PENDING").distinct().tuples():
        gate.insert(profile=profile_id, due_at=now).on_conflict(
            conflict_target=[gate.profile], update={gate.due_at: now}).execute()


def _conversations(database: peewee.Database, migrator: SchemaMigrator) -> None:
    message = models.Message
    columns = {column.name for column in database.get_columns("message")}
    names = ("sender_name", "reactions", "edits", "edited_at", "revoked_at", "deleted_at", "poll_votes", "media_ref")
    operations = [migrator.add_column("message", name, message._meta.fields[name])
                  for name in names if name not in columns]
    order = ["profile_id", "chat_id", "created_at"]
    if not any(index.columns == order for index in database.get_indexes("message")):
        operations.append(migrator.add_index("message", order))
    apply_operations(*operations)


def _delivery_guarantee(database: peewee.Database, migrator: SchemaMigrator) -> None:
    if "delivery_guarantee" not in {column.name for column in database.get_columns("profile")}:
        # Not the migrator's add_column: for a NOT NULL column, on SQLite, it rebuilds the table, and dropping the
        # old `profile` would cascade to every message. A column with a default needs no rebuild on either backend.
        database.execute_sql("ALTER TABLE profile ADD COLUMN delivery_guarantee VARCHAR(20) NOT NULL "
                             f"DEFAULT '{models.Profile.delivery_guarantee.default}'")
    if "dispatched_at" not in {column.name for column in database.get_columns("message")}:
        apply_operations(migrator.add_column("message", "dispatched_at", models.Message.dispatched_at))


# (version, what it does, the step). Version 1 is the first schema, made from the models.
def _lid_mappings(database: peewee.Database, migrator: SchemaMigrator) -> None:
    database.create_tables([models.LidMapping])


def _delivery_indexes(database: peewee.Database, migrator: SchemaMigrator) -> None:
    # The message indexes the delivery path's lookups did not match column for column (models.py says why). The new
    # ones are built in the migration's transaction: writes to messages wait until they are.
    for name in ("message_status_not_before", "message_wa_message_id", "message_profile_id_status_batch_id_created_at",
                 "message_batch_id_batch_index"):
        database.execute_sql(f"DROP INDEX IF EXISTS {name}")
    models.Message._schema.create_indexes(safe=True)


def _waiting_batch_items(database: peewee.Database, migrator: SchemaMigrator) -> None:
    models.Message._schema.create_indexes(safe=True)  # the one it lacks: a batch's waiting items (models.py)


MIGRATIONS: list[tuple[int, str, Migration | None]] = [
    (1, "profiles, contacts, webhooks, api keys", None),
    (2, "engine sessions, engine hosts, the event log", _engine_sessions),
    (3, "messages (the outbox) and the send gate", _outbox),
    (4, "bulk batches", _bulk),
    (5, "webhook deliveries and the dispatcher's cursor", _webhook_deliveries),
    (6, "durable jobs: owned leases, the send gate as each profile's delivery job", _durable_jobs),
    (7, "conversations: reactions, edits, revokes, poll votes, sender names, media references", _conversations),
    (8, "LID to phone number mappings", _lid_mappings),
    (9, "delivery guarantees: the profile's policy for unknown outcomes, the message's dispatch mark",
     _delivery_guarantee),
    (10, "message indexes that match the delivery path's lookups (a profile's next send, a receipt's message)",
     _delivery_indexes),
    (11, "an index of a batch's waiting items, in order (the next item to schedule)", _waiting_batch_items),
]


def latest_version() -> int:
    return MIGRATIONS[-1][0]


def current_version() -> int:
    if not database.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return row or 0


# The advisory-lock key migrations hold on PostgreSQL ("wagw-mig"): one process migrates, the others wait and then
# find the work done. PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against itself in concurrent
# transactions (a unique violation in pg_type), so "if not exists" alone is not enough.
_LOCK_KEY = int.from_bytes(b"wagw-mig", "big") & 0x7FFF_FFFF_FFFF_FFFF


def migrate() -> int:
    """Bring the bound database to the latest version; safe to run from several processes at once: on PostgreSQL
    they take turns on an advisory lock, on SQLite on the write lock (an IMMEDIATE transaction)."""
    with database.connection_context(), write_transaction():
        if not is_sqlite():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        database.create_tables([SchemaVersion], safe=True)
        version = current_version()
        if version == 0:
            database.create_tables(ALL_MODELS, safe=True)
            SchemaVersion.create(version=latest_version())
            return latest_version()
        migrator = SchemaMigrator.from_database(database.obj)
        for number, _, step in MIGRATIONS:
            if number > version and step is not None:
                step(database.obj, migrator)
                SchemaVersion.create(version=number)
        return current_version()

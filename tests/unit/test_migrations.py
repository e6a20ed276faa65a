"""Schema versions: a new database is stamped with the latest version; an old one is upgraded in place,
keeping its rows; running again changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import peewee
import pytest
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

from server.core import db, migrations
from server.core.models import Event, Message, Profile, SendGate
from tests.support.stack import postgres_database
from worker import sweeper


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with postgres_database() as url:
            yield url
            db.database.close()


def test_new_database_gets_the_latest_version(database_url):
    db.open_database(database_url)
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        assert migrations.current_version() == migrations.latest_version()
        assert db.database.table_exists(Profile._meta.table_name)
    assert migrations.migrate() == migrations.latest_version()


def test_old_database_is_upgraded_in_place(database_url, monkeypatch):
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        Profile.create(id="kept", name="old row", engine="simulator")

    def add_column(database: peewee.Database, migrator: SchemaMigrator) -> None:
        run_operations(migrator.add_column("profile", "nickname", peewee.CharField(default="none")))

    upgraded = [*migrations.MIGRATIONS, (migrations.latest_version() + 1, "profile nickname", add_column)]
    monkeypatch.setattr(migrations, "MIGRATIONS", upgraded)
    assert migrations.migrate() == upgraded[-1][0]
    with db.database.connection_context():
        cursor = db.database.execute_sql("SELECT name, nickname FROM profile WHERE id = 'kept'")
        assert cursor.fetchone() == ("old row", "none")
    assert migrations.migrate() == upgraded[-1][0]  # nothing left to run


def test_version_1_database_upgrades_to_engine_sessions(database_url):
    """A database made by the first release (version 1) gains the session columns and tables in place."""
    db.open_database(database_url)
    with db.database.connection_context():
        v1_columns = ["id", "name", "engine", "status", "phone_number", "last_error", "engine_settings",
                      "min_gap_ms", "jitter_ms", "daily_cap", "labels", "created_at", "updated_at"]
        db.database.execute_sql(
            "CREATE TABLE profile (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL, engine VARCHAR(20) NOT "
            "NULL, status VARCHAR(20) NOT NULL, phone_number VARCHAR(20) NOT NULL, last_error TEXT NOT NULL, "
            "engine_settings TEXT NOT NULL, min_gap_ms INTEGER NOT NULL, jitter_ms INTEGER NOT NULL, daily_cap "
            "INTEGER NOT NULL, labels TEXT NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)")
        db.database.execute_sql(
            f"INSERT INTO profile ({', '.join(v1_columns)}) VALUES ('old', 'Old', 'simulator', 'CONNECTED', '', '', "
            "'{}', 0, 0, 0, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
        db.database.create_tables([migrations.SchemaVersion])
        migrations.SchemaVersion.create(version=1)
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        old = Profile.get_by_id("old")
        assert (old.name, old.desired_state, old.qr_code, old.host_id) == ("Old", "disconnected", "", None)
        assert db.database.table_exists("event")
        assert db.database.table_exists("engine_session")


def test_event_retention_prunes_only_old_events(database_url):
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        month_ago = db.utcnow() - dt.timedelta(days=31)
        old = Event.create(name="session.status", profile_id="p", data={}, created_at=month_ago)
        recent = Event.create(name="session.status", profile_id="p", data={})
    assert sweeper.prune_events(0) == 0  # 0 keeps everything
    assert sweeper.prune_events(30) == 1
    with db.database.connection_context():
        assert [e.id for e in Event.select().where(Event.id.in_([old.id, recent.id]))] == [recent.id]


def test_version_5_database_upgrades_to_durable_jobs(database_url):
    """A database of the release before durable jobs: the send gate's lease column renamed and the job columns
    added, the message's old queue column gone, and a profile whose messages were waiting marked due."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        sql = db.database.execute_sql
        sql("ALTER TABLE send_gate RENAME COLUMN leased_until TO busy_until")
        for column in ("lease_owner", "due_at", "queued_at", "version"):
            sql(f"ALTER TABLE send_gate DROP COLUMN {column}")
        sql("ALTER TABLE webhook_delivery DROP COLUMN lease_owner")
        sql("ALTER TABLE message ADD COLUMN queued_at TIMESTAMP")
        sql("DROP INDEX message_profile_id_batch_id_created_at_id")
        migrations.SchemaVersion.delete().execute()
        migrations.SchemaVersion.create(version=5)
        Profile.create(id="waiting", name="old", engine="simulator")
        sql("INSERT INTO message (id, profile_id, chat_id, direction, type, content, status, error, reply_to, "
            "mentions, sender, attempts, created_at, updated_at) VALUES ('msg_old', 'waiting', '62811@s.whatsapp.net',"
            " 'OUTBOUND', 'TEXT', '{}', 'PENDING', '', '', '[]', '', 0, '2026-11-29 00:00:00', '2026-11-29 00:00:00')")
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        columns = {column.name for column in db.database.get_columns("send_gate")}
        assert {"leased_until", "lease_owner", "due_at", "queued_at", "version"} <= columns
        assert "busy_until" not in columns
        assert "queued_at" not in {column.name for column in db.database.get_columns("message")}
        assert SendGate.get(SendGate.profile == "waiting").due_at is not None


def test_version_6_database_upgrades_to_conversations(database_url):
    """A database of the release before conversations: the message's conversation columns and the chat index are
    added, and its old rows read as messages without reactions, edits or media."""
    db.open_database(database_url)
    migrations.migrate()
    names = ("sender_name", "reactions", "edits", "edited_at", "revoked_at", "deleted_at", "poll_votes", "media_ref")
    with db.database.connection_context():
        sql = db.database.execute_sql
        sql("DROP INDEX message_profile_id_chat_id_created_at")
        for column in names:
            sql(f"ALTER TABLE message DROP COLUMN {column}")
        migrations.SchemaVersion.delete().execute()
        migrations.SchemaVersion.create(version=6)
        Profile.create(id="chatty", name="old", engine="simulator")
        sql("INSERT INTO message (id, profile_id, chat_id, direction, type, content, status, error, reply_to, "
            "mentions, sender, attempts, created_at, updated_at) VALUES ('msg_old', 'chatty', '62811@s.whatsapp.net',"
            " 'INBOUND', 'TEXT', '{\"text\": \"hi\"}', 'RECEIVED', '', '', '[]', '', 0, '2026-11-29 00:00:00', "
            "'2026-11-29 00:00:00')")
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        assert set(names) <= {column.name for column in db.database.get_columns("message")}
        assert any(index.columns == ["profile_id", "chat_id", "created_at"]
                   for index in db.database.get_indexes("message"))
        old = Message.get_by_id("msg_old")
        assert (old.reactions, old.edits, old.revoked_at, old.media_ref) == (None, None, None, None)


def test_version_8_database_upgrades_to_delivery_guarantees(database_url):
    """A database of the release before delivery guarantees: its profiles get AT_MOST_ONCE, and its messages a
    dispatch mark that is not set (their outcomes were all recorded, or they were never given to WhatsApp)."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        sql = db.database.execute_sql
        sql("ALTER TABLE profile DROP COLUMN delivery_guarantee")
        sql("ALTER TABLE message DROP COLUMN dispatched_at")
        migrations.SchemaVersion.delete().execute()
        migrations.SchemaVersion.create(version=8)
        sql("INSERT INTO profile (id, name, engine, status, phone_number, last_error, engine_settings, min_gap_ms, "
            "jitter_ms, daily_cap, labels, created_at, updated_at, desired_state, qr_code, pairing_code) VALUES "
            "('old', 'old', 'whatsmeow', 'DISCONNECTED', '', '', '{}', 0, 0, 0, '{}', '2026-11-29 00:00:00', "
            "'2026-11-29 00:00:00', 'disconnected', '', '')")
        sql("INSERT INTO message (id, profile_id, chat_id, direction, type, content, status, error, reply_to, "
            "mentions, sender, attempts, created_at, updated_at) VALUES ('msg_old', 'old', '62811@s.whatsapp.net', "
            "'OUTBOUND', 'TEXT', '{}', 'PENDING', '', '', '[]', '', 0, '2026-11-29 00:00:00', '2026-11-29 00:00:00')")
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        assert Profile.get_by_id("old").delivery_guarantee == "AT_MOST_ONCE"
        assert Message.get_by_id("msg_old").dispatched_at is None


def test_version_9_database_upgrades_to_the_delivery_indexes(database_url):
    """A database of the release before: the message indexes the delivery path could not use column for column
    are replaced by the ones a new database has, the partial one included."""
    db.open_database(database_url)
    migrations.migrate()
    with db.database.connection_context():
        fresh = sorted((index.name, index.columns) for index in db.database.get_indexes("message"))
        sql = db.database.execute_sql
        for name in ("message_profile_id_not_before_batch_index", "message_profile_id_wa_message_id",
                     "message_profile_id_batch_id_created_at_id", "message_batch_id_batch_index"):
            sql(f"DROP INDEX {name}")
        sql("CREATE INDEX message_batch_id_batch_index ON message (batch_id, batch_index)")
        sql("CREATE INDEX message_status_not_before ON message (status, not_before)")
        sql("CREATE INDEX message_wa_message_id ON message (wa_message_id)")
        sql("CREATE INDEX message_profile_id_status_batch_id_created_at ON message (profile_id, status, batch_id, "
            "created_at)")
        migrations.SchemaVersion.delete().execute()
        migrations.SchemaVersion.create(version=9)
    assert migrations.migrate() == migrations.latest_version()
    with db.database.connection_context():
        assert sorted((index.name, index.columns) for index in db.database.get_indexes("message")) == fresh
        indexes = {index.name: index.sql for index in db.database.get_indexes("message")}
        assert "message_status_not_before" not in indexes
        for partial in ("message_batch_id_batch_index", "message_profile_id_batch_id_created_at_id",
                        "message_profile_id_not_before_batch_index"):
            assert "WHERE" in indexes[partial].upper()  # as a new database's

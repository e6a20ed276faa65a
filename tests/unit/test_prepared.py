"""Statements built into SQL once (server/core/db.py's Prepared), on SQLite and PostgreSQL: the same rows as Peewee's
own query, a write that runs, and a refusal of values a field would convert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.core import db, migrations, rows
from server.core.models import EngineSession, Profile, SendGate
from tests.support.stack import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    if request.param == "sqlite":
        db.open_database(f"sqlite:///{tmp_path / 'prepared.db'}")
        migrations.migrate()
        yield
        db.database.close()
        return
    with postgres_database() as url:
        db.open_database(url)
        migrations.migrate()
        yield
        db.database.close()


def test_a_prepared_select_answers_what_peewees_own_does(database):
    with db.connection():
        Profile.create(id="p1", name="One", engine="simulator", labels={"team": "a"}, daily_cap=5,
                       qr_expires_at=dt.datetime(2026, 11, 30, 12, 0, 0))
        Profile.create(id="p2", name="Two", engine="cloudapi")
        EngineSession.create(profile="p1", engine="simulator", data={"k": "v"})
        by_id = db.Prepared(lambda profile_id: Profile.select().where(Profile.id == profile_id).limit(1))
        for profile_id in ("p1", "p2"):
            prepared, own = by_id.first(profile_id), Profile.get_by_id(profile_id)
            assert prepared.__data__ == own.__data__ and not prepared._dirty
        assert by_id.first("nobody") is None
        session = db.Prepared(lambda profile_id: EngineSession.select(EngineSession.profile)
                              .where(EngineSession.profile == profile_id))
        assert [row.profile_id for row in session.all("p1")] == ["p1"] and session.all("p2") == []


def test_a_profile_read_by_key_says_whether_its_session_is_stored_in_the_same_query(database):
    with db.connection():
        Profile.create(id="p1", name="One", engine="simulator")
        Profile.create(id="p2", name="Two", engine="simulator")
        EngineSession.create(profile="p1", engine="simulator", data={})
        one, two = rows.profile("p1"), rows.profile("p2")
        assert one.has_session is True and two.has_session is False
        assert one.__data__ == Profile.get_by_id("p1").__data__ and not one._dirty
        assert rows.profile("nobody") is None and Profile.get_by_id("p1").has_session is None
        flagged_first = db.Prepared(lambda profile_id: Profile.select(
            (Profile.id == "p1").alias("is_one"), Profile.id, Profile.name).where(Profile.id == profile_id))
        [found] = flagged_first.all("p1")
        assert (bool(found.is_one), found.id, found.name) == (True, "p1", "One")  # an alias before the fields


def test_a_prepared_write_runs_with_each_call_s_values(database):
    with db.connection():
        Profile.create(id="p1", name="One", engine="simulator")
        due = dt.datetime(2026, 11, 30, 12, 0, 0)
        mark = db.Prepared(lambda profile_id, at: SendGate.insert(profile=profile_id, due_at=at, version=1)
                           .on_conflict(conflict_target=[SendGate.profile], update={SendGate.due_at: at}))
        mark.execute("p1", due)
        mark.execute("p1", due + dt.timedelta(seconds=1))
        assert SendGate.get_by_id("p1").due_at == due + dt.timedelta(seconds=1)


def test_a_value_a_field_would_convert_is_refused(database):
    labelled = db.Prepared(lambda labels: Profile.select().where(Profile.labels == labels))  # JSON: converted
    with db.connection(), pytest.raises(ValueError, match="changed on its way"):
        labelled.all({"team": "a"})


def test_a_statement_is_built_again_for_a_new_database_that_was_given_an_old_one_s_id(tmp_path):
    by_id = db.Prepared(lambda profile_id: Profile.select().where(Profile.id == profile_id).limit(1))
    db.open_database(f"sqlite:///{tmp_path / 'first.db'}")
    migrations.migrate()
    with db.connection():
        assert by_id.first("nobody") is None
    [built_for_sqlite] = by_id._compiled.values()
    db.database.close()
    with postgres_database() as url:
        db.open_database(url)
        migrations.migrate()
        # As when the freed SQLite database's id is given to the new one (tests open one after another).
        by_id._compiled = {id(db.database.obj): built_for_sqlite}
        with db.connection():
            assert by_id.first("nobody") is None
        db.database.close()

"""The profile a send goes through (server/api/services/profiles.py `acting_profile`): a view up to VIEW_S old
instead of a query per call, renewed by every fresh read through this server, never letting a caller reach another's
profile; a call that goes on to the engine host reads it fresh; and a send to a profile deleted meanwhile answers
NOT_FOUND, on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.api.auth import Principal, principal_context
from server.api.services import profiles
from server.core import lifecycle, rows
from server.core.errors import ApiError
from server.core.hosts import VIEW_S
from server.core.models import EngineHost, Profile

ADMIN = Principal("admin", frozenset({"*"}), None)
OTHER = Principal("key:other", frozenset({"*"}), frozenset({"someone-else"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(database, monkeypatch) -> Iterator[Clock]:
    """A fresh database of each backend with one live engine host, and this server's view of profiles on an
    injected clock."""
    EngineHost.create(id="host-1", address="127.0.0.1:1")
    clock = Clock()
    monkeypatch.setattr(profiles, "_recent", profiles.RecentProfiles(clock))
    yield clock


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The profile ids read from the database."""
    seen: list[str] = []
    read = rows.profile
    monkeypatch.setattr(rows, "profile", lambda profile_id: seen.append(profile_id) or read(profile_id))
    return seen


def connected(profile_id: str = "p1") -> Profile:
    return Profile.create(id=profile_id, name="P", engine="simulator", status="CONNECTED",
                          desired_state="connected", host_id="host-1")


def acting(profile_id: str = "p1", principal: Principal = ADMIN, *, recent: bool = True) -> Profile:
    with principal_context(principal):
        return profiles.acting_profile(profile_id, "send_text", recent=recent)


def test_calls_within_the_view_read_the_profile_once(clock, reads):
    connected()
    for _ in range(3):
        assert acting().status == "CONNECTED"
    assert reads == ["p1"]
    clock.now += VIEW_S
    acting()
    assert reads == ["p1", "p1"]


def test_a_call_that_goes_on_to_the_engine_host_reads_the_profile_each_time(clock, reads):
    """Its engine host may have handed the session over since the view was taken: the row names the host."""
    connected()
    acting()
    for _ in range(2):
        acting(recent=False)
    assert reads == ["p1", "p1", "p1"]


def test_a_change_made_elsewhere_shows_within_the_view_and_a_fresh_read_here_shows_it_at_once(clock):
    connected()
    acting()
    Profile.update(status="DISCONNECTED").where(Profile.id == "p1").execute()  # another process
    assert acting().status == "CONNECTED"  # the view, at most VIEW_S old
    with principal_context(ADMIN):
        profiles.get_profile("p1")  # shown, disconnected or connected through this server
    with pytest.raises(ApiError) as refused:
        acting()
    assert refused.value.code == "PROFILE_NOT_CONNECTED"


def test_a_profile_that_has_just_connected_is_not_refused_on_an_older_view(clock, reads):
    """Connected through this server, then CONNECTED when its engine says so: the view of it CONNECTING is not
    trusted for a refusal (the caller waited for CONNECTED, perhaps through another server, and sends)."""
    Profile.create(id="p1", name="P", engine="simulator", status="CONNECTING", desired_state="connected",
                   host_id="host-1")
    with principal_context(ADMIN):
        profiles.get_profile("p1")  # the connect's answer
    Profile.update(status="CONNECTED").where(Profile.id == "p1").execute()  # the engine host
    assert acting().status == "CONNECTED"
    assert acting().status == "CONNECTED"
    assert reads == ["p1", "p1"]  # read again once, then the view


def test_another_callers_profile_is_refused_even_in_the_view(clock):
    connected()
    acting()
    with pytest.raises(ApiError) as refused:
        acting(principal=OTHER)
    assert refused.value.code == "FORBIDDEN"


def test_a_send_to_a_profile_deleted_meanwhile_is_not_found(clock):
    connected()
    profile = acting()
    Profile.delete().where(Profile.id == profile.id).execute()  # through another API server
    assert acting().id == "p1"  # still in the view
    for idempotency_key in ("", "k1"):
        with pytest.raises(ApiError) as refused:
            lifecycle.accept_message(profile, chat_id="628111000001@s.whatsapp.net", type_name="TEXT",
                                     content={"text": "hi"}, idempotency_key=idempotency_key)
        assert refused.value.code == "NOT_FOUND"

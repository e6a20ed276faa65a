"""Where a call for a profile goes (server/engine_host/client.py `host_address`): its own live host, else the
least-loaded live one; when none is alive, a host whose heartbeat is late but recent still gets the call (busy
enough to miss beats is not dead), and only when there is none either the answer is UNAVAILABLE."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core.db import utcnow
from server.core.errors import ApiError
from server.core.models import EngineHost, Profile
from server.engine_host.client import host_address


@pytest.fixture(autouse=True)
def _database(database):
    """A fresh database of each backend."""


def host(host_id: str, beat_s_ago: float) -> None:
    EngineHost.create(id=host_id, address=f"{host_id}:1", heartbeat_at=utcnow() - dt.timedelta(seconds=beat_s_ago))


def profile(host_id: str) -> Profile:
    return Profile.create(id=f"p-{host_id}", name="P", engine="simulator", host_id=host_id)


def test_a_profiles_own_live_host_then_the_least_loaded_live_one():
    host("a", 0), host("b", 0), host("c", 100)
    profile("a")
    assert host_address(profile("b")) == "b:1"
    assert host_address(profile("c")) == "a:1"  # c is gone; a and b hold one profile each: the smaller id


def test_with_no_live_host_a_late_one_gets_the_call():
    host("late", 8)
    assert host_address(profile("late")) == "late:1"
    assert host_address(Profile.create(id="new", name="P", engine="simulator")) == "late:1"


def test_with_no_host_heard_of_lately_the_call_is_unavailable():
    host("gone", 120)
    with pytest.raises(ApiError) as unavailable:
        host_address(profile("gone"))
    assert unavailable.value.code == "UNAVAILABLE"

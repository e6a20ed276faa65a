"""Sessions spread over the live engine hosts by load (server/engine_host/placement.py, sessions.py): a dead host's
orphans are shared, a host that joins gets its share a few sessions a round, a move is a clean handover, and the
lease that says a host is alive is short (server/core/hosts.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator

import pytest

from server.core.db import utcnow
from server.core.hosts import alive_hosts, effective_status
from server.core.models import EngineHost, Profile
from server.engine_host import placement
from server.engine_host.sessions import SessionManager

_ids = itertools.count()


def test_orphans_are_shared_by_the_least_loaded_hosts() -> None:
    todo = placement.plan({"a": 3, "b": 1, "c": 2}, [f"p{n}" for n in range(6)])
    assert Counter(todo.claims.values()) == {"b": 3, "c": 2, "a": 1}  # 4, 4, 4 afterwards
    assert todo.moves == []


def test_a_host_that_joins_gets_sessions_a_few_per_round_from_the_fullest() -> None:
    loads = {"a": 7, "b": 6, "new": 0}
    rounds = []
    while (moves := placement.plan(loads, []).moves):
        rounds.append(moves)
        for giver, taker in moves:
            loads[giver] -= 1
            loads[taker] += 1
    assert all(len(moves) <= placement.MAX_MOVES_PER_ROUND for moves in rounds)
    assert rounds[0] == [("a", "new"), ("a", "new")]
    assert sorted(loads.values()) == [4, 4, 5]


@pytest.mark.parametrize("loads", [{"a": 3, "b": 2}, {"a": 2, "b": 2, "c": 1}, {"a": 1}, {"a": 0, "b": 1}])
def test_nothing_moves_when_no_host_holds_two_more_than_another(loads) -> None:
    assert placement.plan(loads, []).moves == []


class FakeEngine:
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def host(database, stub_broker, monkeypatch) -> Iterator[SessionManager]:
    """Host "me", alive, whose connects are recorded instead of opening engines."""
    sessions = SessionManager("me", "127.0.0.1:1", "sqlite:///unused")
    sessions.stop()
    sessions._beat()
    sessions.opened = []
    monkeypatch.setattr(sessions, "connect", lambda profile_id, phone="": sessions.opened.append(profile_id))
    yield sessions


def held(host_id: str | None, count: int, status: str = "CONNECTED") -> list[str]:
    ids = [f"p{next(_ids):04d}" for _ in range(count)]
    for profile_id in ids:
        Profile.create(id=profile_id, name="P", engine="simulator", status=status, desired_state="connected",
                       host_id=host_id)
    return ids


def beat(host_id: str, age_s: float = 0.0) -> None:
    EngineHost.create(id=host_id, address=f"{host_id}:1", heartbeat_at=utcnow() - dt.timedelta(seconds=age_s))


def test_a_host_silent_for_three_beats_is_gone_and_its_profiles_reconnecting(host) -> None:
    beat("quiet", age_s=3.5)
    beat("fine", age_s=1.5)
    orphan = Profile.get_by_id(held("quiet", 1)[0])
    assert set(alive_hosts()) == {"me", "fine"}
    assert effective_status(orphan) == "RECONNECTING"


def test_survivors_share_a_dead_hosts_profiles(host) -> None:
    beat("other")
    beat("dead", age_s=60)
    orphans = held("dead", 6)
    host.restore()
    assert len(host.opened) == 3  # "me" and "other" hold none: three each
    assert {Profile.get_by_id(profile_id).host_id for profile_id in host.opened} == {"me"}
    assert {Profile.get_by_id(profile_id).host_id for profile_id in orphans} == {"me", "dead"}  # "other"'s to take


def test_an_orphan_another_host_claimed_first_is_left_to_it(host, monkeypatch) -> None:
    beat("dead", age_s=60)
    orphan = held("dead", 1)[0]
    real_claim = host._claim

    def claimed_by_another_first(profile_id: str, previous: str | None) -> bool:
        Profile.update(host_id="quicker").where(Profile.id == profile_id).execute()
        return real_claim(profile_id, previous)

    monkeypatch.setattr(host, "_claim", claimed_by_another_first)
    host.restore()
    assert host.opened == []
    assert Profile.get_by_id(orphan).host_id == "quicker"


def test_a_loaded_host_hands_sessions_over_cleanly_to_a_host_that_joins(host) -> None:
    beat("joined")
    mine = held("me", 5)
    engines = {profile_id: FakeEngine() for profile_id in mine}
    host._engines.update(engines)
    host.restore()
    moved = [profile_id for profile_id in mine if Profile.get_by_id(profile_id).host_id == "joined"]
    assert len(moved) == placement.MAX_MOVES_PER_ROUND
    for profile_id in moved:
        assert engines[profile_id].closed and profile_id not in host._engines  # released here first
        profile = Profile.get_by_id(profile_id)
        assert (profile.status, profile.last_error) == ("RECONNECTING", "moving to engine host joined")
    assert host.opened == []


def test_a_host_opens_what_was_handed_to_it(host) -> None:
    beat("giver")
    handed = held("me", 1, status="RECONNECTING")
    held("giver", 1)
    host.restore()
    assert host.opened == handed

"""Resource ids sort by creation, also within one millisecond (server/core/ids.py): the order of sends accepted
at the same moment depends on it."""

from __future__ import annotations

import pytest

from server.core import ids


def test_ids_made_in_one_millisecond_sort_in_the_order_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_764_480_000_123_456_789)  # a clock that stands still
    made = [ids.new_id("msg") for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == 1000
    assert {identifier[:14] for identifier in made} == {made[0][:14]}  # the same millisecond in every one


def test_ids_sort_by_time_and_keep_their_shape() -> None:
    first, second = ids.new_id("ct"), ids.new_id("ct")
    assert first < second and len(first) == len("ct_") + 24
    assert set(first[3:]) <= set("0123456789abcdefghjkmnpqrstvwxyz")

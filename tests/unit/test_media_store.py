"""The media store (server/core/media_store.py) on an injected clock: files kept until their expiry, the least
recently read evicted over the size cap, atomic writes, keys that cannot leave the directory."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from server.core.media_store import MediaStore

NOW = dt.datetime(2026, 11, 30, 10, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def test_a_file_is_kept_until_its_expiry(tmp_path):
    clock = Clock()
    store = MediaStore(tmp_path, 10_000, clock)
    store.put("msg_1", b"voice", "audio/ogg", "msg_1.ogg", NOW + dt.timedelta(days=30))
    kept = store.get("msg_1")
    assert kept is not None and (kept.data, kept.mimetype, kept.filename) == (b"voice", "audio/ogg", "msg_1.ogg")
    clock.now = NOW + dt.timedelta(days=30)
    assert store.get("msg_1") is None
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # deleted on sight
    store.put("msg_2", b"late", "audio/ogg", "x", NOW)  # already expired: not kept
    assert store.get("msg_2") is None and store.get("msg_never") is None


def test_the_least_recently_read_go_first_over_the_cap(tmp_path):
    store = MediaStore(tmp_path, 250, Clock())
    later = NOW + dt.timedelta(days=1)
    for index in range(3):
        store.put(f"msg_{index}", bytes(100), "image/png", "", later)
        os.utime(tmp_path / f"msg_{index}.json", (time.time() - 100 + index, time.time() - 100 + index))
    # three files of 100 bytes: the oldest went when the third passed 250
    assert store.get("msg_0") is None and store.get("msg_1") is not None
    os.utime(tmp_path / "msg_2.json", (time.time() - 200, time.time() - 200))  # msg_1 was just read, msg_2 not
    store.put("msg_3", bytes(100), "image/png", "", later)
    assert store.get("msg_2") is None and store.get("msg_1") is not None and store.get("msg_3") is not None
    store.put("msg_big", bytes(1000), "image/png", "", later)  # over the cap alone: kept, the others go
    assert store.get("msg_big") is not None and store.get("msg_1") is None


def test_keys_stay_inside_the_directory(tmp_path):
    store = MediaStore(tmp_path, 1000, Clock())
    for key in ("../escape", "a/b", "", "x" * 200):
        with pytest.raises(ValueError):
            store.put(key, b"x", "text/plain", "", NOW + dt.timedelta(days=1))

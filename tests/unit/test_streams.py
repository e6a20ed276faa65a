"""The stream hub (server/api/streams.py) over a real event tail and a SQLite log, on an event loop of each test's
own: a stream catches up from `since` then goes live with no gap and no duplicate; each stream gets only what its
profile, its caller's profiles and its filters allow; a slow client, or a move of the log too large to hand over,
makes a stream read on from the log without losing or repeating an event; the per-credential cap; a credential
checked again at once when asked; streams end when the server stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.api import streams
from server.core import db, event_bus, events, migrations
from server.core.config import Settings
from server.core.errors import ApiError
from server.core.models import Event

TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(event_bus, "announce", lambda event_id: None)  # no Redis: the tests poke the tail
    db.open_database(f"sqlite:///{tmp_path / 'log.db'}")
    migrations.migrate()
    yield
    db.database.close()


@pytest.fixture
def hub() -> Iterator[streams.Hub]:
    tail = event_bus.Tail(Settings(), redis_channel=None)
    hub = streams.Hub(Settings(max_streams_per_credential=2), tail)
    tail.listen(hub)
    yield hub
    tail.close()


def record(profile_id: str, name: str = "message.ack") -> int:
    with db.connection(), db.write_transaction():
        return events.record(name, profile_id, {}).id


def everything(profile_id: str = "") -> Any:
    query = Event.select()
    return query.where(Event.profile_id == profile_id) if profile_id else query


async def nothing_to_recheck() -> None:
    return None


def subscription(profile_id: str = "", since: int = 0, *, profile_ids: frozenset[str] | None = None,
                 filters: tuple[str, ...] = ()) -> streams.Subscription:
    return streams.Subscription("key:k", profile_id, profile_ids, list(filters), since)


class Reader:
    """A stream read on a task of its own, so the test can record events while it runs and wait for them."""

    def __init__(self, stream: AsyncIterator[Any]):
        self.got: list[int] = []
        self.error: BaseException | None = None
        self._more = asyncio.Event()
        self.paused = False
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: AsyncIterator[Any]) -> None:
        try:
            async for event in stream:
                while self.paused:
                    await asyncio.sleep(0.01)
                self.got.append(event.id)
                self._more.set()
        except Exception as error:
            self.error = error
            self._more.set()

    async def until(self, count: int) -> list[int]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.got) < count and self.error is None:
                self._more.clear()
                await self._more.wait()
        return self.got

    async def ended(self) -> BaseException:
        async with asyncio.timeout(TIMEOUT):
            await asyncio.wait([self.task])
        assert self.error is not None
        return self.error


async def until(condition: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


async def in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


async def record_and_poke(hub: streams.Hub, profile_id: str, count: int, name: str = "message.ack") -> list[int]:
    ids = [await in_thread(record, profile_id, name) for _ in range(count)]
    hub.tail().poke(ids[-1])
    return ids


def test_a_stream_catches_up_then_goes_live_without_a_gap_or_a_repeat(hub):
    async def run() -> None:
        stored = [record("p1") for _ in range(5)] + [record("p2") for _ in range(3)]
        sub = subscription("p1", since=0)
        with hub.subscribed(sub):
            reader = Reader(hub.follow(sub, everything("p1"), nothing_to_recheck))
            assert await reader.until(5) == stored[:5]
            live = await record_and_poke(hub, "p1", 3)
            await record_and_poke(hub, "p2", 2)
            more = await record_and_poke(hub, "p1", 1)
            assert await reader.until(9) == stored[:5] + live + more
            assert not sub.lagging  # fed by the hub by now
            reader.task.cancel()

    asyncio.run(run())


def test_from_now_starts_at_the_newest_settled_event(hub):
    async def run() -> None:
        before = record("p1")
        sub = subscription("p1", since=-1)
        with hub.subscribed(sub):
            sub.cursor = sub.sent = await hub.now()
            assert sub.cursor == before
            reader = Reader(hub.follow(sub, everything("p1"), nothing_to_recheck))
            live = await record_and_poke(hub, "p1", 2)
            assert await reader.until(2) == live
            reader.task.cancel()

    asyncio.run(run())


def test_each_stream_gets_what_its_caller_and_filters_allow(hub):
    async def run() -> None:
        limited = subscription(profile_ids=frozenset({"p1"}), since=-1)
        acks = subscription(since=-1, filters=("message.*",))
        with hub.subscribed(limited), hub.subscribed(acks):
            horizon = await hub.now()
            limited.cursor = limited.sent = acks.cursor = acks.sent = horizon
            mine = Reader(hub.follow(limited, everything().where(Event.profile_id == "p1"), nothing_to_recheck))
            messages = Reader(hub.follow(acks, everything().where(Event.name.startswith("message.")),
                                         nothing_to_recheck))
            p2_ack = await record_and_poke(hub, "p2", 1)
            p1_status = await record_and_poke(hub, "p1", 1, "session.status")
            p1_ack = await record_and_poke(hub, "p1", 1)
            assert await mine.until(2) == p1_status + p1_ack
            assert await messages.until(2) == p2_ack + p1_ack
            mine.task.cancel()
            messages.task.cancel()

    asyncio.run(run())


def test_a_slow_client_reads_on_from_the_log_without_losing_or_repeating(hub, monkeypatch):
    monkeypatch.setattr(streams, "MAX_QUEUED", 3)

    async def run() -> None:
        sub = subscription("p1", since=-1)
        with hub.subscribed(sub):
            sub.cursor = sub.sent = await hub.now()
            reader = Reader(hub.follow(sub, everything("p1"), nothing_to_recheck))
            first = await record_and_poke(hub, "p1", 1)
            await reader.until(1)
            reader.paused = True  # the client stops reading; events keep coming
            burst = await record_and_poke(hub, "p1", 12)
            await until(lambda: sub.lagging)  # its queue passed the bound: dropped, to be read from the log
            assert len(sub.queue) == 0
            reader.paused = False
            assert await reader.until(13) == first + burst
            after = await record_and_poke(hub, "p1", 2)
            assert await reader.until(15) == first + burst + after
            reader.task.cancel()

    asyncio.run(run())


def test_a_move_too_large_to_hand_over_is_read_from_the_log(hub, monkeypatch):
    monkeypatch.setattr(event_bus, "MAX_HANDED_ROWS", 2)

    async def run() -> None:
        sub = subscription("p1", since=-1)
        with hub.subscribed(sub):
            sub.cursor = sub.sent = await hub.now()
            reader = Reader(hub.follow(sub, everything("p1"), nothing_to_recheck))
            ids = [await in_thread(record, "p1") for _ in range(5)]
            hub.tail().poke(ids[-1])
            assert await reader.until(5) == ids
            reader.task.cancel()

    asyncio.run(run())


def test_each_credential_holds_at_most_its_cap_of_streams(hub):
    with hub.slot("key:a"), hub.slot("key:a"), hub.slot("key:b"):
        with pytest.raises(ApiError) as refused, hub.slot("key:a"):
            pass
        assert refused.value.code == "RATE_LIMITED" and refused.value.metadata == {"limit": "2"}
        assert "WAGW_MAX_STREAMS_PER_CREDENTIAL" in refused.value.message
    with hub.slot("key:a"), hub.slot("key:a"):  # closing a stream gives its slot back
        pass


def test_a_credential_is_checked_again_at_once_when_asked(hub):
    async def run() -> None:
        checks: list[str] = []

        async def reauthenticate() -> None:
            checks.append("checked")
            raise ApiError("UNAUTHORIZED", "API key has been revoked")

        sub = subscription("p1", since=-1)
        with hub.subscribed(sub):
            sub.cursor = sub.sent = await hub.now()
            reader = Reader(hub.follow(sub, everything("p1"), reauthenticate))
            hub.recheck("key:other")  # another credential's streams
            await record_and_poke(hub, "p1", 1)
            await reader.until(1)
            assert checks == []  # not before REAUTHENTICATE_S, unless asked
            hub.recheck("key:k")
            error = await reader.ended()
            assert isinstance(error, ApiError) and error.code == "UNAUTHORIZED"
            assert checks == ["checked"]

    asyncio.run(run())


def test_streams_end_when_the_server_stops(hub):
    async def run() -> None:
        sub = subscription("p1", since=-1)
        with hub.subscribed(sub):
            sub.cursor = sub.sent = await hub.now()
            reader = Reader(hub.follow(sub, everything("p1"), nothing_to_recheck))
            await record_and_poke(hub, "p1", 1)
            await reader.until(1)
            hub.close()
            error = await reader.ended()
            assert isinstance(error, ApiError) and error.code == "UNAVAILABLE"

    asyncio.run(run())

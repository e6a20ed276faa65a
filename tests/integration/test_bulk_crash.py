"""Bulk crash safety (DESIGN.md §6): SIGKILL of a worker or the API server, or Redis lost, in the middle of a
batch, then restart: the batch finishes, every item ends exactly once, nothing is sent twice, and the items
keep their order and their gap."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.api import connected_profile, ok, wait_for
from tests.support.crash import FAST_RECOVERY, PrivateRedis, kill_and_restart
from tests.support.stack import Stack, running_stack

ITEMS = 30
DELAY_MS = 150


@pytest.fixture(scope="module")
def bulk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path = tmp_path_factory.mktemp("bulk-crash") / "wagw.db"
    with running_stack(f"sqlite:///{path}", **FAST_RECOVERY) as stack:
        yield stack


def quietly(probe: Callable[[], object]) -> Callable[[], object]:
    """A probe that counts a failed request (a process is down) as "not yet"."""
    def attempt() -> object:
        try:
            return probe()
        except (httpx.HTTPError, AssertionError, KeyError):
            return None
    return attempt


def run_batch_through(stack: Stack, unique: Callable[[str], str], crash: Callable[[], None]) -> None:
    with stack.rest() as rest:
        pid, _ = connected_profile(rest, unique, sendLimits={"minGapMs": 0})
        tag = unique("crash")
        items = [{"chatId": "628111880001", "type": "text", "content": {"text": f"{tag} item {{n}}"},
                  "variables": {"n": str(i)}} for i in range(ITEMS)]
        batch_id = ok(rest.post("/bulk/send", json={"profileId": pid, "messages": items,
                                                    "options": {"delayBetweenMessages": DELAY_MS}}))["batchId"]
        wait_for(lambda: ok(rest.get(f"/bulk/batch/{batch_id}"))["progress"]["sent"] >= 8, "eight items out")
        crash()
        done = wait_for(quietly(lambda: (b := ok(rest.get(f"/bulk/batch/{batch_id}", params={"itemsPageSize": 100})))
                                ["status"] == "COMPLETED" and b), "the batch to complete", 90)
        assert done["progress"]["sent"] == ITEMS and done["progress"]["failed"] == 0
        assert done["progress"]["pending"] == 0 and done["progress"]["cancelled"] == 0
        def inbox() -> list[str]:
            return [m["content"]["text"] for m in stack.simulator("inbox", phone_or_chat_id="+628111880001")
                    if m["content"]["text"].startswith(f"{tag} ")]

        # SENT is the engine's answer; the phone gets the message a delivery delay (0.2 s) later.
        received = wait_for(lambda: len(set(got := inbox())) == ITEMS and got, "every item at the phone")
        assert sorted(received) == sorted(f"{tag} item {i}" for i in range(ITEMS))  # each once: none lost, none twice
        sent = [dt.datetime.fromisoformat(ok(rest.get(f"/messages/{item['messageId']}"))["sentTime"]
                                          .replace("Z", "+00:00")) for item in done["items"]]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
        assert min(gaps) >= DELAY_MS / 1000 - 0.01, gaps  # in order, and never closer than asked


def test_worker_killed_mid_batch(bulk_stack, unique):
    run_batch_through(bulk_stack, unique, lambda: kill_and_restart(bulk_stack.workers, None))


def test_api_server_killed_mid_batch(bulk_stack, unique):
    run_batch_through(bulk_stack, unique, lambda: kill_and_restart(bulk_stack.api, bulk_stack.grpc_port))


def test_redis_lost_mid_batch(tmp_path, unique):
    redis = PrivateRedis(str(tmp_path))
    redis.start()
    try:
        with running_stack(f"sqlite:///{tmp_path / 'wagw.db'}", REDIS_URL=redis.url, **FAST_RECOVERY) as stack:
            def lose_redis() -> None:
                redis.kill()  # the queue, and the next item's delayed delivery in it, are gone
                redis.start()

            run_batch_through(stack, unique, lose_redis)
    finally:
        redis.kill()

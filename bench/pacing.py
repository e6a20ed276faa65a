"""Pacing at scale: many profiles each running a bulk paced by `delayBetweenMessages`, and how far the gaps the
recipients saw stray from the asked one.

Starts the whole gateway (tests/support/stack.py; everything on 127.0.0.1, one worker process) on a fresh SQLite
file, connects the profiles (simulator engine, no send gap of their own, so only the bulk's delay paces them), and
sends one bulk per profile of --items texts to numbers of their own with `delayBetweenMessages` --delay-ms. The
gaps are those between consecutive arrivals on the simulated network (each recipient's inbox timestamp), and the
deviation of each from the asked delay is reported as mean, p50 and p99 (target p99 < 50 ms). The baseline is the
same bulk on 1 profile, run alone first in the same stack. The fleet runs twice: every bulk sent at once (their
items fall due in the same instant, every second: the worst case), then with the bulks' starts spread evenly over
one delay (as senders who do not start in the same millisecond). Where the recipients' gaps stray, the gateway's own
hand-over times (the message rows' `handed_at`) tell whether the worker started the step late or the send was slow.

    .venv/bin/python -m bench.pacing [--profiles 500] [--items 6] [--delay-ms 1000]

Every wait is bounded by a deadline; it stops by itself (make bench runs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx

from bench.fleet import PARALLEL, connect_profiles, ok, percentile
from server.core import db
from server.core.models import Message
from tests.support.stack import INTERNAL_TOKEN, Stack, running_stack, scratch_database
from wagw.simulator.v1 import simulator_pb2, simulator_pb2_grpc

TARGET_P99_MS = 50


def recipient(profile_index: int, item: int) -> str:
    # Numbers ending in 0000 are not on the simulated WhatsApp: these end in 1.
    return f"+62813{profile_index:04d}{item:02d}1"


def send_bulks(stack: Stack, profiles: list[str], first_index: int, items: int, delay_ms: int,
               spread: bool = False) -> None:
    """One bulk per profile, all at once, or (`spread`) started evenly over one delay, as senders that do not start
    in the same millisecond would."""
    began = time.monotonic()

    def one(index_and_id: tuple[int, str]) -> None:
        index, profile_id = index_and_id
        if spread:
            time.sleep(max(0.0, began + (index - first_index) * delay_ms / 1000 / len(profiles) - time.monotonic()))
        messages = [{"chatId": recipient(index, n), "type": "text", "content": {"text": f"paced {n}"}}
                    for n in range(items)]
        with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": stack.admin_key}, timeout=120) as rest:
            ok(rest.post("/bulk/send", json={"profileId": profile_id, "messages": messages,
                                             "options": {"delayBetweenMessages": delay_ms}}))

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, enumerate(profiles, start=first_index)))


def wait_sent(profiles: list[str], timeout_s: float) -> None:
    """Until no message of `profiles` is PENDING (the database, the truth)."""
    deadline = time.monotonic() + timeout_s
    pending = Message.select().where(Message.profile.in_(profiles) & (Message.status == "PENDING"))
    while True:
        with db.database.connection_context():
            left = pending.count()
        if not left:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{left} messages still PENDING after {timeout_s:.0f} s")
        time.sleep(0.5)


def arrivals(stack: Stack, first_index: int, count: int, items: int) -> list[list[dt.datetime]]:
    """For each profile, when each of its items arrived, in bulk order."""
    metadata = [("x-wagw-internal-token", INTERNAL_TOKEN)]
    with grpc.insecure_channel(f"127.0.0.1:{stack.simulator_port}") as channel:
        phones = simulator_pb2_grpc.PhoneServiceStub(channel)

        def seen(number: str) -> dt.datetime:
            (entry,) = phones.Inbox(simulator_pb2.InboxRequest(phone_or_chat_id=number), timeout=30,
                                    metadata=metadata).messages
            return entry.timestamp.ToDatetime()

        return [[seen(recipient(index, n)) for n in range(items)]
                for index in range(first_index, first_index + count)]


def handed_over(profiles: list[str]) -> list[list[dt.datetime]]:
    """For each profile, when the worker handed each item over to the engine, in bulk order."""
    with db.database.connection_context():
        rows = (Message.select(Message.profile, Message.batch_index, Message.handed_at)
                .where(Message.profile.in_(profiles)).order_by(Message.profile, Message.batch_index).tuples())
        by_profile: dict[str, list[dt.datetime]] = {}
        for profile_id, _, handed_at in rows:
            by_profile.setdefault(profile_id, []).append(handed_at)
    return list(by_profile.values())


def deviations_ms(times: list[list[dt.datetime]], delay_ms: int) -> list[float]:
    return [abs((b - a).total_seconds() * 1000 - delay_ms)
            for series in times for a, b in itertools.pairwise(series)]


def line(name: str, values: list[float], baseline: list[float] | None = None) -> str:
    p99 = percentile(values, 99)
    text = (f"  {name:<44} {len(values):5} gaps   mean {statistics.mean(values):7.1f} ms   "
            f"p50 {percentile(values, 50):7.1f} ms   p99 {p99:7.1f} ms")
    if baseline:
        text += f" = {p99 / max(percentile(baseline, 99), 0.1):.1f}x baseline"
    return text


def run(stack: Stack, profiles: list[str], first_index: int, items: int, delay_ms: int, spread: bool = False
        ) -> tuple[list[float], list[float]]:
    """One round of bulks: the recipients' and the hand-overs' deviations from the asked delay."""
    send_bulks(stack, profiles, first_index, items, delay_ms, spread)
    wait_sent(profiles, timeout_s=items * delay_ms / 1000 * 20 + 120)
    seen = arrivals(stack, first_index, len(profiles), items)
    return deviations_ms(seen, delay_ms), deviations_ms(handed_over(profiles), delay_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--items", type=int, default=6, help="items of each profile's bulk")
    parser.add_argument("--delay-ms", type=int, default=1000, help="the bulks' delayBetweenMessages")
    args = parser.parse_args()
    if not (1 <= args.profiles <= 1000 and 2 <= args.items <= 99 and 100 <= args.delay_ms <= 60_000):
        parser.error("need 1 <= profiles <= 1000, 2 <= items <= 99, 100 <= delay-ms <= 60000")
    alone = ["bench-pacing-alone"]
    fleet = [f"bench-pacing-{i}" for i in range(args.profiles)]
    spread_fleet = [f"bench-pacing-spread-{i}" for i in range(args.profiles)]
    with scratch_database("sqlite") as url, running_stack(url) as stack:
        connect_s = connect_profiles(stack.base_url, stack.admin_key, alone + fleet + spread_fleet)
        print(f"{1 + 2 * args.profiles} profiles connected in {connect_s:.1f} s", flush=True)
        db.open_database(url)
        base_seen, base_handed = run(stack, alone, 0, args.items, args.delay_ms)
        seen, handed = run(stack, fleet, 1, args.items, args.delay_ms)
        spread_seen, spread_handed = run(stack, spread_fleet, 1 + args.profiles, args.items, args.delay_ms,
                                         spread=True)
        db.database.close()
    print(f"pacing: bulks of {args.items} items, delayBetweenMessages {args.delay_ms} ms; deviation of each gap "
          f"from it (target p99 < {TARGET_P99_MS} ms):")
    print(line("baseline, 1 profile: recipients' gaps", base_seen))
    print(line(f"{args.profiles} profiles at once: recipients' gaps", seen, base_seen))
    print(line("baseline, 1 profile: hand-over gaps", base_handed))
    print(line(f"{args.profiles} profiles at once: hand-over gaps", handed, base_handed))
    print(line(f"{args.profiles} profiles, starts spread: recipients' gaps", spread_seen, base_seen))
    print(line(f"{args.profiles} profiles, starts spread: hand-over gaps", spread_handed, base_handed))


if __name__ == "__main__":
    main()

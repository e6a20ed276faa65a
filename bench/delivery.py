"""Delivery throughput: how fast queued messages become READ with 1, 2 and 4 worker processes.

Starts the whole gateway (tests/support/stack.py: simulator service, API server, engine host, Envoy; everything
on 127.0.0.1) on a fresh SQLite file (or PostgreSQL with --database postgres), connects 200 simulator profiles
without a send gap, and stops the stack's worker. Then for each worker count: queues 10,000 messages while no
worker runs (one bulk per profile, no delay between items), starts that many `python -m worker` processes, and
times from their start until every message is READ on the simulated network (whose clock runs 20 times faster than
real time, as in the tests). The baseline is the run with 1 worker; each other count prints its ratio to it.

    .venv/bin/python -m bench.delivery [--profiles 200] [--messages 10000] [--workers 1,2,4] [--database sqlite]

Every wait is bounded by a deadline; it stops by itself (make bench runs it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx

from bench import fleet
from bench.fleet import PARALLEL, connect_profiles, ok
from server.core import db
from server.core.config import ROOT
from server.core.models import Message
from tests.support.stack import Stack, running_stack, scratch_database

DELIVERY_TIMEOUT_S = 900


@contextmanager
def workers(stack: Stack, count: int) -> Iterator[None]:
    """`count` worker processes on the stack's broker and database, stopped afterwards."""
    processes = [subprocess.Popen([sys.executable, "-m", "worker"], env=stack.env, cwd=ROOT) for _ in range(count)]
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def queue(stack: Stack, profiles: list[str], messages: int, run: int) -> None:
    """`messages` texts spread evenly over `profiles`, one bulk each, to chats of their own (numbers ending in 1:
    the simulated network has no one at numbers ending in 0000)."""
    per_profile = max(1, messages // len(profiles))

    def one(index_and_id: tuple[int, str]) -> None:
        index, profile_id = index_and_id
        items = [{"chatId": f"+62812{run}{index * per_profile + n:06d}1", "type": "text",
                  "content": {"text": f"bench {n}"}} for n in range(per_profile)]
        with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": stack.admin_key}, timeout=120) as rest:
            ok(rest.post("/bulk/send", json={"profileId": profile_id, "messages": items,
                                             "options": {"delayBetweenMessages": 0}}))

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, enumerate(profiles)))


def outbound(status: str | None = None) -> int:
    query = Message.select().where(Message.direction == "OUTBOUND")
    if status:
        query = query.where(Message.status == status)
    with db.database.connection_context():
        return query.count()


def drain(read_before: int, total: int) -> float:
    """Seconds until `total` outbound messages are READ (polling the database, the truth)."""
    started = time.monotonic()
    while (read := outbound("READ")) < total:
        if failed := Message.select(Message.error).where(Message.status == "FAILED").first():
            raise SystemExit(f"{outbound('FAILED')} messages FAILED, e.g.: {failed.error}")
        if time.monotonic() - started > DELIVERY_TIMEOUT_S:
            raise SystemExit(f"only {read - read_before} of {total - read_before} READ in {DELIVERY_TIMEOUT_S} s")
        time.sleep(0.25)
    return time.monotonic() - started


def cpu_line(before: fleet.Snapshot, after: fleet.Snapshot, seconds: float) -> str:
    """Where the CPU went while the messages were delivered: each process of the stack (by name, this bench's own
    polling and PostgreSQL's server included), and how busy the whole machine was (a busy machine is why more
    workers cannot help)."""
    spent, machine = fleet.cpu_spent(before, after)
    shares = sorted(((name, cpu_s / seconds) for name, cpu_s in spent.items()), key=lambda item: -item[1])
    by_share = ", ".join(f"{name} {share:.0%}" for name, share in shares if share >= 0.005)
    return f"CPU (of one core): {by_share}; the machine's {os.cpu_count()} cores {machine:.0%} busy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, the first is the baseline")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--engine-hosts", type=int, default=1, help="engine host processes sharing the profiles")
    args = parser.parse_args()
    counts = [int(count) for count in args.workers.split(",")]
    if not (1 <= args.profiles <= 1000 and 1 <= args.messages <= 100_000 and all(1 <= c <= 8 for c in counts)):
        parser.error("need 1 <= profiles <= 1000, 1 <= messages <= 100000, 1 <= workers <= 8")
    profiles = [f"bench-delivery-{i}" for i in range(args.profiles)]
    results: list[tuple[int, int, float]] = []
    with scratch_database(args.database) as url, running_stack(url, engine_hosts=args.engine_hosts) as stack:
        connect_s = connect_profiles(stack.base_url, stack.admin_key, profiles)
        print(f"{args.profiles} profiles connected in {connect_s:.1f} s ({args.database}, "
              f"{args.engine_hosts} engine host(s))", flush=True)
        stack.workers.stop()
        db.open_database(url)
        for run, count in enumerate(counts):
            read_before = outbound("READ")
            queue(stack, profiles, args.messages, run)
            total = outbound()
            before = fleet.snapshot()
            with workers(stack, count):
                seconds = drain(read_before, total)
                after = fleet.snapshot()
            results.append((count, total - read_before, seconds))
            print(f"  {count} worker process(es): {total - read_before:,} messages READ in {seconds:.1f} s", flush=True)
            print(f"    {cpu_line(before, after, seconds)}", flush=True)
        db.database.close()
    base_rate = results[0][1] / results[0][2]
    print(f"delivery throughput, {args.profiles} profiles without a send gap, {args.database}, "
          f"{counts[0]} worker(s) the baseline:")
    for count, delivered, seconds in results:
        rate = delivered / seconds
        print(f"  {count} worker process(es): {rate:7.1f} msg/s READ = {rate / base_rate:.2f}x baseline")


if __name__ == "__main__":
    main()

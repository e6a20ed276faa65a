"""Send benchmark: REST send-text through Envoy at a fixed concurrency, against a baseline made in the same run.

Starts the whole gateway (API server, engine host, worker, Envoy; everything on 127.0.0.1) on a fresh database
(a temp SQLite file, or with --database postgres a throwaway database at WAGW_TEST_POSTGRES_URL), connects a few
simulator profiles, and measures, each with the same number of requests from the same number of threads:
  - baseline: native gRPC `grpc.health.v1.Health/Check` through Envoy's port (the cheapest round trip through
    Envoy and the API server; a health check has no REST route);
  - POST /api/messages/text through Envoy: accept throughput (req/s) and p50/p99 latency, each also as a ratio
    against the baseline;
  - delivery: the time from the first send until every accepted message is READ on the simulator (whose clock
    runs 20 times faster than real time, as in the tests), and the delivery throughput that makes;
  - the API server's peak RSS (VmHWM).

    .venv/bin/python -m bench.send [--requests 1000] [--concurrency 16] [--profiles 4] [--database sqlite|postgres]

Every loop is bounded: requests by count, waits by deadlines; it stops by itself (make bench runs it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.core import db
from server.core.models import Message
from tests.support.stack import Stack, running_stack, scratch_database

CONNECT_TIMEOUT_S = 30
DELIVERY_TIMEOUT_S = 600
WARMUP = 50  # requests per measurement before timing starts


@dataclass
class Measurement:
    name: str
    latencies: list[float]
    wall_s: float
    errors: int

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall_s

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def closed_loop(name: str, requests: int, concurrency: int, make_worker: Callable[[], tuple[Callable[[int], bool],
                                                                                            Callable[[], None]]]
                ) -> Measurement:
    """`requests` calls from `concurrency` threads, each thread with its own client (`make_worker` returns the
    call, answering whether it succeeded, and how to close the client). Each thread warms up first."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_index = iter(range(requests))
    ready = threading.Barrier(concurrency + 1)
    go = threading.Event()

    def worker() -> None:
        nonlocal errors
        call, close = make_worker()
        try:
            for _ in range(WARMUP // concurrency + 1):
                call(-1)
            ready.wait()
            go.wait()
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                started = time.perf_counter()
                succeeded = call(index)
                elapsed = time.perf_counter() - started
                with lock:
                    if succeeded:
                        latencies.append(elapsed)
                    else:
                        errors += 1
        finally:
            close()

    threads = [threading.Thread(target=worker, name=f"{name}-{i}", daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    started = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join(timeout=600)
    return Measurement(name, latencies, time.perf_counter() - started, errors)


def health_checks(stack: Stack, requests: int, concurrency: int) -> Measurement:
    def make() -> tuple[Callable[[int], bool], Callable[[], None]]:
        channel = grpc.insecure_channel(stack.envoy_grpc_target)
        stub = health_pb2_grpc.HealthStub(channel)
        metadata = [("x-api-key", stack.admin_key)]

        def call(_: int) -> bool:
            reply = stub.Check(health_pb2.HealthCheckRequest(), metadata=metadata, timeout=10)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
        return call, channel.close
    return closed_loop("health", requests, concurrency, make)


def sends(stack: Stack, requests: int, concurrency: int, profiles: list[str], accepted: list[str]) -> Measurement:
    def make() -> tuple[Callable[[int], bool], Callable[[], None]]:
        client = stack.rest()

        def call(index: int) -> bool:
            if index < 0:  # warm-up: the same route, a request it refuses before storing anything
                return client.post("/messages/text", json={"profileId": profiles[0], "chatId": "6281100000001",
                                                           "text": ""}).status_code == 400
            response = client.post("/messages/text", json={
                "profileId": profiles[index % len(profiles)], "chatId": f"+6281170{index % 97 + 1:05d}",
                "text": f"bench message {index}"})
            if response.status_code != 200:
                return False
            accepted.append(response.json()["data"]["id"])
            return True
        return call, client.close
    return closed_loop("send", requests, concurrency, make)


def connect(rest: httpx.Client, profile_id: str) -> None:
    for response in (
        rest.post("/profiles", json={"id": profile_id, "name": profile_id, "engine": "simulator",
                                     "engineSettings": {"autoPair": True, "autoPairDelayMs": 100},
                                     "sendLimits": {"minGapMs": 0, "jitterMs": 0}}),
        rest.post(f"/profiles/{profile_id}/connect", json={}),
    ):
        response.raise_for_status()
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while rest.get(f"/profiles/{profile_id}").json()["data"]["status"] != "CONNECTED":
        if time.monotonic() > deadline:
            sys.exit(f"profile {profile_id} did not connect in {CONNECT_TIMEOUT_S} s")
        time.sleep(0.1)


def wait_read(database_url: str, ids: list[str]) -> float:
    """Seconds until every message in `ids` is READ (polling the database, the truth); exits on the deadline."""
    db.open_database(database_url)
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    try:
        while True:
            with db.database.connection_context():
                done = Message.select().where(Message.id.in_(ids) & (Message.status == "READ")).count()
                failed = Message.select().where(Message.id.in_(ids) & (Message.status == "FAILED")).count()
            if failed:
                sys.exit(f"{failed} messages FAILED")
            if done == len(ids):
                return time.monotonic()
            if time.monotonic() > deadline:
                sys.exit(f"only {done} of {len(ids)} messages were READ after {DELIVERY_TIMEOUT_S} s")
            time.sleep(0.1)
    finally:
        db.database.close()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(stack: Stack, args: argparse.Namespace) -> None:
    with stack.rest() as rest:
        profiles = [f"bench-send-{i}" for i in range(args.profiles)]
        for profile_id in profiles:
            connect(rest, profile_id)

    baseline = health_checks(stack, args.requests, args.concurrency)
    accepted: list[str] = []
    first_send = time.monotonic()
    send = sends(stack, args.requests, args.concurrency, profiles, accepted)
    all_read = wait_read(stack.database_url, accepted)
    delivery_s = all_read - first_send
    rss = peak_rss_mib(stack.api.process.pid)

    ms = 1000
    print(f"{args.requests} requests at concurrency {args.concurrency}, {args.profiles} simulator profiles, "
          f"{args.database}")
    print(f"baseline gRPC Health/Check via Envoy: {baseline.throughput:,.0f} req/s, "
          f"p50 {baseline.p(50) * ms:.1f} ms, p99 {baseline.p(99) * ms:.1f} ms, {baseline.errors} errors")
    print(f"REST POST /api/messages/text via Envoy: {send.throughput:,.0f} req/s "
          f"({send.throughput / baseline.throughput:.2f}x baseline), "
          f"p50 {send.p(50) * ms:.1f} ms ({send.p(50) / baseline.p(50):.2f}x), "
          f"p99 {send.p(99) * ms:.1f} ms ({send.p(99) / baseline.p(99):.2f}x), {send.errors} errors")
    print(f"delivery: all {len(accepted)} accepted messages READ {delivery_s:.1f} s after the first send: "
          f"{len(accepted) / delivery_s:,.0f} msg/s end to end ({len(accepted) / delivery_s / send.throughput:.2f}x "
          f"the accept rate, {len(accepted) / delivery_s / baseline.throughput:.3f}x baseline)")
    print(f"API server peak RSS (VmHWM): {rss:.0f} MiB")
    print(f"statistics: send latency mean {statistics.mean(send.latencies) * ms:.1f} ms, "
          f"baseline mean {statistics.mean(baseline.latencies) * ms:.1f} ms")




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profiles", type=int, default=4, help="simulator profiles the sends are spread over")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    if not (1 <= args.concurrency <= 256 and args.concurrency <= args.requests <= 100_000 and args.profiles >= 1):
        parser.error("need 1 <= concurrency <= 256, concurrency <= requests <= 100000, profiles >= 1")
    with scratch_database(args.database) as url, running_stack(url) as stack:
        run(stack, args)


if __name__ == "__main__":
    main()

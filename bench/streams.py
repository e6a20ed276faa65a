"""Streams benchmark (issue 16): an API server carrying 1,000 open event streams, and what they cost the unary calls.

Starts the gateway on a fresh SQLite database (everything on 127.0.0.1), connects a simulator profile, and
measures in one run:
  - unary latency without streams (the baseline): wrk on `GET /api/profiles/{id}` through Envoy;
  - the same with 1,000 open WatchEvents streams on the API server (held by a child process, straight to the API
    server's gRPC port, each following the profile's events), as ratios of p50, p99 and throughput;
  - fan-out: from the moment an event is recorded (its timestamp) until the last of the 1,000 watchers has it;
  - the API server's resident memory without and with the streams, per stream.

    .venv/bin/python -m bench.streams [--watchers 1000] [--seconds 10] [--connections 8]

Target (issue 16): unary latency unaffected by 1,000 watchers (ratios about 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time

import grpc

from bench import wrk
from bench.api import PROFILE_ID, connect, get_profile_script, resident_mib
from server.core.config import ROOT
from tests.support.stack import Stack, running_stack, scratch_database
from wagw.v1 import events_pb2, events_pb2_grpc

# Streams per gRPC channel in the watchers' process (an HTTP/2 connection carries 100 at once by default).
STREAMS_PER_CHANNEL = 90
READY_TIMEOUT_S = 120


async def watch(target: str, key: str, count: int) -> None:
    """The child: `count` streams on the profile's events; prints `ready`, then answers `wait <id>` lines, once
    every stream has that event, with the seconds from its timestamp to its arrival at the last stream."""
    channels = [grpc.aio.insecure_channel(target) for _ in range(-(-count // STREAMS_PER_CHANNEL))]
    newest = [0] * count
    arrivals: dict[int, list[float]] = {}  # event id → when each stream got it (wall clock)
    recorded: dict[int, float] = {}  # event id → its timestamp

    async def follow(index: int, started: asyncio.Event) -> None:
        stub = events_pb2_grpc.EventServiceStub(channels[index // STREAMS_PER_CHANNEL])
        call = stub.WatchEvents(events_pb2.WatchEventsRequest(profile_id=PROFILE_ID, since=-1),
                                metadata=[("x-api-key", key)])
        await call.initial_metadata()
        started.set()
        async for event in call:
            arrivals.setdefault(event.id, []).append(time.time())
            recorded[event.id] = event.timestamp.ToDatetime(dt.UTC).timestamp()
            newest[index] = event.id

    starts = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(follow(index, starts[index])) for index in range(count)]
    await asyncio.wait_for(asyncio.gather(*(started.wait() for started in starts)), READY_TIMEOUT_S)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        wanted = int(line.split()[1])
        while min(newest) < wanted:
            if any(task.done() for task in tasks):
                raise SystemExit("a stream ended")
            await asyncio.sleep(0.005)
        print(f"seen {max(arrivals[wanted]) - recorded[wanted]:.4f}", flush=True)
    for channel in channels:
        await channel.close()


def unary(stack: Stack, name: str, seconds: int, connections: int) -> wrk.Result:
    return wrk.run(name, f"{stack.base_url}/profiles/{PROFILE_ID}", get_profile_script(stack.admin_key),
                   connections=connections, duration_s=seconds)


def last_event_after_send(stack: Stack) -> int:
    """Send a text and return the id of its READ receipt's event, once it is in the log."""
    with stack.rest() as rest:
        sent = rest.post("/messages/text", json={"profileId": PROFILE_ID, "chatId": "+628117000001",
                                                 "text": "fan-out"}).json()["data"]["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = rest.get("/events", params={"profileId": PROFILE_ID, "events": "message.ack", "since": 0,
                                               "pageSize": 1000}).json()["data"]
            for event in page["events"]:
                if event["data"].get("messageId") == sent and event["data"]["status"] == "READ":
                    return int(event["id"])
            time.sleep(0.05)
    raise SystemExit("the bench message was not READ in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(watch(args.child[0], args.child[1], args.watchers))
        return
    if not 1 <= args.watchers <= 10_000:
        parser.error("--watchers: 1 to 10,000")
    extra = {"WAGW_MAX_STREAMS_PER_CREDENTIAL": str(args.watchers)}
    with scratch_database("sqlite") as url, running_stack(url, **extra) as stack:
        connect(stack)
        api_pid = stack.api.process.pid
        before = unary(stack, "GET profile, no streams", args.seconds, args.connections)
        rss_before, _ = resident_mib(api_pid)
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.streams", "--watchers", str(args.watchers), "--child",
             stack.grpc_target, stack.admin_key],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            if child.stdout.readline().strip() != "ready":
                raise SystemExit("the watchers did not start")
            time.sleep(1)  # let the server settle after the burst of stream starts
            rss_with, _ = resident_mib(api_pid)
            during = unary(stack, f"GET profile, {args.watchers:,} streams open", args.seconds, args.connections)
            event_id = last_event_after_send(stack)
            child.stdin.write(f"wait {event_id}\n")
            child.stdin.flush()
            fan_out_s = float(child.stdout.readline().split()[1])
        finally:
            child.kill()
            child.wait()
    print(f"wrk: {wrk.THREADS} threads, {args.connections} connections, {args.seconds} s per run")
    print(before.line())
    print(during.line(before))
    print(f"unary latency with {args.watchers:,} streams open: p50 {during.p50_ms / before.p50_ms:.2f}x, "
          f"p99 {during.p99_ms / before.p99_ms:.2f}x of the baseline (target: about 1.0x)")
    print(f"fan-out: the last of the {args.watchers:,} streams had an event {fan_out_s * 1000:.0f} ms after it was "
          "recorded")
    print(f"API server memory: {rss_before:.0f} MiB without streams, {rss_with:.0f} MiB with {args.watchers:,} "
          f"({(rss_with - rss_before) * 1024 / args.watchers:.0f} KiB per stream)")


if __name__ == "__main__":
    main()

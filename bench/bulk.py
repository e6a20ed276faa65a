"""Bulk benchmark: accepting a 10,000-item batch, reading its progress, and pacing accuracy.

Starts the whole gateway (API server, engine host, worker, Envoy) on a fresh SQLite file, bound to 127.0.0.1,
and prints, each with a baseline measured in the same run (a GET of one profile through Envoy):
  - the time to accept a 10,000-item POST /api/bulk/send (target: under 1 s on 2 cores),
  - GET /api/bulk/batch/{id} latency on that batch, p50 and p99,
  - pacing: the gaps between consecutive items as the simulated recipients saw them, against the asked
    delay (mean and p99 deviation; target p99 under 50 ms),
  - the API server's peak memory.
Run: .venv/bin/python -m bench.bulk  (or make bench)."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import sys
import time
from pathlib import Path

import httpx

from tests.support.stack import Stack, running_stack, scratch_database

ITEMS = 10_000
PACED_ITEMS = 21
DELAY_MS = 500
READS = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def ok(response: httpx.Response) -> dict:
    response.raise_for_status()
    return response.json()["data"]


def connected(rest: httpx.Client, profile_id: str) -> None:
    ok(rest.post("/profiles", json={"id": profile_id, "name": profile_id, "engine": "simulator",
                                    "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}}))
    ok(rest.post(f"/profiles/{profile_id}/connect", json={}))
    deadline = time.monotonic() + 30
    while ok(rest.get(f"/profiles/{profile_id}"))["status"] != "CONNECTED":
        if time.monotonic() > deadline:
            sys.exit("the profile did not connect")
        time.sleep(0.1)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(stack: Stack) -> None:
    rest = stack.rest()
    rest.timeout = 120
    connected(rest, "bench-accept")
    connected(rest, "bench-pacing")
    baseline = [timed(lambda: ok(rest.get("/profiles/bench-accept"))) for _ in range(READS)]
    base_p50, base_p99 = percentile(baseline, 50), percentile(baseline, 99)

    items = [{"chatId": f"6281190{i:05d}", "type": "text", "content": {"text": "Hello {name}!"},
              "variables": {"name": f"n{i}"}} for i in range(1, ITEMS + 1)]
    body = {"profileId": "bench-accept", "messages": items, "options": {"delayBetweenMessages": 3_600_000}}
    accepts, batch_id = [], ""
    for _ in range(3):
        started = time.perf_counter()
        batch_id = ok(rest.post("/bulk/send", json=body))["batchId"]
        accepts.append(time.perf_counter() - started)
        ok(rest.post(f"/bulk/batch/{batch_id}/cancel", json={}))
    accept = statistics.median(accepts)

    reads = [timed(lambda: ok(rest.get(f"/bulk/batch/{batch_id}"))) for _ in range(READS)]

    paced = [{"chatId": f"62811910{i:04d}", "type": "text", "content": {"text": f"paced {i}"}}
             for i in range(1, PACED_ITEMS + 1)]
    paced_id = ok(rest.post("/bulk/send", json={"profileId": "bench-pacing", "messages": paced,
                                                "options": {"delayBetweenMessages": DELAY_MS}}))["batchId"]
    deadline = time.monotonic() + PACED_ITEMS * DELAY_MS / 1000 + 30
    while ok(rest.get(f"/bulk/batch/{paced_id}"))["status"] != "COMPLETED":
        if time.monotonic() > deadline:
            sys.exit("the paced batch did not finish")
        time.sleep(0.2)
    seen = []
    for i in range(1, PACED_ITEMS + 1):
        (entry,) = stack.simulator("inbox", phone_or_chat_id=f"+62811910{i:04d}")
        seen.append(dt.datetime.fromisoformat(entry["timestamp"]))
    deviations = [abs((b - a).total_seconds() * 1000 - DELAY_MS) for a, b in itertools.pairwise(seen)]

    print(f"baseline GET /api/profiles/{{id}}: p50 {base_p50 * 1000:.1f} ms, p99 {base_p99 * 1000:.1f} ms")
    print(f"accept {ITEMS:,}-item bulk: {accept * 1000:.0f} ms (median of 3) = {accept / base_p50:.0f}x baseline "
          f"p50 (target < 1000 ms)")
    print(f"GET batch of {ITEMS:,}: p50 {percentile(reads, 50) * 1000:.1f} ms = "
          f"{percentile(reads, 50) / base_p50:.2f}x baseline, p99 {percentile(reads, 99) * 1000:.1f} ms = "
          f"{percentile(reads, 99) / base_p99:.2f}x baseline")
    print(f"pacing over {len(deviations)} gaps of {DELAY_MS} ms: mean deviation "
          f"{statistics.mean(deviations):.1f} ms, p99 {percentile(deviations, 99):.1f} ms (target p99 < 50 ms)")
    print(f"API server peak RSS: {peak_rss_mib(stack.api.process.pid):.0f} MiB")


def main() -> None:
    with scratch_database("sqlite") as url, running_stack(url) as stack:
        run(stack)


if __name__ == "__main__":
    main()

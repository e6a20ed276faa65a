"""Send benchmark: accepting sends (REST send-text through Envoy, driven by wrk) and delivering them end to end,
each against a baseline measured in the same run.

Starts the floor (the project's Envoy config in front of a bare grpcio server answering SendText with a constant:
bench/api.py), then the whole gateway (API server, engine host, worker, Envoy; everything on 127.0.0.1) on a
fresh database (a temp SQLite file, or with --database postgres a throwaway database at WAGW_TEST_POSTGRES_URL),
connects a few simulator profiles without a send gap, and measures:
  - accept: `POST /api/messages/text` through Envoy with wrk (2 threads, 32 connections), spread over the
    profiles and 97 chats each: throughput and latency, as a ratio against the floor's;
  - delivery: from the first send until every accepted message is READ on the simulator (whose clock runs 20 times
    faster than real time, as in the tests), and the delivery rate that makes, as a ratio of the accept rate;
  - the API server's peak RSS (VmHWM).

    .venv/bin/python -m bench.send [--seconds 10] [--profiles 4] [--database sqlite|postgres]

Every wait is bounded by a deadline; it stops by itself (make bench runs it).
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import wrk
from bench.api import envoy_in_front, floor_server, resident_mib, send_text_script
from server.core import db
from server.core.models import Message
from tests.support.stack import Stack, running_stack, scratch_database

CONNECT_TIMEOUT_S = 30
DELIVERY_TIMEOUT_S = 600


def spread_send_script(key: str, profiles: list[str]) -> str:
    """A new text each time, to profile n % len(profiles) and one of 97 chats."""
    names = "{" + ", ".join(f'"{profile}"' for profile in profiles) + "}"
    body = (f'string.format(\'{{"profileId":"%s","chatId":"+62811%07d","text":"bench %d"}}\', '
            f"({names})[n % {len(profiles)} + 1], n % 97 + 1, n)")
    return wrk.script("POST", {"X-API-Key": key, "Content-Type": "application/json"}, body_lua=body)


def connect(stack: Stack, profile_id: str) -> None:
    with stack.rest() as rest:
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


def wait_read(database_url: str) -> tuple[int, float]:
    """How many messages were accepted, and when (monotonic) every one of them is READ (polling the database,
    the truth); exits on the deadline or a FAILED message."""
    db.open_database(database_url)
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    outbound = Message.select().where(Message.direction == "OUTBOUND")
    try:
        while True:
            with db.database.connection_context():
                total = outbound.count()
                done = outbound.where(Message.status == "READ").count()
                failed = outbound.where(Message.status == "FAILED").count()
            if failed:
                sys.exit(f"{failed} messages FAILED")
            if done == total:
                return total, time.monotonic()
            if time.monotonic() > deadline:
                sys.exit(f"only {done} of {total} messages were READ after {DELIVERY_TIMEOUT_S} s")
            time.sleep(0.1)
    finally:
        db.database.close()


def floor(seconds: int) -> wrk.Result:
    key = "wagw_floor000_" + "x" * 43  # the floor checks nothing; the header is sent as the gateway's clients do
    with floor_server() as port, envoy_in_front(port) as proxy:
        return wrk.run("floor POST text", f"{proxy.url}/api/messages/text", send_text_script(key),
                       duration_s=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="the wrk runs")
    parser.add_argument("--profiles", type=int, default=4, help="simulator profiles the sends are spread over")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    if not (1 <= args.seconds <= 600 and 1 <= args.profiles <= 100):
        parser.error("need 1 <= seconds <= 600 and 1 <= profiles <= 100")
    baseline = floor(args.seconds)
    profiles = [f"bench-send-{i}" for i in range(args.profiles)]
    with scratch_database(args.database) as url, running_stack(url) as stack:
        for profile_id in profiles:
            connect(stack, profile_id)
        first_send = time.monotonic()
        accept = wrk.run(f"gateway POST text ({args.database})", f"{stack.base_url}/messages/text",
                         spread_send_script(stack.admin_key, profiles), duration_s=args.seconds)
        accepted, all_read = wait_read(stack.database_url)
        _, peak = resident_mib(stack.api.process.pid)
    delivery_s = all_read - first_send
    print(f"wrk: {wrk.THREADS} threads, {wrk.CONNECTIONS} connections, {args.seconds} s; {args.profiles} simulator "
          f"profiles, {args.database}")
    print(baseline.line())
    print(f"{accept.line(baseline)}  [target >= 0.4x the floor, p99 < 50 ms]")
    print(f"delivery: all {accepted:,} accepted messages READ {delivery_s:.1f} s after the first send: "
          f"{accepted / delivery_s:,.0f} msg/s end to end = {accepted / delivery_s / accept.requests_per_s:.2f}x "
          f"the accept rate")
    print(f"API server peak RSS (VmHWM): {peak:.0f} MiB")


if __name__ == "__main__":
    main()

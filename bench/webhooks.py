"""Webhook delivery benchmark: events per second delivered to a local receiver, and event-to-webhook latency
(the event row's created_at → the receiver's arrival time), against a baseline made in the same run: a plain
loop of direct HTTP POSTs of the same signed bodies to the same receiver. Then the same paced run again with a
second webhook beside the first whose receiver takes --slow-s to answer: the first receiver's latency should not
change (its ratio against the paced run without the slow one).

Targets (issue 15): at least 1,000 events/s delivered, p99 from event to delivery under 250 ms, and a slow
receiver does not slow deliveries to the others.

    .venv/bin/python -m bench.webhooks [--events 2000] [--rate 1000] [--seconds 5] [--slow-s 5]
                                       [--database sqlite|postgres]

Everything is on 127.0.0.1 and bounded: a fresh database (a temp SQLite file, or a throwaway PostgreSQL
database at WAGW_TEST_POSTGRES_URL), one `python -m worker` process on Redis (REDIS_URL) in a namespace of its
own, deleted afterwards. Events are written straight into the event log, as the engine host would.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]
# This process writes event rows, as the engine host would, and announces them on the event bus (Redis pub/sub)
# that wakes the worker's dispatcher: the same broker and namespace as the worker it starts.
NAMESPACE = f"wagw-bench-{secrets.token_hex(4)}"
os.environ.update(WAGW_BROKER="redis", WAGW_REDIS_NAMESPACE=NAMESPACE)

import httpx  # noqa: E402
import redis  # noqa: E402

from bench.fleet import percentile  # noqa: E402
from server.core import (  # noqa: E402
    db,
    events,
    migrations,
    webhook_attempts,
)
from server.core.config import Settings  # noqa: E402
from server.core.models import Event, Profile, Webhook  # noqa: E402
from tests.support.stack import scratch_database  # noqa: E402

HOST = "127.0.0.1"
SECRET = "whsec_" + "b" * 32


def serve(delay_s: float, arrivals: multiprocessing.Queue[int | tuple[int, float]]) -> None:
    """The receiver's process: an HTTP/1.1 keep-alive server that puts its port, then (event id, arrival time) of
    each POST on `arrivals`, and answers `delay_s` later."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response, without Nagle: otherwise every answer waits out a 40 ms delayed ACK.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrivals.put((json.loads(body)["id"], time.time()))
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    arrivals.put(server.server_address[1])
    server.serve_forever()


class Receiver:
    """A receiver in a process of its own (so that this process writing events does not hold up its answers for
    the GIL), noting when each event id arrived."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.arrivals: dict[int, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue()
        # A daemon: it ends with this process.
        context.Process(target=serve, args=(delay_s, self._queue), daemon=True).start()
        self.port = self._queue.get(timeout=30)
        threading.Thread(target=self._note, daemon=True).start()

    def _note(self) -> None:
        while True:
            event_id, arrived = self._queue.get()
            with self.lock:
                self.arrivals.setdefault(event_id, arrived)
                self.count += 1

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.count = 0

    def wait(self, ids: set[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if ids <= self.arrivals.keys():
                    return True
            time.sleep(0.01)
        return False


def epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp()


def write_events(count: int, rate: float | None) -> list[tuple[int, float]]:
    """Append `count` message.received events (paced at `rate` a second, or in batches of 50 as fast as
    possible); returns (id, created_at) of each."""
    written: list[tuple[int, float]] = []
    start = time.monotonic()
    with db.database.connection_context():
        batch = 1 if rate else 50
        for first in range(0, count, batch):
            if rate:
                pause = start + first / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            with db.write_transaction():
                for n in range(first, min(first + batch, count)):
                    row = events.record("message.received", "bench", {"messageId": f"msg_{n}", "text": "x" * 200})
                    written.append((row.id, epoch(row.created_at)))
    return written


def baseline(receiver: Receiver, count: int, rate: float | None) -> tuple[float, list[float]]:
    """The same bodies and headers POSTed directly in a loop: (events per second, latencies in seconds)."""
    hook = Webhook(id="wh_direct", url=f"http://{HOST}:{receiver.port}/direct", headers={}, secret=SECRET)
    sent: list[tuple[int, float]] = []
    receiver.reset()
    with httpx.Client(timeout=10, trust_env=False) as client:
        start = time.monotonic()
        for n in range(count):
            if rate:
                pause = start + n / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            event = Event(id=10_000_000 + n, name="message.received", profile_id="bench", created_at=created,
                          data={"messageId": f"msg_{n}", "text": "x" * 200})
            payload, headers = webhook_attempts.request_of(hook, event)
            client.post(hook.url, content=payload, headers=headers).raise_for_status()
            sent.append((event.id, epoch(created)))
        elapsed = time.monotonic() - start
    if not receiver.wait({event_id for event_id, _ in sent}, timeout=30):
        raise SystemExit("the receiver did not note every direct POST")
    return count / elapsed, [receiver.arrivals[event_id] - created for event_id, created in sent]




def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process has used so far: per event, a figure other load on the machine moves far
    less than the throughput."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def worker(url: str, threads: int) -> Iterator[subprocess.Popen[bytes]]:
    namespace = NAMESPACE
    env = {**os.environ, "DATABASE_URL": url, "WAGW_BROKER": "redis", "WAGW_REDIS_NAMESPACE": namespace,
           "WAGW_ALLOW_PRIVATE_URLS": "1", "WAGW_WORKER_THREADS": str(threads), "WAGW_LOG_LEVEL": "ERROR",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}"}
    process = subprocess.Popen([sys.executable, "-m", "worker"], env=env, cwd=ROOT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        queue = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        for key in queue.scan_iter(f"{namespace}*"):
            queue.delete(key)


def paced_run(receiver: Receiver, count: int, rate: float, timeout: float | None = None
              ) -> tuple[float, list[float], int]:
    """`count` events written at `rate` a second: (events per second delivered, latencies in seconds, duplicate
    arrivals). The deadline allows for deliveries far slower than the rate (20 a second)."""
    timeout = timeout or 120 + count / 20
    receiver.reset()
    start = time.time()
    written = write_events(count, rate)
    if not receiver.wait({event_id for event_id, _ in written}, timeout=timeout):
        raise SystemExit(f"the paced run was not delivered within {timeout:g} s")
    latencies = [receiver.arrivals[i] - created for i, created in written]
    return count / (max(receiver.arrivals.values()) - start), latencies, receiver.count - len(receiver.arrivals)


def report(name: str, per_s: float, latencies: list[float]) -> None:
    ms = [value * 1000 for value in latencies]
    print(f"  {name:<34} {per_s:9.1f} events/s   latency p50 {statistics.median(ms):7.1f} ms   "
          f"p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events of the throughput burst (max 20000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second of the latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run (max 60)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--threads", type=int, default=Settings().worker_threads,
                        help="the worker's WAGW_WORKER_THREADS (default: the gateway's)")
    parser.add_argument("--slow-s", type=float, default=5.0, help="how long the slow receiver takes to answer")
    parser.add_argument("--slow-events", type=int, default=200,
                        help="events of the run beside the slow receiver (kept small: its deliveries take long)")
    args = parser.parse_args()
    burst = max(1, min(args.events, 20_000))
    paced = max(1, int(min(args.seconds, 60) * args.rate))

    receiver = Receiver()
    with scratch_database(args.database) as url:
        db.open_database(url)
        migrations.migrate()
        with db.database.connection_context():
            Profile.create(id="bench", name="bench", engine="simulator")
            Webhook.create(id="wh_bench", profile="bench", url=f"http://{HOST}:{receiver.port}/hook",
                           events=["message.*"], secret=SECRET, created_at=dt.datetime(2020, 1, 1))
        with worker(url, args.threads) as process:
            # Warm up: the worker is up and delivering once one event has gone through.
            warm = write_events(1, None)
            if not receiver.wait({warm[0][0]}, timeout=30):
                raise SystemExit("the worker delivered nothing within 30 s")

            print(f"webhook delivery on {args.database}, worker threads {args.threads}, "
                  f"receiver {HOST}:{receiver.port}")
            print(f"burst: {burst} events written as fast as possible")
            receiver.reset()
            start, cpu = time.time(), cpu_s(process.pid)
            written = write_events(burst, None)
            if not receiver.wait({event_id for event_id, _ in written}, timeout=300):
                raise SystemExit("the burst was not delivered within 300 s")
            gateway_tput = burst / (max(receiver.arrivals.values()) - start)
            burst_cpu_ms = (cpu_s(process.pid) - cpu) * 1000 / burst
            burst_latency = [receiver.arrivals[i] - created for i, created in written]
            base_tput, base_burst_latency = baseline(receiver, burst, None)
            report("gateway (dispatcher+queue+worker)", gateway_tput, burst_latency)
            report("baseline (direct POST loop)", base_tput, base_burst_latency)

            print(f"paced: {paced} events at {args.rate:g}/s")
            cpu = cpu_s(process.pid)
            gateway_paced, paced_latency, duplicates = paced_run(receiver, paced, args.rate)
            paced_cpu_ms = (cpu_s(process.pid) - cpu) * 1000 / paced
            base_paced, base_paced_latency = baseline(receiver, paced, args.rate)
            report("gateway (dispatcher+queue+worker)", gateway_paced, paced_latency)
            report("baseline (direct POST loop)", base_paced, base_paced_latency)

            slowed = max(1, min(args.slow_events, paced))
            print(f"paced again ({slowed} events), beside a second webhook whose receiver answers in {args.slow_s:g} s;"
                  " the same events without it as the baseline")
            _, alone_latency, _ = paced_run(receiver, slowed, args.rate)
            slow = Receiver(delay_s=args.slow_s)
            with db.database.connection_context():
                Webhook.create(id="wh_slow", profile="bench", url=f"http://{HOST}:{slow.port}/hook",
                               events=["message.*"], secret=SECRET, created_at=dt.datetime(2020, 1, 1))
            slowed_tput, slowed_latency, _ = paced_run(receiver, slowed, args.rate, timeout=600)
            report("gateway, the other receiver", slowed_tput, slowed_latency)
            print(f"  the slow receiver got {len(slow.arrivals)} of the {slowed} events meanwhile")

        print("ratios (gateway / baseline):")
        print(f"  burst throughput {gateway_tput / base_tput:6.2f}x   "
              f"paced p99 latency {percentile(paced_latency, 99) / percentile(base_paced_latency, 99):8.1f}x   "
              f"paced p50 latency {statistics.median(paced_latency) / statistics.median(base_paced_latency):8.1f}x")
        print(f"  beside a slow receiver / without: p99 latency "
              f"{percentile(slowed_latency, 99) / percentile(alone_latency, 99):8.1f}x")
        print(f"  duplicate arrivals in the paced run: {duplicates}")
        print(f"worker CPU per event delivered (dispatch, queue, attempt): burst {burst_cpu_ms:.2f} ms, "
              f"paced {paced_cpu_ms:.2f} ms")
        print(f"targets: paced throughput {gateway_paced:,.0f} events/s (>= 1,000), p99 "
              f"{percentile(paced_latency, 99) * 1000:,.0f} ms (< 250 ms), beside a slow receiver p99 "
              f"{percentile(slowed_latency, 99) * 1000:,.0f} ms")
        db.database.close()


if __name__ == "__main__":
    main()

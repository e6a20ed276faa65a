"""API benchmark (issue 15): what the gateway's REST API serves against what Envoy and grpcio allow, measured in
one run with wrk (2 threads, 32 connections, 15 s each by default; everything on 127.0.0.1):

  - envoy direct: Envoy answering /healthz itself (no upstream call): Envoy's own ceiling here;
  - floor: the project's rendered Envoy config in front of a bare grpcio server (8 threads) answering GetProfile
    and SendText with constants: what any gateway built this way can do at best;
  - floor without the Lua envelope: the same, with the Lua filter taken out (what the envelope costs);
  - the gateway: `GET /api/profiles/{id}` (auth + read) and `POST /api/messages/text` (auth, validate, outbox,
    enqueue; the texts delivered meanwhile on the same cores, as `make run` does), then the POST again with the
    deliveries paused (the worker stopped: the send's own path alone), on the real stack, on SQLite and on
    PostgreSQL, each as a ratio against the floor measured just
    before it (this machine's speed drifts by up to 1.6x within one run of the bench: Envoy's CPU per request went
    from 0.46 to 0.75 ms between its first and last runs, so a floor measured minutes earlier is another machine's);
  - where the CPU went during each gateway run: each process's milliseconds per request, PostgreSQL's included;
  - the API server's resident memory after the run.

    .venv/bin/python -m bench.api [--seconds 15] [--databases sqlite,postgres] [--api-servers N]

The gateway runs as `make run` starts it: one API server process per core (WAGW_API_PROCESSES), all behind Envoy.

Targets (issue 15): GET >= 0.5x the floor, send >= 0.4x the floor, p99 < 50 ms at 32 connections; the floor
>= 0.5x Envoy with the transcoder but without the Lua envelope.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health, health_pb2_grpc

from bench import fleet, wrk
from gateway import envoy as gateway_envoy
from server.core.config import Settings
from server.core.runtime import SERVER_OPTIONS
from tests.support.net import LOCALHOST, free_port
from tests.support.stack import Stack, running_stack, scratch_database
from wagw.v1 import messages_pb2, messages_pb2_grpc, profiles_pb2, profiles_pb2_grpc

PROFILE_ID = "bench-api"
FLOOR_THREADS = 8
# An unmeasured GET run on a new stack before its first measured one. The floor is measured warm (the envelope's
# runs come before it); a new stack's API servers open their threads' database connections, and PostgreSQL's new
# backends read their catalogs, during their first second of load (server side, that second's p99 was 38 ms and
# its slowest call 120 ms; each second after, 5-22 ms, most of them 7-10).
WARM_UP_S = 3


def get_profile_script(key: str) -> str:
    return wrk.script("GET", {"X-API-Key": key})


def send_text_script(key: str) -> str:
    # A new text to one of 97 recipients each time, as a real sender would.
    body = (f'string.format(\'{{"profileId":"{PROFILE_ID}","chatId":"+62811%07d","text":"bench %d"}}\', '
            f"n % 97 + 1, n)")
    return wrk.script("POST", {"X-API-Key": key, "Content-Type": "application/json"}, body_lua=body)


class ConstantProfiles(profiles_pb2_grpc.ProfileServiceServicer):
    PROFILE = profiles_pb2.Profile(id=PROFILE_ID, name="Bench", engine=profiles_pb2.Profile.SIMULATOR,
                                   status=profiles_pb2.Profile.CONNECTED, phone_number="+628123456789")

    def GetProfile(self, request: Any, context: grpc.ServicerContext) -> profiles_pb2.Profile:
        return self.PROFILE


class ConstantMessages(messages_pb2_grpc.MessageServiceServicer):
    MESSAGE = messages_pb2.Message(id="msg_bench", profile_id=PROFILE_ID, chat_id="628123456789@s.whatsapp.net",
                                   type=messages_pb2.MessageType.TEXT, status=messages_pb2.Message.PENDING,
                                   content=messages_pb2.MessageContent(text="bench"))

    def SendText(self, request: Any, context: grpc.ServicerContext) -> messages_pb2.Message:
        return self.MESSAGE


@contextmanager
def floor_server() -> Iterator[int]:
    """A bare grpcio server with constant answers, and the standard health service; yields its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=FLOOR_THREADS), options=list(SERVER_OPTIONS))
    profiles_pb2_grpc.add_ProfileServiceServicer_to_server(ConstantProfiles(), server)
    messages_pb2_grpc.add_MessageServiceServicer_to_server(ConstantMessages(), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port(f"{LOCALHOST}:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait()


def without_lua(config: dict[str, Any]) -> None:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != gateway_envoy.LUA_FILTER]


@contextmanager
def envoy_in_front(upstream_port: int, edit: Callable[[dict[str, Any]], None] | None = None
                   ) -> Iterator[gateway_envoy.Envoy]:
    proxy = gateway_envoy.start(free_port(), [f"127.0.0.1:{upstream_port}"], free_port(), edit=edit)
    try:
        wait_healthy(proxy.url)
        yield proxy
    finally:
        proxy.stop()


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/healthz").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"{url}/healthz did not turn healthy")
        time.sleep(0.2)


FLOOR_KEY = "wagw_floor000_" + "x" * 43  # the floor checks nothing; the header is sent as the gateway's clients do


def floor_get(proxy: gateway_envoy.Envoy, seconds: int, name: str = "floor GET profile") -> wrk.Result:
    return wrk.run(name, f"{proxy.url}/api/profiles/{PROFILE_ID}", get_profile_script(FLOOR_KEY), duration_s=seconds)


def floor_send(proxy: gateway_envoy.Envoy, seconds: int, name: str = "floor POST text") -> wrk.Result:
    return wrk.run(name, f"{proxy.url}/api/messages/text", send_text_script(FLOOR_KEY), duration_s=seconds)


def envelope_results(port: int, proxy: gateway_envoy.Envoy, seconds: int) -> list[wrk.Result]:
    """Envoy's own ceiling, then the floor with and without the Lua envelope, one right after the other."""
    results = [wrk.run("envoy direct (/healthz)", f"{proxy.url}/healthz", wrk.script("GET", {}), duration_s=seconds),
               floor_get(proxy, seconds), floor_send(proxy, seconds)]
    with envoy_in_front(port, without_lua) as bare:
        results += [floor_get(bare, seconds, "floor GET profile without Lua"),
                    floor_send(bare, seconds, "floor POST text without Lua")]
    return results


def connect(stack: Stack) -> None:
    with stack.rest() as rest:
        rest.post("/profiles", json={"id": PROFILE_ID, "name": "Bench", "engine": "simulator",
                                     "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}}).raise_for_status()
        rest.post(f"/profiles/{PROFILE_ID}/connect", json={}).raise_for_status()
        deadline = time.monotonic() + 30
        while rest.get(f"/profiles/{PROFILE_ID}").json()["data"]["status"] != "CONNECTED":
            if time.monotonic() > deadline:
                raise SystemExit("the bench profile did not connect")
            time.sleep(0.1)


def resident_mib(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def with_cpu(run: Callable[[], wrk.Result]) -> tuple[wrk.Result, str]:
    """A wrk run, and where the CPU went meanwhile: each process's milliseconds per request (the gateway's, and
    PostgreSQL's server processes), and how busy the machine was (wrk's share is the rest)."""
    before = fleet.snapshot()
    result = run()
    spent, machine = fleet.cpu_spent(before, fleet.snapshot())
    per_request = {name: cpu_s / max(result.requests, 1) * 1000 for name, cpu_s in spent.items()}
    shown = ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(per_request.items(), key=lambda item: -item[1])
                      if ms >= 0.01)
    return result, f"  CPU per request (ms): {shown}; the machine's {os.cpu_count()} cores {machine:.0%} busy"


def gateway_results(database: str, seconds: int, api_servers: int, floor: gateway_envoy.Envoy
                    ) -> tuple[list[tuple[wrk.Result, wrk.Result, str]], tuple[float, float]]:
    """GET, POST, then POST with the deliveries paused, on the gateway, each right after the same on the floor
    (which idles meanwhile): (floor, gateway, where the gateway's CPU went) for each, and the API servers' memory.

    The first POST runs as `make run` would: the worker and the engine host deliver the accepted texts meanwhile,
    on the same cores. The last stops the worker first (the texts wait, PENDING), so that it measures the send's
    own path (auth, validate, outbox, enqueue) alone, and the difference is what the deliveries took."""
    with scratch_database(database) as url, running_stack(url, api_servers=api_servers) as stack:
        connect(stack)
        wrk.run("warm-up", f"{stack.base_url}/profiles/{PROFILE_ID}", get_profile_script(stack.admin_key),
                duration_s=WARM_UP_S)
        get_floor = floor_get(floor, seconds)
        get = with_cpu(lambda: wrk.run(f"gateway GET profile ({database})", f"{stack.base_url}/profiles/{PROFILE_ID}",
                                       get_profile_script(stack.admin_key), duration_s=seconds))
        send_floor = floor_send(floor, seconds)
        send = with_cpu(lambda: wrk.run(f"gateway POST text ({database})", f"{stack.base_url}/messages/text",
                                        send_text_script(stack.admin_key), duration_s=seconds))
        stack.workers.stop()
        alone_floor = floor_send(floor, seconds)
        alone = with_cpu(lambda: wrk.run(f"gateway POST text ({database}), deliveries paused",
                                         f"{stack.base_url}/messages/text", send_text_script(stack.admin_key),
                                         duration_s=seconds))
        memory = [resident_mib(server.child.process.pid) for server in stack.api_servers]
        return ([(get_floor, *get), (send_floor, *send), (alone_floor, *alone)],
                (sum(rss for rss, _ in memory), sum(peak for _, peak in memory)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=wrk.DURATION_S, help="each wrk run")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--api-servers", type=int, default=Settings().api_processes,
                        help="API server processes behind Envoy (default: as `make run` starts them, one per core)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    print(f"wrk: {wrk.THREADS} threads, {wrk.CONNECTIONS} connections, {args.seconds} s per run", flush=True)
    with floor_server() as port, envoy_in_front(port) as floor:
        envelope = envelope_results(port, floor, args.seconds)
        direct, with_get, with_send, bare_get, bare_send = envelope
        print(direct.line())
        for result in envelope[1:]:
            print(result.line(direct))
        print(f"the Lua envelope: the floor is {with_get.requests_per_s / bare_get.requests_per_s:.2f}x (GET) and "
              f"{with_send.requests_per_s / bare_send.requests_per_s:.2f}x (POST) of the same without it "
              f"(target >= 0.5x)", flush=True)
        report: dict[str, Any] = {"floor": [vars(result) for result in envelope]}
        for database in filter(None, args.databases.split(",")):
            runs, (rss, peak) = gateway_results(database, args.seconds, args.api_servers, floor)
            (get_floor, get, get_cpu), (send_floor, send, send_cpu), (alone_floor, alone, alone_cpu) = runs
            print(get_floor.line())
            print(f"{get.line(get_floor)}  [target >= 0.5x the floor, p99 < 50 ms]")
            print(get_cpu)
            print(send_floor.line())
            print(f"{send.line(send_floor)}  [target >= 0.4x the floor, p99 < 50 ms]")
            print(send_cpu)
            print(alone_floor.line())
            print(f"{alone.line(alone_floor)}  [the send's own path: what the deliveries took is the difference]")
            print(alone_cpu)
            print(f"API server memory ({database}, {args.api_servers} process(es)): {rss:.0f} MiB resident, "
                  f"{peak:.0f} MiB peak", flush=True)
            report[database] = {"floor_get": vars(get_floor), "get": vars(get), "floor_send": vars(send_floor),
                                "send": vars(send), "floor_send_alone": vars(alone_floor),
                                "send_deliveries_paused": vars(alone), "rss_mib": rss, "peak_mib": peak}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

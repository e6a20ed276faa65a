"""What the scale benches share: many connected simulator profiles at once, and the CPU time and memory of a tree
of processes read from /proc (no profiler needed).

Profiles are created and connected through the REST API on a few threads, then counted by the list route's
status filter until every one is CONNECTED, each wait bounded by a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

# Parallel REST calls while creating and connecting profiles: enough to overlap the round trips, few enough not
# to starve the gateway's own processes of the two cores.
PARALLEL = 8
PAGE_SIZE = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0 to 100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ok(response: httpx.Response) -> dict:
    response.raise_for_status()
    return response.json()["data"]


def connect_profiles(base_url: str, key: str, ids: list[str], *, no_gap: bool = True,
                     timeout_s: float = 300) -> float:
    """Create and connect simulator profiles `ids` (auto-paired; without a send gap when `no_gap`), and wait until
    every one is CONNECTED. Returns the seconds it took; raises SystemExit on the deadline."""
    started = time.monotonic()
    body = {"engine": "simulator", "engineSettings": {"autoPair": True, "autoPairDelayMs": 100}}
    if no_gap:
        body["sendLimits"] = {"minGapMs": 0, "jitterMs": 0}

    def one(profile_id: str) -> None:
        with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=60) as rest:
            ok(rest.post("/profiles", json={"id": profile_id, "name": profile_id, **body}))
            ok(rest.post(f"/profiles/{profile_id}/connect", json={}))

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, ids))
    wanted = set(ids)
    with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=60) as rest:
        while not wanted <= connected(rest):
            if time.monotonic() - started > timeout_s:
                raise SystemExit(f"{len(wanted - connected(rest))} of {len(ids)} profiles did not connect "
                                 f"in {timeout_s:.0f} s")
            time.sleep(0.5)
    return time.monotonic() - started


def connected(rest: httpx.Client) -> set[str]:
    """The ids of every CONNECTED profile."""
    ids: set[str] = set()
    token = ""
    while True:
        page = ok(rest.get("/profiles", params={"status": "CONNECTED", "pageSize": PAGE_SIZE, "pageToken": token}))
        ids |= {profile["id"] for profile in page.get("profiles", [])}
        token = page.get("nextPageToken", "")
        if not token:
            return ids


# Processes


@dataclass(frozen=True)
class Usage:
    """One process: what it is, its CPU time so far (user + system) and its resident memory."""

    pid: int
    name: str
    cpu_s: float
    rss_mib: float


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def usage(pid: int) -> Usage | None:
    """The process's usage now; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    rss_kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    # utime and stime are the 14th and 15th fields of stat, the 12th and 13th after the command's ")".
    cpu_s = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    return Usage(pid, describe([part.decode(errors="replace") for part in argv if part]), cpu_s, rss_kib / 1024)


def describe(argv: list[str]) -> str:
    """A short name for a process: the module a Python process runs, or the program's name (PostgreSQL's server
    processes, which retitle themselves per connection, as one)."""
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    if argv and argv[0].startswith("postgres"):
        return "postgres"
    return Path(argv[0]).name if argv else "?"


def usages(pids: list[int]) -> dict[int, Usage]:
    return {pid: found for pid in pids if (found := usage(pid)) is not None}


def by_name(values: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Summed by process name (two processes of one name are shown as one)."""
    summed: dict[str, float] = {}
    for name, value in values:
        summed[name] = summed.get(name, 0.0) + value
    return summed


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and total CPU seconds so far, over all its cores (/proc/stat; idle and iowait are not
    busy)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(ticks)
    return (total - ticks[3] - ticks[4]) / CLOCK_TICKS, total / CLOCK_TICKS


Snapshot = tuple[dict[int, Usage], tuple[float, float]]


def snapshot() -> Snapshot:
    """The CPU used so far by this process's tree (the stack a bench started) and by PostgreSQL's server processes
    (not in the tree, and sharing the cores), with the machine's busy and total CPU."""
    postgres = [int(entry.name) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and _comm(entry).startswith("postgres")]
    return usages(tree(os.getpid()) + postgres), machine_cpu()


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text()
    except OSError:
        return ""


def cpu_spent(before: Snapshot, after: Snapshot) -> tuple[dict[str, float], float]:
    """Each process's CPU seconds between two snapshots, by name, and the share of the machine that was busy."""
    spent = by_name((usage.name, usage.cpu_s - (before[0][pid].cpu_s if pid in before[0] else 0.0))
                    for pid, usage in after[0].items())
    (busy_before, total_before), (busy_after, total_after) = before[1], after[1]
    return spent, (busy_after - busy_before) / max(total_after - total_before, 1e-9)


def cpu_over(pids: list[int], seconds: float) -> dict[int, tuple[Usage, float]]:
    """Each process's CPU time over the next `seconds`, as a share of one core (with its usage at the end)."""
    before = usages(pids)
    time.sleep(seconds)
    after = usages(pids)
    return {pid: (after[pid], (after[pid].cpu_s - before[pid].cpu_s) / seconds)
            for pid in after if pid in before}

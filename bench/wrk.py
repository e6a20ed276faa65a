"""Load from wrk (Debian's `wrk`; `make bench` installs it): a C load generator, so the client is never the
bottleneck, as a Python client is at about 1,000 req/s here. One run, parsed into throughput and latency
percentiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

THREADS = 2
CONNECTIONS = 32
DURATION_S = 15

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors, timeouts and non-2xx answers

    def line(self, baseline: Result | None = None) -> str:
        ratio = f" = {self.requests_per_s / baseline.requests_per_s:.2f}x {baseline.name}" if baseline else ""
        return (f"{self.name}: {self.requests_per_s:,.0f} req/s{ratio}; p50 {self.p50_ms:.1f} ms, "
                f"p90 {self.p90_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; {self.requests:,} requests, "
                f"{self.errors} errors")


def script(method: str, headers: dict[str, str], body: str = "", body_lua: str = "") -> str:
    """A wrk Lua script: a fixed request, or with `body_lua` a Lua expression (of the counter `n`) per request."""
    lines = [f"wrk.method = {_lua(method)}", *(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())]
    if body_lua:
        lines += ["local n = 0", "request = function()", "  n = n + 1",
                  f"  return wrk.format(nil, nil, nil, {body_lua})", "end"]
    elif body:
        lines.append(f"wrk.body = {_lua(body)}")
    return "\n".join(lines) + "\n"


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(name: str, url: str, lua: str, *, threads: int = THREADS, connections: int = CONNECTIONS,
        duration_s: int = DURATION_S) -> Result:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (Debian package wrk)")
    with tempfile.TemporaryDirectory(prefix="wagw-wrk-") as tmp:
        path = Path(tmp) / "request.lua"
        path.write_text(lua)
        output = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", "-s", str(path), url],
            capture_output=True, text=True, check=True, timeout=duration_s + 60).stdout
    return parse(name, output)


def parse(name: str, output: str) -> Result:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(match[1]) * _UNITS[match[2]] if match else float("nan")

    requests = int(re.search(r"(\d+) requests in", output)[1])
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(non_2xx[1])
    return Result(name, float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]), latency("50"), latency("90"),
                  latency("99"), requests, errors)

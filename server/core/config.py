"""Configuration, read once from the environment. Every variable is listed in the README."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# The repository: server/core/config.py is two packages down.
ROOT = Path(__file__).resolve().parents[2]


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def _addresses(name: str) -> tuple[str, ...]:
    """A comma-separated list of `host:port` addresses (blanks ignored); a malformed one stops the start."""
    found = tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())
    for address in found:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{name}: '{address}' is not host:port")
    return found


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


@dataclass(frozen=True)
class Settings:
    # Storage: a SQLite file by default; `postgresql://…` for PostgreSQL.
    database_url: str = field(default_factory=lambda: os.environ.get(
        "DATABASE_URL", f"sqlite:///{ROOT / 'data' / 'wagw.db'}"))
    redis_url: str = field(default_factory=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    # Where the gRPC server listens; Envoy's upstream. Every default port lies below 32768, where Linux's ephemeral
    # range (net.ipv4.ip_local_port_range, 32768-60999) begins: in it, any outgoing connection of the machine (a test
    # run's, a webhook's) may hold the port when the gateway starts, and the bind fails.
    grpc_host: str = field(default_factory=lambda: os.environ.get("WAGW_GRPC_HOST", "127.0.0.1"))
    grpc_port: int = field(default_factory=lambda: _int("WAGW_GRPC_PORT", 30051))
    # The API server's second port, on the same host: its unary methods on a thread-pool server, where Envoy
    # sends REST and unary gRPC calls (server/api/app.py says why).
    grpc_unary_port: int = field(default_factory=lambda: _int("WAGW_GRPC_UNARY_PORT", 30151))
    # The address and port Envoy listens on for REST and gRPC callers, and its admin port (127.0.0.1 only).
    http_host: str = field(default_factory=lambda: os.environ.get("WAGW_HTTP_HOST", "0.0.0.0"))
    http_port: int = field(default_factory=lambda: _int("WAGW_HTTP_PORT", 3001))
    envoy_admin_port: int = field(default_factory=lambda: _int("WAGW_ENVOY_ADMIN_PORT", 9901))
    # The WebSocket bridge (gateway/websocket.py), Envoy's upstream for /ws: internal, like the API server.
    ws_host: str = field(default_factory=lambda: os.environ.get("WAGW_WS_HOST", "127.0.0.1"))
    ws_port: int = field(default_factory=lambda: _int("WAGW_WS_PORT", 3002))
    # The API server's Prometheus endpoint (server/metrics.py), Envoy's upstream for /metrics: internal too.
    metrics_host: str = field(default_factory=lambda: os.environ.get("WAGW_METRICS_HOST", "127.0.0.1"))
    metrics_port: int = field(default_factory=lambda: _int("WAGW_METRICS_PORT", 9464))
    # The engine host (internal: bind it to a private address). Its id defaults to its address, so a restarted
    # host takes its own sessions back at once.
    engine_host: str = field(default_factory=lambda: os.environ.get("WAGW_ENGINE_HOST", "127.0.0.1"))
    engine_port: int = field(default_factory=lambda: _int("WAGW_ENGINE_PORT", 30061))
    engine_host_id: str = field(default_factory=lambda: os.environ.get("WAGW_ENGINE_HOST_ID", ""))
    # Where the API servers and the workers dial this engine host (it registers the address in the database):
    # needed when it listens on a wildcard address or behind NAT; by default its host (the loopback for a
    # wildcard) and port.
    engine_address: str = field(default_factory=lambda: os.environ.get("WAGW_ENGINE_ADDRESS", ""))
    # Scaled out (README "Scaling out"): every API server (gRPC), WebSocket bridge and API server metrics endpoint
    # Envoy spreads requests over, and the API servers every WebSocket bridge uses, as `host:port,host:port`.
    # Unset: the one of this machine (WAGW_GRPC_HOST:WAGW_GRPC_PORT, WAGW_WS_…, WAGW_METRICS_…).
    api_servers: tuple[str, ...] = field(default_factory=lambda: _addresses("WAGW_API_SERVERS"))
    # Every API server's unary port (WAGW_GRPC_UNARY_PORT), for Envoy. Unset: this machine's when
    # WAGW_API_SERVERS is unset too, otherwise WAGW_API_SERVERS (which answer unary calls as well, more slowly).
    api_unary_servers: tuple[str, ...] = field(default_factory=lambda: _addresses("WAGW_API_UNARY_SERVERS"))
    ws_servers: tuple[str, ...] = field(default_factory=lambda: _addresses("WAGW_WS_SERVERS"))
    metrics_servers: tuple[str, ...] = field(default_factory=lambda: _addresses("WAGW_METRICS_SERVERS"))
    # The simulated WhatsApp (`python -m server.simulator`, internal like the engine host): where it listens, and
    # the address engine hosts dial (default: host:port). Its state (a SQLite file; "" keeps it in memory only),
    # the seed of its ids and codes, and its clock (0.05: a 60 s QR code lasts 3 s).
    simulator_host: str = field(default_factory=lambda: os.environ.get("WAGW_SIMULATOR_HOST", "127.0.0.1"))
    simulator_port: int = field(default_factory=lambda: _int("WAGW_SIMULATOR_PORT", 30071))
    simulator_address: str = field(default_factory=lambda: os.environ.get("WAGW_SIMULATOR_ADDRESS", ""))
    simulator_state: str = field(default_factory=lambda: os.environ.get(
        "WAGW_SIMULATOR_STATE", str(ROOT / "data" / "simulator.db")))
    simulator_seed: str = field(default_factory=lambda: os.environ.get("WAGW_SIMULATOR_SEED") or "wagw")
    simulator_time_scale: float = field(
        default_factory=lambda: float(os.environ.get("WAGW_SIMULATOR_TIME_SCALE", "").strip() or 1.0))
    # The secret the gateway's processes show each other on internal calls (engine host, simulator); `make run`
    # makes one.
    internal_token: str = field(default_factory=lambda: os.environ.get("WAGW_INTERNAL_TOKEN", ""))
    # Events older than this many days are deleted from the event log (0: keep them all).
    event_retention_days: float = field(
        default_factory=lambda: float(os.environ.get("WAGW_EVENT_RETENTION_DAYS") or 30))
    # How long WhatsApp's rate-overlimit pauses all sends of the profile.
    rate_limit_pause_s: float = field(default_factory=lambda: _float("WAGW_RATE_LIMIT_PAUSE_S", 60))
    # Durable jobs (server/core/jobs.py): how long a process's hold on a job lasts unless renewed (it renews every
    # third of it while the work goes on, so a killed process's jobs are free again this soon), and how late a
    # queued wake-up may be before the sweep queues another (a queue that forgot it: Redis restarted empty).
    job_lease_s: float = field(default_factory=lambda: _float("WAGW_JOB_LEASE_S", 5))
    sweep_overdue_s: float = field(default_factory=lambda: _float("WAGW_SWEEP_OVERDUE_S", 5))
    # Dramatiq worker threads per worker process, and as many running the profiles' delivery steps (one send per
    # profile is in flight at any time anyway). 16, as many as an engine host serves at once (WAGW_GRPC_WORKERS):
    # its group commit records more sends in each transaction when more are in flight. bench.delivery, one worker,
    # alternated: 140 msg/s on average against 124 with 8 (eight runs each; 16, 32 and 64 alike).
    worker_threads: int = field(default_factory=lambda: _int("WAGW_WORKER_THREADS", 16))
    # API server processes `make run` starts beside each other when the broker is Redis (one Python process uses one
    # core at most): on WAGW_GRPC_PORT, WAGW_GRPC_PORT + 1, … (unary ports on WAGW_GRPC_UNARY_PORT, + 1, …, metrics
    # on WAGW_METRICS_PORT, + 1, …), all behind Envoy. Default: one per core, at most 4. With the in-process
    # broker, or WAGW_API_SERVERS set, one.
    api_processes: int = field(default_factory=lambda: _int("WAGW_API_PROCESSES", min(os.cpu_count() or 1, 4)))
    # Threads serving the API server's unary RPCs (on both its ports), each with a database connection kept open
    # (streams hold none: server/api/streams.py).
    grpc_workers: int = field(default_factory=lambda: _int("WAGW_GRPC_WORKERS", 16))
    # Event streams (WatchEvents, WatchBatch, REST watches, WebSocket subscriptions) one credential may hold open
    # at once on an API server.
    max_streams_per_credential: int = field(default_factory=lambda: _int("WAGW_MAX_STREAMS_PER_CREDENTIAL", 32))
    # How long an API server trusts an API key it has read (seconds; 0: read it on every request). A key revoked or
    # deleted through an API server stops working there at once, elsewhere (other API servers, the CLI) within this.
    key_cache_s: float = field(default_factory=lambda: float(os.environ.get("WAGW_KEY_CACHE_S", "").strip() or 2.0))
    # JWT: an HS256 secret, or an RS256 JWKS file; issuer and audience are checked when set.
    jwt_secret: str = field(default_factory=lambda: os.environ.get("WAGW_JWT_SECRET", ""))
    jwt_jwks_file: str = field(default_factory=lambda: os.environ.get("WAGW_JWT_JWKS_FILE", ""))
    jwt_issuer: str = field(default_factory=lambda: os.environ.get("WAGW_JWT_ISSUER", ""))
    jwt_audience: str = field(default_factory=lambda: os.environ.get("WAGW_JWT_AUDIENCE", ""))
    # An admin API key to ensure at start (otherwise a first key is made and printed once).
    admin_api_key: str = field(default_factory=lambda: os.environ.get("WAGW_ADMIN_API_KEY", ""))
    # The engine a profile gets when its create request names none.
    default_engine: str = field(default_factory=lambda: os.environ.get("WAGW_DEFAULT_ENGINE", "simulator"))
    # Webhook targets and media URLs on addresses that are not public (server/core/urls.py) are refused unless
    # this is 1.
    allow_private_urls: bool = field(
        default_factory=lambda: os.environ.get("WAGW_ALLOW_PRIVATE_URLS", "") in ("1", "true", "yes"))
    # Hosts outbound URLs may reach even on private addresses: `host` or `host:port`, comma-separated (an
    # internal media server or webhook receiver), while the guard stays on for everything else.
    trusted_url_hosts: str = field(default_factory=lambda: os.environ.get("WAGW_TRUSTED_URL_HOSTS", ""))
    # The media store of each engine host (server/core/media_store.py): the directory received media is kept in once
    # downloaded, its size cap (the least recently read files go first), and how long after a message its media
    # is served at all (then 410 GONE, and the file is deleted): WhatsApp's servers keep media about 30 days.
    media_dir: str = field(default_factory=lambda: os.environ.get("WAGW_MEDIA_DIR", str(ROOT / "data" / "media")))
    media_max_mb: float = field(default_factory=lambda: _float("WAGW_MEDIA_MAX_MB", 1024))
    media_retention_days: float = field(default_factory=lambda: _float("WAGW_MEDIA_RETENTION_DAYS", 30))
    # The Dramatiq broker: "redis" (REDIS_URL), "memory" (in-process: the API server runs the workers
    # itself), or "auto" (redis when it answers at start, else memory).
    broker: str = field(default_factory=lambda: os.environ.get("WAGW_BROKER", "auto"))
    # Prefix of the gateway's Redis keys, so several gateways (or test runs) can share one Redis.
    redis_namespace: str = field(default_factory=lambda: os.environ.get("WAGW_REDIS_NAMESPACE", "wagw"))
    log_level: str = field(default_factory=lambda: os.environ.get("WAGW_LOG_LEVEL", "INFO"))
    # A multiplier of the webhook retry schedule (10 s … 8 h): tests shrink it to milliseconds.
    webhook_backoff_scale: float = field(
        default_factory=lambda: float(os.environ.get("WAGW_WEBHOOK_BACKOFF_SCALE", "").strip() or 1.0))

    @property
    def simulator_target(self) -> str:
        """The address engine hosts dial to reach the simulated WhatsApp."""
        return self.simulator_address or f"{self.simulator_host}:{self.simulator_port}"

    @property
    def engine_target(self) -> str:
        """The address other processes dial to reach this engine host."""
        return self.engine_address or f"{reachable(self.engine_host)}:{self.engine_port}"

    @property
    def api_upstreams(self) -> tuple[str, ...]:
        """Every API server, for Envoy and the WebSocket bridge."""
        return self.api_servers or (self.api_target,)

    @property
    def api_unary_upstreams(self) -> tuple[str, ...]:
        """Every API server's unary port, for Envoy."""
        if self.api_unary_servers:
            return self.api_unary_servers
        return self.api_servers or (f"{reachable(self.grpc_host)}:{self.grpc_unary_port}",)

    @property
    def ws_upstreams(self) -> tuple[str, ...]:
        """Every WebSocket bridge, for Envoy."""
        return self.ws_servers or (f"{reachable(self.ws_host)}:{self.ws_port}",)

    @property
    def metrics_upstreams(self) -> tuple[str, ...]:
        """Every API server's metrics endpoint, for Envoy."""
        return self.metrics_servers or (f"{reachable(self.metrics_host)}:{self.metrics_port}",)

    @property
    def api_target(self) -> str:
        """The address a process on this machine dials to reach the API server (the operator CLI does)."""
        return f"{reachable(self.grpc_host)}:{self.grpc_port}"


def reachable(host: str) -> str:
    """Where a process on this machine reaches a server that listens on `host`: a wildcard address is the loopback."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def load() -> Settings:
    return Settings()

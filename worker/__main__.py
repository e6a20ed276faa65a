"""`python -m worker`: Dramatiq worker threads on the configured broker, the sweeper and the webhook dispatcher."""

from __future__ import annotations

from server.core import broker, runtime
from server.core.config import load
from worker import runner


def main() -> None:
    settings = load()
    runtime.prepare(settings, max_connections=runner.connections(settings))
    broker.configure(settings)
    with runner.running(settings):
        runtime.wait_for_signal()


if __name__ == "__main__":
    main()

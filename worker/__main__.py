"""`python -m worker`: Dramatiq worker threads on the configured broker, and the sweeper."""

from __future__ import annotations

from server import runtime
from server.config import load
from worker import runner


def main() -> None:
    settings = load()
    runtime.prepare(settings)
    with runner.running(settings):
        runtime.wait_for_signal()


if __name__ == "__main__":
    main()

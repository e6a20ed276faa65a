"""Structured logs: one JSON object per line, so a request id can be followed across processes."""

from __future__ import annotations

import json
import logging
import sys

from server.core.db import utcnow


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utcnow().isoformat(timespec="milliseconds") + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def fields(**values: object) -> dict[str, dict[str, object]]:
    """`log.info("msg", extra=fields(k=v))`: values that land as top-level keys of the JSON line."""
    return {"fields": values}

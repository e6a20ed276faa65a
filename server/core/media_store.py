"""The media store: message media kept as files in a directory (WAGW_MEDIA_DIR), never in the database.

An engine host keeps here what it downloaded from WhatsApp (received media, read through GET
/api/messages/{id}/media) and what it sent from a URL, so a second read needs no download. Each file has a
sidecar `<key>.json` with its type, name and expiry. Two limits hold: a size cap (WAGW_MEDIA_MAX_MB; when a write
passes it, the least recently read files go first, and a file evicted is downloaded again on its next read) and
an expiry (a file past it is deleted on sight: the message's media retention has passed).

Writes are atomic (a temporary file renamed into place), so two processes sharing the directory never read half
a file. `now` is injectable for tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.core.db import utcnow

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


@dataclass(frozen=True)
class StoredMedia:
    data: bytes
    mimetype: str
    filename: str


class MediaStore:
    def __init__(self, directory: str | Path, max_bytes: int, now: Callable[[], dt.datetime] = utcnow):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._now = now

    def get(self, key: str) -> StoredMedia | None:
        """The file kept under `key` (a message id), or None: never kept, evicted, or expired (then deleted)."""
        path, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text())
            if dt.datetime.fromisoformat(info["expires_at"]) <= self._now():
                self.delete(key)
                return None
            data = path.read_bytes()
        except (OSError, ValueError, KeyError):
            return None
        os.utime(meta)  # read now: the last to be evicted
        return StoredMedia(data, info.get("mimetype", ""), info.get("filename", ""))

    def put(self, key: str, data: bytes, mimetype: str, filename: str, expires_at: dt.datetime) -> None:
        """Keep `data` under `key` until `expires_at`, then evict the least recently read files over the cap."""
        if expires_at <= self._now():
            return
        path, meta = self._paths(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        _write(path, data)
        _write(meta, json.dumps({"mimetype": mimetype, "filename": filename,
                                 "expires_at": expires_at.isoformat()}).encode())
        self._evict(keep=key)

    def delete(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a media store key: {key!r}")
        return self.directory / key, self.directory / f"{key}.json"

    def _evict(self, keep: str) -> None:
        """Delete expired files, then the least recently read ones until the store fits its cap (never `keep`,
        the file just written, even when it alone is over the cap)."""
        entries = []
        now = self._now()
        for meta in self.directory.glob("*.json"):
            key = meta.name.removesuffix(".json")
            try:
                info = json.loads(meta.read_text())
                size = (self.directory / key).stat().st_size
                read_at = meta.stat().st_mtime
            except (OSError, ValueError):
                continue
            if dt.datetime.fromisoformat(info.get("expires_at", "1970-01-01T00:00:00")) <= now:
                self.delete(key)
            else:
                entries.append((read_at, key, size))
        total = sum(size for _, _, size in entries)
        for _, key, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if key != keep:
                self.delete(key)
                total -= size


def _write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

"""Media for an outgoing message, made ready for the engine: inline base64 decoded, URLs downloaded (with
the size cap of its kind, and the type checked against what it is sent as)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import magic

from server.core.content import MEDIA_LIMITS, check_type
from server.core.errors import ApiError
from server.core.urls import is_private_host
from server.engine_host.engines.base import Media

DOWNLOAD_TIMEOUT_S = 30.0


class MediaError(ApiError):
    def __init__(self, reason: str):
        super().__init__("VALIDATION_ERROR", f"media: {reason}", field="media")


def resolve(kind: str, media: dict[str, Any], *, allow_private: bool) -> Media:
    """`media` is the stored wagw.v1.Media (url, or base64 data; mimetype; filename)."""
    limit = MEDIA_LIMITS[kind]
    data = base64.b64decode(media["data"]) if "data" in media else _download(media["url"], limit, allow_private)
    sniffed = magic.from_buffer(data[:8192], mime=True)
    mimetype = media.get("mimetype") or sniffed
    try:
        check_type(kind, sniffed if kind in ("IMAGE", "VIDEO") else mimetype, "media")
    except ApiError as error:
        raise MediaError(error.message.removeprefix("media: ")) from error
    return Media(data=data, mimetype=mimetype, filename=media.get("filename", ""))


def _download(url: str, limit: int, allow_private: bool) -> bytes:
    host = httpx.URL(url).host
    if not allow_private and is_private_host(host):
        raise MediaError(f"'{host}' is a private or loopback address")
    try:
        with httpx.stream("GET", url, timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as response:
            if response.status_code != 200:
                raise MediaError(f"downloading {url} answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise MediaError(f"{url} is larger than {limit // (1024 * 1024)} MiB")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as error:
        raise MediaError(f"cannot download {url}: {error}") from error

"""Media for an outgoing message, made ready for the engine: inline base64 decoded, or the URL downloaded; then
its type checked against what it is sent as (an image route refuses a PDF, whatever the URL claimed).

Downloads go through the outbound URL guard (server/core/urls.py): the address connected to is the one checked,
and each redirect hop (at most MAX_REDIRECTS) is a connection checked again. The size cap of the media's kind is
enforced as the bytes arrive: a declared Content-Length over it is refused before the body, and a body that
grows past it is dropped at once. The whole download takes at most DOWNLOAD_DEADLINE_S, well within the engine-host
call that waits for it (server/engine_host/client.py, 30 s). Every refusal is a MediaError, which fails the
message with its reason.
"""

from __future__ import annotations

import base64
import time
from functools import cache
from typing import Any

import httpx
import magic

from server.core import urls
from server.core.content import MEDIA_LIMITS, check_type
from server.core.errors import ApiError
from server.engine_host.engines.base import Media

MAX_REDIRECTS = 5
DOWNLOAD_DEADLINE_S = 20.0
# Connecting, and each wait for the next bytes.
TIMEOUT_S = 5.0


class MediaError(ApiError):
    def __init__(self, reason: str):
        super().__init__("VALIDATION_ERROR", f"media: {reason}", field="media")


def resolve(kind: str, media: dict[str, Any], guard: urls.Guard) -> Media:
    """`media` is the stored wagw.v1.Media (url, or base64 data; mimetype; filename)."""
    limit = MEDIA_LIMITS[kind]
    data = base64.b64decode(media["data"]) if "data" in media else _download(media["url"], limit, guard)
    sniffed = magic.from_buffer(data[:8192], mime=True)
    mimetype = media.get("mimetype") or sniffed
    try:
        check_type(kind, sniffed if kind in ("IMAGE", "VIDEO") else mimetype, "media")
    except ApiError as error:
        raise MediaError(error.message.removeprefix("media: ")) from error
    return Media(data=data, mimetype=mimetype, filename=media.get("filename", ""))


@cache
def _client(guard: urls.Guard) -> httpx.Client:
    return guard.client(timeout=TIMEOUT_S)


def _download(url: str, limit: int, guard: urls.Guard) -> bytes:
    client = _client(guard)
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    try:
        request = client.build_request("GET", url)
    except httpx.InvalidURL as error:
        raise MediaError(f"{url} is not a valid URL: {error}") from None
    for hop in range(MAX_REDIRECTS + 1):
        where = url if hop == 0 else f"the redirect to {request.url}"
        try:
            response = client.send(request, stream=True)
        except urls.Refused as refused:
            raise MediaError(f"refused {where}: {refused}") from None
        except httpx.HTTPError as error:
            raise MediaError(f"cannot download {where}: {error}") from error
        try:
            if response.next_request is not None:
                request = response.next_request
                continue
            return _body(response, where, limit, deadline)
        finally:
            response.close()
    raise MediaError(f"{url} redirects more than {MAX_REDIRECTS} times")


def _body(response: httpx.Response, where: str, limit: int, deadline: float) -> bytes:
    if response.status_code != 200:
        raise MediaError(f"downloading {where} answered HTTP {response.status_code}")
    too_large = f"{where} is larger than {limit // (1024 * 1024)} MiB"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MediaError(f"{too_large} (Content-Length {declared})")
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise MediaError(too_large)
            if time.monotonic() > deadline:
                raise MediaError(f"downloading {where} took longer than {DOWNLOAD_DEADLINE_S:g} s")
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise MediaError(f"cannot download {where}: {error}") from error
    return b"".join(chunks)

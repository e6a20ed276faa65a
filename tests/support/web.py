"""The Internet, as far as tests need it: an HTTP server on 127.0.0.1 that serves what a test scripts for a path
(a file, a redirect, an error status, or a body that never ends) and records every request it gets.

Each test stack trusts this server by the name `localhost` and its port (WAGW_TRUSTED_URL_HOSTS, see
tests/support/stack.py), so that a URL `web.url(path)` is a first hop the URL guard lets through, as it would a
public server; the same server written any other way (127.0.0.1, 2130706433, localhost on another port) is a
private address to the guard, and refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.net import LOCALHOST

TRUSTED_NAME = "localhost"


@dataclass
class Hit:
    path: str
    host: str  # the Host header
    sent: int = 0  # body bytes written before the answer ended or the client went away
    finished: bool = False  # the handler is done with it (the whole answer written, or the client gone)


@dataclass
class _Route:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    endless: bool = False  # after `body`, zeros until the client goes away


class Web:
    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOCALHOST, 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="web", daemon=True).start()

    @property
    def trusted(self) -> str:
        """The WAGW_TRUSTED_URL_HOSTS entry under which the gateway may reach this server."""
        return f"{TRUSTED_NAME}:{self.port}"

    def url(self, path: str, host: str = TRUSTED_NAME) -> str:
        """The URL of `path`; `host` as the test wants this server written (the trusted name by default)."""
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, content_type: str = "application/octet-stream", *, status: int = 200,
              length: int | None = None) -> None:
        """Answer GET `path` with `body` (Content-Length `length` if given: a server may claim any size)."""
        headers = (("Content-Type", content_type), ("Content-Length", str(len(body) if length is None else length)))
        self._add(path, _Route(status, body, headers))

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self._add(path, _Route(status, headers=(("Location", location), ("Content-Length", "0"))))

    def endless(self, path: str, head: bytes, content_type: str) -> None:
        """Answer with `head`, then zeros for as long as the client reads (no Content-Length)."""
        self._add(path, _Route(200, head, (("Content-Type", content_type), ("Connection", "close")), endless=True))

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [hit for hit in self._hits if path is None or hit.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes[path] = route

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hit = Hit(self.path, self.headers.get("Host", ""))
                with web._lock:
                    web._hits.append(hit)
                    route = web._routes.get(self.path, _Route(404, b"not found", (("Content-Length", "9"),)))
                try:
                    self.send_response(route.status)
                    for name, value in route.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self._write(hit, route.body)
                    while route.endless:
                        self._write(hit, bytes(64 * 1024))
                except OSError:
                    self.close_connection = True  # the client went away
                finally:
                    hit.finished = True

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.do_GET()

            def _write(self, hit: Hit, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()
                hit.sent += len(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


_internet: Web | None = None
_internet_lock = threading.Lock()


def the_internet() -> Web:
    """The test process's one Web, started on first use and shared by every stack it starts."""
    global _internet
    with _internet_lock:
        if _internet is None:
            _internet = Web()
        return _internet

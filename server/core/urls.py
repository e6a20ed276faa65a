"""The outbound URL guard: every URL the gateway reaches on a caller's behalf (media downloads in the engine
host, webhook deliveries in the workers and in TestWebhook) goes through here, so that a caller cannot make the
gateway fetch from, or post to, the network it runs in (server-side request forgery).

- A host written as an address is read as the address it is, in every notation the C library accepts
  (`2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`); any other host is a name, resolved.
- The address is refused unless it is public unicast: loopback, private, link-local, carrier-grade NAT
  (100.64.0.0/10), multicast, reserved, unspecified and documentation ranges are refused, and so is an IPv4
  address carried inside IPv6 (mapped, compatible, NAT64, 6to4) when that address would be. A name is refused when
  any of its addresses is (a second lookup could return the other one).
- The check runs inside the HTTP client's connect (`Guard.client`): the connection goes to the address that was
  checked, never to a second lookup's answer, while the Host header and the TLS name (SNI and certificate) stay
  the URL's. So every redirect hop, being a connection of its own, is checked again: webhooks follow no redirect,
  media downloads follow a few.
- `WAGW_ALLOW_PRIVATE_URLS=1` turns the address check off (development). `WAGW_TRUSTED_URL_HOSTS` lets through
  named hosts, `host` or `host:port` (an internal media server or webhook receiver), and nothing else.

The API also checks a URL when it is given (`check_public_url`), without resolving: refused addresses and
localhost names get a clear 400 at once; other names are checked at every connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

import httpcore
import httpx

from server.core.config import Settings
from server.core.errors import invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the host's addresses, as strings (socket.getaddrinfo by default; tests inject their own).
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2000
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits (NAT64's well-known prefix, and the
# deprecated IPv4-compatible form): a gateway that can reach them reaches that IPv4 address. Local-use NAT64
# prefixes may embed it elsewhere: refused whole.
_CARRY_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_ALLOW_HINT = "set WAGW_ALLOW_PRIVATE_URLS=1 or list the host in WAGW_TRUSTED_URL_HOSTS to allow it"


class Refused(Exception):
    """The URL's host is, or resolves to, an address the guard refuses. The message says which and why."""


def parse_address(host: str) -> Address | None:
    """The address a URL host stands for when it is written as one, in any notation; None for a name."""
    host = host.strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # IPv4 as inet_aton(3) reads it: 1 to 4 parts, each decimal, octal (0…) or hex (0x…), the last one filling
    # the remaining bytes (127.1 is 127.0.0.1, 2130706433 is 127.0.0.1 too).
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    values = [int(part[2:], 16) if part[:2].lower() == "0x" else int(part, 8 if part[0] == "0" else 10)
              for part in parts]
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(parts)):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def refusal(address: Address) -> str | None:
    """Why an outbound connection to `address` is refused, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and not (address.is_loopback or address.is_unspecified):
        if address in _LOCAL_NAT64:
            return "a local-use NAT64 address (64:ff9b:1::/48)"
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and any(address in network for network in _CARRY_IPV4):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            reason = refusal(carried)
            return f"{reason} inside IPv6 ({carried})" if reason else None
    for test, reason in (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in _CGNAT, "a carrier-grade NAT address (100.64.0.0/10)"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    ):
        if test:
            return reason
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _normal_host(host: str) -> str:
    address = parse_address(host)
    return str(address) if address is not None else host.strip("[]").rstrip(".").lower()


def _trusted_entries(raw: str) -> frozenset[tuple[str, int | None]]:
    """`host` or `host:port` entries (IPv6 as `[::1]:8080`), comma-separated."""
    entries = set()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        parsed = httpx.URL(f"http://{item}")
        entries.add((_normal_host(parsed.host), parsed.port))
    return frozenset(entries)


@dataclass(frozen=True)
class Guard:
    """What outbound URLs may reach. `allow_private` turns the address check off; `trusted` holds (host, port)
    pairs let through whatever their addresses (port None: any port)."""

    allow_private: bool = False
    trusted: frozenset[tuple[str, int | None]] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Guard:
        return cls(allow_private=settings.allow_private_urls,
                   trusted=_trusted_entries(settings.trusted_url_hosts))

    def is_trusted(self, host: str, port: int) -> bool:
        name = _normal_host(host)
        return (name, None) in self.trusted or (name, port) in self.trusted

    def check_host(self, host: str, port: int) -> None:
        """Without resolving: refuse a host written as a refused address."""
        if self.allow_private or self.is_trusted(host, port):
            return
        address = parse_address(host)
        if address is not None and (reason := refusal(address)):
            shown = f"'{host}' ({address})" if str(address) != host.strip("[]") else f"'{host}'"
            raise Refused(f"{shown} is {reason}; {_ALLOW_HINT}")

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host:port, every one checked. Raises Refused, or OSError when the
        name does not resolve."""
        self.check_host(host, port)
        address = parse_address(host)
        if address is not None:
            return [str(address)]
        found = self.resolver(host, port)
        if not found:
            raise OSError(f"'{host}' has no address")
        if not (self.allow_private or self.is_trusted(host, port)):
            for item in found:
                if reason := refusal(ipaddress.ip_address(item)):
                    raise Refused(f"'{host}' resolves to {item}, {reason}; {_ALLOW_HINT}")
        return found

    def client(self, *, timeout: float, max_connections: int = 100) -> httpx.Client:
        """An HTTP client whose every connection goes through this guard. It follows no redirect (callers that
        follow some send each hop themselves, each a connection checked again) and ignores proxy settings of
        the environment (the check must be about the address actually connected to)."""
        return httpx.Client(transport=_GuardedTransport(self, max_connections), timeout=timeout,
                            follow_redirects=False, trust_env=False)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's connect, with the guard between the name and the socket: the addresses are checked, then
    tried in order, as socket.create_connection would."""

    def __init__(self, guard: Guard):
        self._guard = guard
        self._plain = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.addresses(host, port)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve '{host}': {error}") from error
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._plain.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("outbound URLs use TCP only")


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose connections go through the guard."""

    def __init__(self, guard: Guard, max_connections: int):
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=max_connections,
            max_keepalive_connections=max(1, max_connections // 4), network_backend=_GuardedBackend(guard))


def check_public_url(raw: str, field_name: str, guard: Guard) -> str:
    """A URL given to the API (a webhook's), checked before it is stored: http(s), not too long, and not a
    refused address or a localhost name (names are checked again at every connection). VALIDATION_ERROR
    naming the field otherwise."""
    url = raw.strip()
    if not url:
        raise invalid(field_name, "is required")
    if len(url) > MAX_URL_LENGTH:
        raise invalid(field_name, f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise invalid(field_name, f"'{raw}' is not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise invalid(field_name, f"'{raw}' is not an http(s) URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        guard.check_host(parsed.host, port)
    except Refused as refused:
        raise invalid(field_name, str(refused)) from None
    name = _normal_host(parsed.host)
    if (name == "localhost" or name.endswith(".localhost")) and not (guard.allow_private or
                                                                     guard.is_trusted(name, port)):
        raise invalid(field_name, f"'{parsed.host}' is a loopback name; {_ALLOW_HINT}")
    return url

"""Outbound URLs the gateway fetches or posts to (media, webhooks): refused when they point inside the
network, unless configuration allows it, so a caller cannot make the gateway reach private services."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from server.core.errors import invalid


def is_private_host(host: str) -> bool:
    """Literal private, loopback or link-local addresses and localhost names. Names that resolve to such
    addresses are checked again when the address is known."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


def check_public_url(raw: str, field: str, *, allow_private: bool) -> str:
    url = raw.strip()
    if not url:
        raise invalid(field, "is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(field, f"'{raw}' is not an http(s) URL")
    if len(url) > 2000:
        raise invalid(field, "must be at most 2000 characters")
    if not allow_private and is_private_host(parts.hostname):
        raise invalid(field, f"'{parts.hostname}' is a private or loopback address; "
                             "set WAGW_ALLOW_PRIVATE_URLS=1 to allow it")
    return url

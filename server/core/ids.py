"""Resource ids: a short type prefix, then the creation time in milliseconds and 64 random bits, in
lower-case Crockford base32, so ids sort by creation."""

from __future__ import annotations

import base64
import os
import time

# RFC 4648 base32 → Crockford's alphabet (no i, l, o, u), lower-case; the order of symbols is kept.
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")


def new_id(prefix: str) -> str:
    """`<prefix>_<24 chars>`, e.g. `ct_1k2m…`: 6 bytes of milliseconds, then 9 random bytes."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(9)
    return f"{prefix}_{base64.b32encode(raw).decode().translate(_CROCKFORD)}"

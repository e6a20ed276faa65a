"""Resource ids: a short type prefix, then the creation time in milliseconds and 72 random bits, in
lower-case Crockford base32, so ids sort by creation. Within one process they strictly increase: an id made in
the same millisecond as the one before takes that one's random part plus one, so records made in one millisecond
(several accepted sends) still sort in the order they were made."""

from __future__ import annotations

import base64
import os
import threading
import time

# RFC 4648 base32 → Crockford's alphabet (no i, l, o, u), lower-case; the order of symbols is kept.
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")
_RANDOM_BYTES = 9

_lock = threading.Lock()
_last = (0, 0)  # the last id's milliseconds and random part


def new_id(prefix: str) -> str:
    """`<prefix>_<24 chars>`, e.g. `ct_1k2m…`: 6 bytes of milliseconds, then 9 random bytes."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last
        if millis <= last_millis and last_random + 1 < 256**_RANDOM_BYTES:
            millis, random = last_millis, last_random + 1  # the same millisecond (or the clock stepped back)
        else:
            random = int.from_bytes(os.urandom(_RANDOM_BYTES), "big")
        _last = (millis, random)
    raw = millis.to_bytes(6, "big") + random.to_bytes(_RANDOM_BYTES, "big")
    return f"{prefix}_{base64.b32encode(raw).decode().translate(_CROCKFORD)}"

"""The two ways the simulated network says no, as the gateway's errors (they travel as gRPC status).

A Refusal is WhatsApp's answer to a device: what the engine host's simulator engine passes on to the API
(ENGINE_ERROR by default; RATE_LIMITED, PROFILE_NOT_CONNECTED, NOT_GROUP_ADMIN, NOT_FOUND, FORBIDDEN). A
SimulationError is a simulated phone (a test, a demo) doing something WhatsApp refuses: a wrong QR code, a
revoked invite, an unregistered number scanning.
"""

from __future__ import annotations

import grpc

from server.core.errors import ApiError


class Refusal(ApiError):
    """WhatsApp refused a device's call; `reason` is its own words."""

    def __init__(self, reason: str, code: str = "ENGINE_ERROR", **metadata: str):
        super().__init__(code, reason, **metadata)
        self.reason = reason


class SimulationError(ApiError):
    """A simulated phone did something WhatsApp refuses (CONFLICT: the state does not allow it)."""

    def __init__(self, message: str):
        super().__init__("CONFLICT", message, grpc.StatusCode.FAILED_PRECONDITION)

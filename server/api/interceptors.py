"""The API server's side of what happens around every RPC (server/core/rpc.py does the rest): the caller's
credentials are checked against the method's scope, the principal is kept for the servicers, and every RPC is
counted in the metrics. The same for calls that came through Envoy (where HTTP headers arrive as metadata) and
calls straight from a gRPC client, on either of the API server's ports (server/api/app.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from server.api import auth, metrics
from server.core.config import Settings
from server.core.rpc import AsyncInterceptor, Interceptor, Rules


class _GatewayRules(Rules):
    def admit(self, method: str, metadata: Mapping[str, str]) -> auth.Principal | None:
        scope = auth.required_scope(method)
        if scope is None:  # an open method (health, reflection, Meta's webhooks)
            return None
        principal = auth.authenticate(metadata, self.settings)
        principal.require_scope(scope)
        return principal

    def scoped(self, caller: auth.Principal | None) -> contextlib.AbstractContextManager[None]:
        return auth.principal_context(caller)

    def observe(self, method: str, code: str, seconds: float) -> None:
        metrics.observe_rpc(method, code, seconds)

    def subject(self, caller: auth.Principal) -> str | None:
        return caller.subject


class GatewayInterceptor(_GatewayRules, AsyncInterceptor):
    """The main port's (grpc.aio): every method, the streams among them."""


class UnaryGatewayInterceptor(_GatewayRules, Interceptor):
    """The unary port's (a thread-pool server): each pool thread keeps its database connection, as the main
    port's do."""

    def __init__(self, settings: Settings):
        super().__init__(settings, keeps_connections=True)

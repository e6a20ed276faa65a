"""Meta's Graph API errors as the gateway's: rate limits, the 24-hour window, spam limits, bad tokens."""

from __future__ import annotations

from pywa import errors as wa_errors

from server.engine_host.engines.base import (
    EngineError,
)

ENGINE = "cloudapi"




def engine_error(exc: wa_errors.WhatsAppError) -> EngineError:
    """The EngineError for a Cloud API error, by pywa's typed exceptions: rate limits (4, 80007, 130429, 131048,
    131056, 131064, 133016, and the Groups API's 131208) → RATE_LIMITED; an unknown group (131041) → NOT_FOUND;
    everything else → ENGINE_ERROR with a reason naming the Meta code. Metadata carries `wa_error_code` and, from
    the Graph API, `fbtrace_id` for Meta support."""
    metadata = {"wa_error_code": str(exc.code)}
    if exc.fbtrace_id:
        metadata["fbtrace_id"] = exc.fbtrace_id
    detail = exc.details or exc.message
    code = "ENGINE_ERROR"
    if isinstance(exc, wa_errors.ThrottlingError | wa_errors.GroupRateLimitHit):
        code, reason = "RATE_LIMITED", f"rate limited by WhatsApp ({exc.code}): {detail}"
    elif isinstance(exc, wa_errors.ReEngagementMessage):
        reason = "more than 24 hours since the customer last replied: use a template"
    elif isinstance(exc, wa_errors.MessageUndeliverable):
        reason = f"undeliverable ({exc.code}): the recipient is not on WhatsApp or cannot receive this message"
    elif isinstance(exc, wa_errors.AuthorizationError):
        reason = f"authorization failed ({exc.code}): {exc.message}"
    elif isinstance(exc, wa_errors.GroupUnknown):
        code, reason = "NOT_FOUND", f"group not found ({exc.code}): {detail}"
    else:
        reason = f"{exc.message} ({exc.code})" + (f": {exc.details}" if exc.details and exc.details != exc.message
                                                  else "")
    return EngineError(ENGINE, reason, code=code, **metadata)


def is_transient(exc: wa_errors.WhatsAppError) -> bool:
    return bool(exc.is_transient) or (exc.status_code or 0) >= 500

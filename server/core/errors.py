"""The gateway's error codes and how they travel as gRPC status.

Every failure a caller can see is an `ApiError`. It becomes a `google.rpc.Status` whose details carry a
`google.rpc.ErrorInfo` (domain "wagw", reason = our code), so gRPC clients read the code from the status and
the Envoy gateway turns the same status into the REST error envelope.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "wagw"

# Our code → the gRPC status it travels as (DESIGN.md §2). The HTTP status follows from the gRPC one in Envoy.
GRPC_STATUS = {
    "VALIDATION_ERROR": grpc.StatusCode.INVALID_ARGUMENT,
    "UNAUTHORIZED": grpc.StatusCode.UNAUTHENTICATED,
    "FORBIDDEN": grpc.StatusCode.PERMISSION_DENIED,
    "NOT_GROUP_ADMIN": grpc.StatusCode.PERMISSION_DENIED,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "GONE": grpc.StatusCode.NOT_FOUND,
    "CONFLICT": grpc.StatusCode.ALREADY_EXISTS,
    "PROFILE_NOT_CONNECTED": grpc.StatusCode.FAILED_PRECONDITION,
    "PAYLOAD_TOO_LARGE": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "RATE_LIMITED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "NOT_SUPPORTED": grpc.StatusCode.UNIMPLEMENTED,
    "NOT_IMPLEMENTED": grpc.StatusCode.UNIMPLEMENTED,
    "ENGINE_ERROR": grpc.StatusCode.UNAVAILABLE,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}


class ApiError(Exception):
    """An error for the caller: a code from GRPC_STATUS, a human message, and optional string metadata."""

    def __init__(self, code: str, message: str, grpc_code: grpc.StatusCode | None = None, **metadata: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.grpc_code = grpc_code or GRPC_STATUS[code]
        self.metadata = {key: str(value) for key, value in metadata.items()}

    def to_status(self) -> grpc.Status:
        info = error_details_pb2.ErrorInfo(reason=self.code, domain=DOMAIN, metadata=self.metadata)
        detail = any_pb2.Any()
        detail.Pack(info)
        status = status_pb2.Status(
            code=getattr(code_pb2, self.grpc_code.name), message=self.message, details=[detail]
        )
        return rpc_status.to_status(status)


def invalid(field: str, message: str) -> ApiError:
    """A VALIDATION_ERROR naming the field (in lowerCamelCase, as the REST caller spelled it)."""
    return ApiError("VALIDATION_ERROR", f"{field}: {message}", field=field)


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError("NOT_FOUND", f"{kind} '{ident}' not found")


def conflict(message: str, state: bool = False) -> ApiError:
    """A duplicate (ALREADY_EXISTS) or, with state=True, an operation the resource's state forbids."""
    return ApiError("CONFLICT", message, grpc.StatusCode.FAILED_PRECONDITION if state else None)


def forbidden(message: str) -> ApiError:
    return ApiError("FORBIDDEN", message)


def unauthorized(message: str) -> ApiError:
    return ApiError("UNAUTHORIZED", message)


def error_info(error: grpc.RpcError) -> tuple[str, dict[str, str]] | None:
    """The ErrorInfo reason and metadata of a status a gRPC client received, if it carries one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, dict(info.metadata)
    return None


def passed_on(error: grpc.RpcError, unanswered: str) -> ApiError:
    """The error a gateway process's internal server (an engine host, the simulated WhatsApp) answered, as the
    API's own: its code, message and details (its ErrorInfo); UNAVAILABLE, `unanswered` and the gRPC code when it
    carried none (the server did not answer)."""
    info = error_info(error)
    if info:
        return ApiError(info[0], error.details(), error.code(), **info[1])
    return ApiError("UNAVAILABLE", f"{unanswered} ({error.code().name})")


def error_reason(error: grpc.RpcError) -> str | None:
    """The ErrorInfo reason of a status a gRPC client received, if it carries one."""
    info = error_info(error)
    return info[0] if info else None

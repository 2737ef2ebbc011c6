"""Failures as gRPC statuses, the way daprd's gRPC API reports them.

``DaprError``s become a status with ``google.rpc`` details (ErrorInfo, ResourceInfo,
BadRequest) as dapr/kit's builder packs them; an app's non-2xx reply to InvokeService becomes
daprd's status for that HTTP code. Kept apart from ``grpc_api.py`` so the RPC handlers there
only convert messages; this module knows nothing of the Dapr service itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from .errors import ERROR_DOMAIN, DaprError
from .invoke.messages import AppResponse

__all__ = [
    "AppStatus",
    "Reject",
    "abort",
    "abort_with",
    "app_failure",
    "error_details",
    "packed",
]

# daprd truncates ErrorInfo metadata values to fit the 64-character limit of error_details.proto.
_MAX_ERROR_METADATA_LEN = 63
# daprd's HTTP->gRPC status mapping for app replies (invokev1.CodeFromHTTPStatus).
_CODE_FROM_HTTP: dict[int, grpc.StatusCode] = {
    HTTPStatus.REQUEST_TIMEOUT: grpc.StatusCode.CANCELLED,
    HTTPStatus.INTERNAL_SERVER_ERROR: grpc.StatusCode.UNKNOWN,
    HTTPStatus.BAD_REQUEST: grpc.StatusCode.INTERNAL,
    HTTPStatus.GATEWAY_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    HTTPStatus.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    HTTPStatus.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    HTTPStatus.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    HTTPStatus.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    HTTPStatus.TOO_MANY_REQUESTS: grpc.StatusCode.RESOURCE_EXHAUSTED,
    HTTPStatus.NOT_IMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    HTTPStatus.SERVICE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


class Reject(Exception):
    """A failure that is not a ``DaprError``: an app's non-2xx reply to InvokeService."""

    def __init__(self, status: grpc.StatusCode, message: str, reason: str,
                 metadata: Mapping[str, str]) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.metadata = status, message, reason, metadata


class AppStatus(Exception):
    """A gRPC app's non-OK reply to InvokeService: its status goes to the caller unchanged."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


def packed(message: Any) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, reason: str,
          metadata: Mapping[str, str] | None = None) -> NoReturn:
    """End the RPC with ``code`` and an ErrorInfo detail, as daprd's rich errors do."""
    abort_with(context, code, message, [packed(error_details_pb2.ErrorInfo(
        reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {}))])


def abort_with(context: grpc.ServicerContext, code: grpc.StatusCode, message: str,
               details: list[any_pb2.Any]) -> NoReturn:
    if not details:
        context.abort(code, message)  # a plain status, as daprd's pkg/messages errors
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # it always raises


def error_details(err: DaprError) -> list[any_pb2.Any]:
    """ErrorInfo, ResourceInfo and BadRequest, as dapr/kit's builder packs them."""
    details = []
    for detail in err.details():
        kind = detail["@type"].rsplit(".", 1)[-1]
        if kind == "ErrorInfo":
            details.append(packed(error_details_pb2.ErrorInfo(
                reason=detail["reason"], domain=detail["domain"], metadata=detail["metadata"])))
        elif kind == "ResourceInfo":
            details.append(packed(error_details_pb2.ResourceInfo(
                resource_type=detail["resource_type"], resource_name=detail["resource_name"],
                owner=detail["owner"], description=detail["description"])))
        elif kind == "BadRequest":
            details.append(packed(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(**v)
                for v in detail["field_violations"]])))
    return details


def app_failure(response: AppResponse) -> Reject:
    """daprd's error for a non-2xx app reply: status text, and the body start in ErrorInfo."""
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = f"HTTP status {response.status}"
    detail = response.body.decode("utf-8", "replace")[:_MAX_ERROR_METADATA_LEN]
    code = _CODE_FROM_HTTP.get(response.status, grpc.StatusCode.UNKNOWN)
    return Reject(code, phrase, phrase,
                  {"http.code": str(response.status), "http.error_message": detail})

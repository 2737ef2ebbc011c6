"""Dapr API token checks, as daprd makes them (``pkg/http/middlewares.go``
``APITokenAuthMiddleware``, ``pkg/api/grpc`` ``setAPIAuthenticationMiddlewareUnary``).

With ``DAPR_API_TOKEN`` set, every HTTP request must carry the header ``dapr-api-token`` with
that value, except ``GET /v1.0/healthz`` and ``GET /v1.0/healthz/outbound`` (daprd's
``isRouteExcludedFromAPITokenAuth``; the metadata endpoint is *not* exempt); a wrong or
missing token is ``401`` with the plain-text body ``invalid api token`` (Go's ``http.Error``).
Every gRPC call must carry the metadata ``dapr-api-token``; otherwise the call fails with
UNAUTHENTICATED, message ``Unauthorized`` and an ErrorInfo (reason ``Unauthorized``,
``http.code`` 401, ``http.error_message`` saying what was wrong), as
``invokev1.ErrorFromHTTPResponseCode`` builds it. Both front ends call ``http_rejection`` /
``grpc_rejection``; the token itself never goes further than this check.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

__all__ = [
    "HTTP_REJECTION_BODY",
    "MISMATCH_MESSAGE",
    "MISSING_MESSAGE",
    "grpc_rejection",
    "http_rejection",
    "is_exempt",
]

#: Body of the 401 daprd's HTTP middleware answers (``http.Error`` adds the newline).
HTTP_REJECTION_BODY = b"invalid api token\n"
MISSING_MESSAGE = "missing api token in request metadata"
MISMATCH_MESSAGE = "authentication error: api token mismatch"
_EXEMPT_PATHS = frozenset({"v1.0/healthz", "v1.0/healthz/outbound"})
_HEADER = "dapr-api-token"


def is_exempt(method: str, path: str) -> bool:
    """The health endpoints, for GET only, answer without a token."""
    return method == "GET" and path.strip("/") in _EXEMPT_PATHS


def _matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def http_rejection(expected: str, method: str, path: str, given: str | None) -> bool:
    """True when an HTTP request must be refused with 401."""
    if not expected or is_exempt(method, path):
        return False
    return given is None or not _matches(expected, given)


def grpc_rejection(expected: str, metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """daprd's ``http.error_message`` for a refused gRPC call, or None when it may proceed."""
    if not expected:
        return None
    given = [v for k, v in metadata if k == _HEADER]
    if not given:
        return MISSING_MESSAGE
    first = given[0]
    if not isinstance(first, str) or not _matches(expected, first):
        return MISMATCH_MESSAGE
    return None

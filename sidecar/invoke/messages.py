"""What a service invocation carries, protocol-neutral, and the header names it uses.

Every invocation module (app channel, invoker, gRPC forwarding) and both API front ends speak
in these types, so this module sits below all of them and imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "API_TOKEN_HEADER",
    "APP_GRPC_STATUS_HEADER",
    "APP_ID_HEADER",
    "APP_STATUS_HEADER",
    "CALLEE_HEADER",
    "CALLER_HEADER",
    "FORWARD_HEADER",
    "HOP_BY_HOP_HEADERS",
    "HTTP_STATUS_HEADER",
    "PERMANENT_HEADERS",
    "AppRequest",
    "AppResponse",
    "forwarded_headers",
    "header",
    "response_headers",
]

#: On a non-API path of the HTTP API, this header turns the request into a service invocation;
#: on the gRPC API, this metadata asks for gRPC proxying.
APP_ID_HEADER = "dapr-app-id"
#: The caller's Dapr API token: for the runtime it is sent to, never passed on.
API_TOKEN_HEADER = "dapr-api-token"
#: The app id of the caller, as the target app sees it.
CALLER_HEADER = "dapr-caller-app-id"
#: The app id of the target, as the target app sees it.
CALLEE_HEADER = "dapr-callee-app-id"
#: Reply metadata in which daprd's ``InvokeService`` reports the app's HTTP status.
HTTP_STATUS_HEADER = "dapr-http-status"
#: Request metadata a forwarding runtime adds: "answer OK, the app's status in a header".
FORWARD_HEADER = "dapr-local-forward"
#: Reply header carrying the app's HTTP status when ``FORWARD_HEADER`` was sent.
APP_STATUS_HEADER = "dapr-local-app-status"
#: Reply header carrying a gRPC app's non-OK ``google.rpc.Status`` (base64) when
#: ``FORWARD_HEADER`` was sent.
APP_GRPC_STATUS_HEADER = "dapr-local-app-grpc-status"
#: Headers that describe one connection, never forwarded (RFC 9110 7.6.1) plus the ones
#: the HTTP client recomputes for the body it sends.
HOP_BY_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
    "trailer", "host", "content-length",
})
#: IANA permanent headers, which daprd re-sends to gRPC callers with a "dapr-" prefix.
PERMANENT_HEADERS = frozenset({
    "accept", "accept-charset", "accept-language", "accept-ranges", "connection", "keep-alive",
    "proxy-connection", "transfer-encoding", "upgrade", "cache-control", "content-type",
    "content-length", "cookie", "date", "expect", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-schedule-tag-match", "if-unmodified-since",
    "max-forwards", "origin", "pragma", "referer", "via", "warning",
})


@dataclass(frozen=True)
class AppRequest:
    """A service-invocation request, protocol-neutral."""

    #: "" when a gRPC caller sent no HTTP extension (fine for a gRPC app only).
    http_verb: str = "POST"
    #: Query string without the leading "?".
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""
    #: The ``Any.type_url`` of a gRPC caller's data (a packed protobuf message), else "".
    type_url: str = ""


@dataclass(frozen=True)
class AppResponse:
    """The app's reply: status, headers and body as the app sent them.

    A gRPC app's reply has the HTTP status daprd derives from its gRPC code; when that code
    is not OK, ``grpc_status`` holds the app's serialized ``google.rpc.Status`` (for gRPC
    callers) and the body its JSON form (for HTTP callers).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""
    grpc_status: bytes = b""
    #: The ``Any.type_url`` of a gRPC app's reply data (a packed protobuf message), else "".
    type_url: str = ""


def header(request: AppRequest, name: str) -> str:
    """The value of header ``name`` (lower case) in ``request``, matched case-insensitively."""
    return next((v for k, v in request.headers.items() if k.lower() == name), "")


def forwarded_headers(request: AppRequest) -> dict[str, str]:
    """The caller's headers for the next hop, names lower-cased: hop-by-hop ones dropped.

    Lower-casing makes ``Content-Type`` from the caller and the request's ``content_type``
    one header, never two (Flask would reject the pair).
    """
    headers = {k.lower(): v for k, v in request.headers.items()
               if k.lower() not in HOP_BY_HOP_HEADERS}
    if request.content_type:
        headers["content-type"] = request.content_type
    return headers


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The reply's headers minus hop-by-hop ones (repeated ones arrive joined by ", ")."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP_HEADERS}

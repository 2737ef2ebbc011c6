"""HTTP header names the functions set or read, each written out once."""

from __future__ import annotations

__all__ = [
    "ACCEPT",
    "ALLOW",
    "ALLOW_HEADERS",
    "ALLOW_METHODS",
    "ALLOW_ORIGIN",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "EXPOSE_HEADERS",
    "FORWARDED_FOR",
    "MAX_AGE",
    "ORIGIN",
    "REQUEST_HEADERS",
    "REQUEST_ID",
    "RESULT_KEY",
    "RETRY_AFTER",
    "TRACEPARENT",
]

ACCEPT = "Accept"
ALLOW = "Allow"
CONTENT_LENGTH = "Content-Length"
CONTENT_TYPE = "Content-Type"
FORWARDED_FOR = "X-Forwarded-For"
ORIGIN = "Origin"
RETRY_AFTER = "Retry-After"
#: grayscale's answer: where its result was stored in the ``images`` binding.
RESULT_KEY = "X-Result-Key"
#: The request's id, taken from the caller or made, returned on every answer (access.py).
REQUEST_ID = "X-Request-Id"
#: W3C trace context (https://www.w3.org/TR/trace-context/); its trace id is a request id.
TRACEPARENT = "traceparent"

# CORS (https://fetch.spec.whatwg.org/#http-cors-protocol)
ALLOW_HEADERS = "Access-Control-Allow-Headers"
ALLOW_METHODS = "Access-Control-Allow-Methods"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"
EXPOSE_HEADERS = "Access-Control-Expose-Headers"
MAX_AGE = "Access-Control-Max-Age"
REQUEST_HEADERS = "Access-Control-Request-Headers"

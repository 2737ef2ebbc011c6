"""The error family every function raises for a bad request; the router turns each into a
JSON answer ``{"error": "<message>", "detail": <anything JSON>}`` with the class's status.

    HttpError                     500 (only when raised directly)
    ├── BadRequest                400 malformed input: empty body, undecodable image, bad JSON
    ├── NotFound                  404 no such route
    ├── MethodNotAllowed          405 route exists, method does not (sets Allow)
    ├── NotAcceptable             406 no representation satisfies Accept
    ├── RequestTimeout            408 the body stopped arriving (READ_TIMEOUT_SECONDS)
    ├── PayloadTooLarge           413 body over MAX_BODY_BYTES, image over MAX_IMAGE_PIXELS
    ├── UnsupportedMediaType      415 a format the function does not take
    ├── TooManyRequests           429 rate limit (sets Retry-After)
    └── ServiceUnavailable        503 a dependency the answer needs is down (events store)
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "BadRequest",
    "HttpError",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "UnsupportedMediaType",
]


class HttpError(Exception):
    """A failure with an HTTP status, a one-line message and optional JSON detail."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        """The answer body."""
        return {"error": self.message, "detail": self.detail}


class BadRequest(HttpError):
    status = HTTPStatus.BAD_REQUEST


class NotFound(HttpError):
    status = HTTPStatus.NOT_FOUND


class MethodNotAllowed(HttpError):
    status = HTTPStatus.METHOD_NOT_ALLOWED


class NotAcceptable(HttpError):
    status = HTTPStatus.NOT_ACCEPTABLE


class RequestTimeout(HttpError):
    status = HTTPStatus.REQUEST_TIMEOUT


class PayloadTooLarge(HttpError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(HttpError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class TooManyRequests(HttpError):
    status = HTTPStatus.TOO_MANY_REQUESTS


class ServiceUnavailable(HttpError):
    status = HTTPStatus.SERVICE_UNAVAILABLE

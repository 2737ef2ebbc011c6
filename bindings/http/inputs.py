"""Reading what a request brings: its body (bounded), its client's address, what it accepts."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import flask

from .. import settings
from . import headers
from .errors import BadRequest, NotAcceptable, PayloadTooLarge

__all__ = ["client_address", "negotiate", "read_body"]

_CHUNK = 64 * 1024


def read_body(request: flask.Request, max_bytes: int | None = None) -> bytes:
    """The whole body, never more than ``max_bytes`` (default MAX_BODY_BYTES) read.

    A declared Content-Length over the cap is refused before reading anything; a body without
    one (chunked) is read only until it passes the cap.
    """
    limit = settings.get().max_body_bytes if max_bytes is None else max_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body is {declared} bytes, the limit is {limit}",
                              {"limit": limit, "content_length": declared})
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = request.stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"body is over the limit of {limit} bytes", {"limit": limit})
    if size == 0:
        raise BadRequest("empty body: this request needs a body")
    return b"".join(parts)


def client_address(request: flask.Request) -> str:
    """The caller's IP address; X-Forwarded-For is honoured only with TRUST_PROXY.

    Behind one trusted proxy the *last* X-Forwarded-For entry is the address that proxy saw;
    earlier entries are whatever the client claimed, so they are never used.
    """
    remote = request.remote_addr or "unknown"
    if not settings.get().trust_proxy:
        return remote
    forwarded = [part.strip() for part in request.headers.get(headers.FORWARDED_FOR, "").split(",")]
    candidate = forwarded[-1] if forwarded else ""
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def negotiate(request: flask.Request, offers: Sequence[str]) -> str:
    """The offer the Accept header prefers; ``offers[0]`` without one; NotAcceptable if none."""
    if not request.headers.get(headers.ACCEPT, "").strip():
        return offers[0]
    best = request.accept_mimetypes.best_match(offers)
    if best is None:
        raise NotAcceptable(f"cannot answer with {request.headers[headers.ACCEPT]!r}",
                            {"available": list(offers)})
    return best

"""Reading what a request brings: its body (bounded), its client's address, what it accepts."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from typing import Any

import flask

from .. import settings
from . import headers
from .errors import BadRequest, NotAcceptable, PayloadTooLarge, RequestTimeout

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_INT_DIGITS", "OutOfRange", "client_address",
           "json_depth", "negotiate", "parse_json", "read_body", "read_stream"]

_CHUNK = 64 * 1024
#: Deepest JSON nesting ``parse_json`` takes; json.loads recurses once per level and would
#: hit Python's recursion limit near 1,000 (``[`` x 100,000 is 100 KB).
MAX_JSON_DEPTH = 32
#: Longest JSON integer ``parse_json`` converts (a signed 64-bit integer has 19 digits);
#: longer ones become ``OutOfRange`` instead of int() working through thousands of digits.
MAX_JSON_INT_DIGITS = 20
#: One token per match, left to right: a string (to its closing quote, or to the end when it
#: has none, so the scan never restarts inside one), a bracket, or a run of anything else.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*+"?|[\[\]{}]|[^"\[\]{}]++', re.DOTALL)


class OutOfRange:
    """Stands for a JSON integer too long to convert; no validator accepts it."""

    def __repr__(self) -> str:
        return "OutOfRange()"


def read_stream(request: flask.Request, size: int) -> bytes:
    """Up to ``size`` bytes of the body; a body the client stopped sending is a 408 and one
    whose framing is broken (a bad chunk size) a 400, whatever the server raised."""
    try:
        return request.stream.read(size)
    except TimeoutError as err:
        raise RequestTimeout("the body stopped arriving", str(err)) from None
    # The server's parser raises its own types (gunicorn's InvalidChunkSize and kin) for a
    # body it cannot frame; any of them means the client sent a malformed body.
    except Exception as err:  # noqa: BLE001
        raise BadRequest("the body could not be read: malformed framing",
                         type(err).__name__) from None


def json_depth(data: bytes, stop_above: int | None = None) -> int:
    """How deep ``data``'s brackets nest, strings skipped: one linear scan, no recursion.

    With ``stop_above``, the scan ends as soon as the depth passes it.
    """
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(data):
        first = match.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and depth > stop_above:
                    break
        elif first in (b"]", b"}"):
            depth -= 1
    return deepest


def _bounded_int(text: str) -> int | OutOfRange:
    return OutOfRange() if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS else int(text)


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``data`` as JSON, or BadRequest: invalid, nested deeper than ``max_depth``.

    Integers longer than MAX_JSON_INT_DIGITS become ``OutOfRange`` (for the validator to
    refuse with the field's name); the depth is checked before ``json.loads`` recurses.
    """
    if json_depth(data, max_depth) > max_depth:
        raise BadRequest(f"JSON nested deeper than {max_depth} levels",
                         {"max_depth": max_depth})
    try:
        return json.loads(data, parse_int=_bounded_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest("the body is not valid JSON", str(err)[:200]) from None


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
        chunk = read_stream(request, min(_CHUNK, limit + 1 - size))
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

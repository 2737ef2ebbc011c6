"""Where an HTTP/1.x request ends, read from the bytes received so far, without parsing it.

The serving worker (``bindings.http.worker``) buffers each request in its event loop and
hands it to a thread only once ``scan`` says it is all there. The scan is deliberately
lenient: anything odd (a malformed Content-Length, a bad chunk size, bare LF line ends, both
Content-Length and Transfer-Encoding) counts as complete, so gunicorn's parser, which is
strict, sees the whole request at once and rejects it without waiting for more bytes.

    scan(buffer, max_body, max_head) -> Scan
        .complete   the request (head and body) is buffered, or it is malformed
        .too_large  the head has grown past ``max_head`` without ending (answer 431)

A body over ``max_body`` counts as complete as soon as that is known (declared length) or
``max_body`` bytes of it are in (chunked): the function refuses it with 413 without reading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Scan", "scan"]

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?\r\n")
_DIGITS = re.compile(rb"[0-9]{1,19}")


@dataclass(frozen=True)
class Scan:
    """What ``scan`` found; see the module docstring."""

    complete: bool
    too_large: bool = False
    #: Where a chunked body's framing walk stopped, and the body bytes it had passed: the
    #: next scan of the same (grown) buffer resumes there instead of from the start.
    chunk_pos: int = 0
    chunk_total: int = 0


_WAIT = Scan(complete=False)
_DONE = Scan(complete=True)


def scan(buffer: bytes | bytearray, max_body: int, max_head: int,
         previous: Scan | None = None) -> Scan:
    """Whether ``buffer`` holds a whole request (or enough of a bad one to reject it).

    ``previous`` is the last scan of the same request (``buffer`` has only grown since).
    """
    if previous is not None and previous.chunk_pos:
        return _scan_chunks(buffer, previous.chunk_pos, max_body, previous.chunk_total)
    match = _HEAD_END.search(buffer, 0, max_head + 4)
    if match is None:
        return Scan(complete=False, too_large=len(buffer) > max_head)
    head, body_start = bytes(buffer[:match.start()]), match.end()
    if b"\n" in head.replace(b"\r\n", b"") or match.group() != b"\r\n\r\n":
        return _DONE  # bare LF line ends: malformed, gunicorn rejects it
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if length is not None or not _DIGITS.fullmatch(value):
                return _DONE
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    if chunked:
        return _DONE if length is not None else _scan_chunks(buffer, body_start, max_body)
    if length is None:
        return _DONE
    return _DONE if length > max_body or len(buffer) - body_start >= length else _WAIT


def _scan_chunks(buffer: bytes | bytearray, pos: int, max_body: int, total: int = 0) -> Scan:
    """Walk the chunk framing from ``pos``; complete at the last chunk's trailer end."""
    while True:
        match = _CHUNK_SIZE.match(buffer, pos)
        if match is None:
            # Not a size line yet: wait if it may still become one, else it is malformed.
            rest = bytes(buffer[pos:pos + 32])
            partial = re.fullmatch(rb"[0-9A-Fa-f]{0,16}(;[^\r\n]*)?\r?", rest)
            if partial is None or len(rest) >= 32:
                return _DONE
            return Scan(complete=False, chunk_pos=pos, chunk_total=total)
        size = int(match.group(1), 16)
        pos = match.end()
        if size == 0:
            # Trailer section: header lines, then an empty line.
            if buffer[pos:pos + 2] == b"\r\n" or buffer.find(b"\r\n\r\n", pos - 2) >= 0:
                return _DONE
            return Scan(complete=False, chunk_pos=match.start(), chunk_total=total)
        if total + size > max_body:
            return _DONE
        if len(buffer) < pos + size + 2:
            return Scan(complete=False, chunk_pos=match.start(), chunk_total=total)
        total += size
        pos += size + 2

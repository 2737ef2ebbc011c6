"""The gunicorn worker the functions are served by: gthread, with reading done in its event loop.

gunicorn's ``gthread`` worker gives a connection a thread as soon as its first bytes arrive;
the thread then blocks reading the rest of the request. Sixteen clients that send headers and
stall hold sixteen threads for good, and nobody else is answered. ``BufferingWorker`` changes
three things, nothing else:

1. **Requests are read in the event loop.** A connection's bytes are buffered without a
   thread until ``framing.scan`` says the request is all there (head and body, or a body known
   to be over MAX_BODY_BYTES, or malformed); only then does a thread parse and serve it, from
   memory. A request not complete within ``read_timeout`` of its first byte gets a JSON 408;
   a head over ``max_head_bytes`` a JSON 431. A connection that sends nothing is closed after
   the keep-alive timeout without an answer.
2. **gunicorn's own parse errors are JSON** (``handle_error``): the project's
   ``{"error", "detail"}`` body with a 4xx, never its HTML page.
3. **Closing lingers** (as nginx's lingering close): after an answer that ends the
   connection (413 with the upload still coming, 408, a parse error), the write side is shut,
   and what the client still sends is read and dropped in the event loop, up to
   ``linger_bytes`` or ``linger_seconds``, so a client that sends its whole body before reading
   (urllib, requests) sees the answer instead of a connection reset.

Its settings are ``bindings.http.serving``'s (``serving.get()``). Every answer, its own
included, gets an ``X-Request-Id`` and one access line (``access.py``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import select
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

from .. import settings
from . import access, framing, headers, serving

__all__ = ["BufferingWorker", "ClientTimeout", "error_answer"]

_log = logging.getLogger(__name__)

_RECV_SIZE = 256 * 1024
#: How long a served request may wait for the rest of a body it did not read before the
#: connection is closed (lingering) rather than kept alive.
_KEEPALIVE_DRAIN_SECONDS = 0.05

#: gunicorn's parse errors -> (status, short reason). Anything else a client can cause is 400.
_PARSE_ERRORS: tuple[tuple[type[Exception], HTTPStatus, str], ...] = (
    (http_errors.LimitRequestLine, HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long"),
    (http_errors.LimitRequestHeaders, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
     "too many or too large header fields"),
    (http_errors.ExpectationFailed, HTTPStatus.EXPECTATION_FAILED, "unsupported Expect header"),
    (http_errors.InvalidRequestMethod, HTTPStatus.BAD_REQUEST, "invalid method"),
    (http_errors.InvalidHTTPVersion, HTTPStatus.BAD_REQUEST, "invalid HTTP version"),
    (http_errors.InvalidRequestLine, HTTPStatus.BAD_REQUEST, "invalid request line"),
    (http_errors.InvalidHeaderName, HTTPStatus.BAD_REQUEST, "invalid header name"),
    (http_errors.InvalidHeader, HTTPStatus.BAD_REQUEST, "invalid header"),
    (http_errors.ObsoleteFolding, HTTPStatus.BAD_REQUEST, "obsolete header line folding"),
    # RFC 9112 suggests 501 for a coding it does not know; a client error here, as the
    # project answers every malformed request with a 4xx.
    (http_errors.UnsupportedTransferCoding, HTTPStatus.BAD_REQUEST,
     "unsupported or ambiguous Transfer-Encoding / Content-Length"),
    (http_errors.InvalidChunkSize, HTTPStatus.BAD_REQUEST, "malformed chunked body"),
    (http_errors.ChunkMissingTerminator, HTTPStatus.BAD_REQUEST, "malformed chunked body"),
    (http_errors.InvalidChunkExtension, HTTPStatus.BAD_REQUEST, "malformed chunked body"),
    (http_errors.InvalidH2CPreface, HTTPStatus.BAD_REQUEST, "HTTP/2 is not served here"),
    (http_errors.ParseException, HTTPStatus.BAD_REQUEST, "malformed request"),
)


class ClientTimeout(TimeoutError):
    """The client sent nothing for longer than the read timeout while a thread waited.

    A TimeoutError, as ``socket.timeout`` is, so gunicorn's body drain treats it as one.
    """


def error_answer(status: HTTPStatus, message: str, detail: Any = None,
                 request_id: str | None = None) -> bytes:
    """A whole HTTP/1.1 answer with the project's JSON error body; it closes the connection."""
    body = json.dumps({"error": message, "detail": detail}, separators=(",", ":")).encode()
    origin = "*" if "*" in settings.get().cors_allowed_origins else None
    head = [f"HTTP/1.1 {status.value} {status.phrase}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close"]
    if origin:
        head.append(f"Access-Control-Allow-Origin: {origin}")
    if request_id:
        head.append(f"{headers.REQUEST_ID}: {request_id}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _classify(exc: BaseException) -> tuple[HTTPStatus, str]:
    if isinstance(exc, ClientTimeout):
        return HTTPStatus.REQUEST_TIMEOUT, "the request was not received in time"
    if isinstance(exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName,
                        http_errors.ConfigurationProblem)):
        return HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"
    for kind, status, reason in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return status, reason
    return HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"


class _TimedSocket:
    """The connection's socket as the parser sees it: each ``recv`` waits for data at most
    the read timeout (or the socket's own, shorter timeout), then raises ClientTimeout."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout

    def recv(self, size: int) -> bytes:
        own = self._sock.gettimeout()
        wait = self._timeout if own is None else min(own, self._timeout)
        readable, _, _ = select.select([self._sock], [], [], wait)
        if not readable:
            raise ClientTimeout(f"no data for {wait:.1f}s")
        return self._sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass
class _Reading:
    """A connection whose request is being buffered in the event loop."""

    conn: TConn
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    last: framing.Scan | None = None
    first_byte: float | None = None


@dataclass
class _Lingering:
    """A connection being closed: write side shut, incoming bytes dropped until a bound."""

    sock: socket.socket
    deadline: float
    left: int


class _Conn(TConn):
    """gunicorn's connection, whose graceful close lingers in the worker's event loop."""

    def __init__(self, worker: BufferingWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker
        self.buffered = False

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.worker.linger(self.sock)
        else:
            super().close()


class BufferingWorker(ThreadWorker):
    """gthread with requests read in the event loop; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = serving.get()
        self.reading: dict[int, _Reading] = {}
        self.lingering: dict[int, _Lingering] = {}

    # -- connections in --------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, addr = listener.accept()
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(_Conn(self, self.cfg, sock, addr, listener.getsockname()))

    def enqueue_req(self, conn: TConn) -> None:
        """Buffer the next request of ``conn``; a thread gets it once it is all there."""
        if getattr(conn, "buffered", True):
            conn.buffered = False
            super().enqueue_req(conn)
            return
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        # Until the first byte, an idle connection is bounded by the keep-alive timeout.
        state = _Reading(conn, time.monotonic() + self.cfg.keepalive, bytearray(held))
        self.reading[conn.sock.fileno()] = state
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, state))
        if held:
            self._check(state)

    def _on_bytes(self, state: _Reading, sock: socket.socket) -> None:
        try:
            data = sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(state)
            return
        if not state.data:
            state.first_byte = time.monotonic()
            state.deadline = state.first_byte + self.options.read_timeout_seconds
        state.data += data
        self._check(state)

    def _check(self, state: _Reading) -> None:
        found = framing.scan(state.data, settings.get().max_body_bytes,
                             self.options.max_head_bytes, state.last)
        state.last = found
        if found.too_large:
            self._refuse(state, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                         "the request head is too large", {"limit": self.options.max_head_bytes})
        elif found.complete:
            self._dispatch(state)

    def _dispatch(self, state: _Reading) -> None:
        conn = self._forget(state)
        conn.sock.setblocking(True)
        if conn.parser is None:
            conn.init()
            assert conn.parser is not None
            conn.parser.unreader.sock = _TimedSocket(conn.sock, self.options.read_timeout_seconds)
        conn.parser.unreader.unread(bytes(state.data))
        conn.data_ready = True
        conn.buffered = True
        self.enqueue_req(conn)

    def _forget(self, state: _Reading) -> Any:
        self.reading.pop(state.conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(state.conn.sock)
        return state.conn

    def _drop(self, state: _Reading) -> None:
        conn = self._forget(state)
        self.nr_conns -= 1
        conn.close()

    def _refuse(self, state: _Reading, status: HTTPStatus, message: str,
                detail: Any = None) -> None:
        conn = self._forget(state)
        self.nr_conns -= 1
        self.log.warning("refused a request from %s: %s", conn.client, message)
        rid = access.request_id()
        with contextlib.suppress(OSError):
            conn.sock.send(error_answer(status, message, detail, rid))
        method, _, rest = bytes(state.data[:1024]).partition(b" ")
        path = rest.partition(b" ")[0]
        took = None if state.first_byte is None else (time.monotonic() - state.first_byte) * 1000
        access.log_access(_printable(method), _printable(path), status, took,
                          _address(conn.client), rid)
        self.linger(conn.sock)

    # -- time bounds (the base loop calls murder_pending about once a second) --------------

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for state in [s for s in self.reading.values() if s.deadline <= now]:
            if state.data:
                limit = self.options.read_timeout_seconds
                self._refuse(state, HTTPStatus.REQUEST_TIMEOUT,
                             "the request was not received in time", {"timeout_seconds": limit})
            else:
                self._drop(state)
        for fd, item in list(self.lingering.items()):
            if item.deadline <= now:
                self._end_linger(fd, item)

    # -- answers and closing ---------------------------------------------------------------

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        if not keepalive:
            return False
        # Whatever of the body the function left unread is normally buffered already; if not
        # (a body over the cap), the connection closes and lingers instead of a thread waiting.
        deadline = time.monotonic() + _KEEPALIVE_DRAIN_SECONDS
        return bool(conn.parser.finish_body(deadline=deadline))

    def linger(self, sock: socket.socket) -> None:
        """Close ``sock`` once the client stops sending, or at a bound (see module docstring)."""
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
            fd = sock.fileno()
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger)
        except (OSError, ValueError, KeyError):
            sock.close()
            return
        self.lingering[fd] = _Lingering(sock, time.monotonic() + self.options.linger_seconds,
                                        self.options.linger_bytes)

    def _on_linger(self, sock: socket.socket) -> None:
        item = self.lingering.get(sock.fileno())
        if item is None:
            return
        try:
            while item.left > 0:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    break
                item.left -= len(data)
            else:
                self._end_linger(sock.fileno(), item)
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._end_linger(sock.fileno(), item)

    def _end_linger(self, fd: int, item: _Lingering) -> None:
        self.lingering.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(item.sock)
        item.sock.close()

    def handle_error(self, req: Any, client: socket.socket, addr: Any,
                     exc: BaseException) -> None:
        """gunicorn's error answer, as the project's JSON instead of an HTML page."""
        status, reason = _classify(exc)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log.exception("error handling a request from %s", addr)
        else:
            self.log.warning("invalid request from %s: %s", addr, exc)
        given = dict((k.lower(), v) for k, v in getattr(req, "headers", None) or [])
        rid = access.request_id(given.get(headers.REQUEST_ID.lower()),
                                given.get(headers.TRACEPARENT))
        try:
            client.sendall(error_answer(status, reason, request_id=rid))
        except OSError:
            self.log.debug("could not send the error answer")
        access.log_access(_printable(getattr(req, "method", None)),
                          _printable(getattr(req, "uri", None)), status, None, _address(addr),
                          rid)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi: Any = access.with_request_id(self.wsgi)


def _printable(value: str | bytes | None, limit: int = 200) -> str:
    """A request's method or path as far as it was read, safe for one log line ("-" if none)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in value or "")
    return text[:limit] or "-"


def _address(addr: Any) -> str:
    """The client's address from gunicorn's ``(host, port)`` (or whatever it holds)."""
    if isinstance(addr, (tuple, list)) and addr:
        return str(addr[0])
    return str(addr or "-")

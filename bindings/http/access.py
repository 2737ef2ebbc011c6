"""One access line per request, and the request id it carries.

Every request a function process answers gets one line on logger ``access`` at INFO::

    POST /grayscale 200 14.2 ms client=127.0.0.1 request_id=4bf92f3577b34da6a3ce929d0e0e4736

(with ``LOG_FORMAT=json`` the same as fields: method, path, status, ms, client, request_id).
Why in the server, not in the router: gunicorn calls ``AccessLogger.access`` for every answer
the app gives (an answer from outside the router too, e.g. functions-framework's own), and
``BufferingWorker`` writes one for each answer it gives itself before any app code runs (the
JSON 408, 431 and 400s), through ``log_access``. The router never sees those.

The request id is the caller's ``X-Request-Id`` when it is a plain token, else the trace id
of its W3C ``traceparent``, else a new one; ``with_request_id`` puts it in the WSGI environ
(``ENVIRON_KEY``, and as ``X-Request-Id`` for the function) and on the answer.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import gunicorn.glogging

from sidecar.logfmt import FIELDS

from . import headers

__all__ = ["ENVIRON_KEY", "AccessLogger", "log_access", "request_id", "with_request_id"]

#: Where the request id is kept in the WSGI environ.
ENVIRON_KEY = "bindings.request_id"
_log = logging.getLogger("access")
_TOKEN = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ENV_REQUEST_ID = "HTTP_" + headers.REQUEST_ID.upper().replace("-", "_")
_ENV_TRACEPARENT = "HTTP_" + headers.TRACEPARENT.upper().replace("-", "_")

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_id(given: str | None = None, traceparent: str | None = None) -> str:
    """``given`` if it is a plain token (no spaces or quotes, at most 128 characters), else the
    trace id of a valid ``traceparent``, else a new random id (32 hex digits)."""
    if given and _TOKEN.fullmatch(given.strip()):
        return given.strip()
    found = _TRACEPARENT.fullmatch((traceparent or "").strip())
    if found and found.group(1) != _ZERO_TRACE:
        return found.group(1)
    return uuid.uuid4().hex


def with_request_id(app: _WSGIApp) -> _WSGIApp:
    """``app`` with the request id in its environ and on its answer as ``X-Request-Id``."""
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rid = request_id(environ.get(_ENV_REQUEST_ID), environ.get(_ENV_TRACEPARENT))
        environ[ENVIRON_KEY] = environ[_ENV_REQUEST_ID] = rid

        def start(status: str, response_headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in response_headers if k.lower() != "x-request-id"]
            return start_response(status, [*kept, (headers.REQUEST_ID, rid)], exc_info)

        return app(environ, start)
    return wrapped


def log_access(method: str, path: str, status: int, ms: float | None, client: str,
               rid: str) -> None:
    """Write the access line of one answer (``ms`` None when unknown)."""
    took = "-" if ms is None else f"{ms:.1f}"
    _log.info("%s %s %d %s ms client=%s request_id=%s", method, path, status, took, client, rid,
              extra={FIELDS: {"method": method, "path": path, "status": status,
                              "ms": None if ms is None else round(ms, 1), "client": client,
                              "request_id": rid}})


class AccessLogger(gunicorn.glogging.Logger):
    """gunicorn's logger, writing through the process's handler (``sidecar.logfmt``) instead of
    its own, with ``log_access``'s line for every answer whatever ``accesslog`` says."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        status = resp.status_code if isinstance(resp.status_code, int) else int(
            str(resp.status).split(None, 1)[0])
        rid = environ.get(ENVIRON_KEY) or request_id(environ.get(_ENV_REQUEST_ID),
                                                     environ.get(_ENV_TRACEPARENT))
        log_access(environ.get("REQUEST_METHOD", "-"),
                   environ.get("RAW_URI") or environ.get("PATH_INFO") or "-", status,
                   request_time.total_seconds() * 1000, environ.get("REMOTE_ADDR") or "-", rid)

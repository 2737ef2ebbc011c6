"""A tiny router over the ``functions-framework`` request: every answer the functions give
passes through here, so 404/405/OPTIONS/CORS/JSON errors behave the same in all three.

``functions-framework`` hands every path and method to one function; ``Router`` maps
``path -> method -> handler``, answers ``GET /`` with the function's help text (as the seed
does), answers CORS preflights, turns ``HttpError`` into its JSON answer and any other exception
into a logged JSON 500, and puts CORS headers on every answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

import flask

from .. import settings
from . import headers
from .errors import HttpError, MethodNotAllowed, NotFound
from .inputs import read_stream

__all__ = ["Handler", "Router", "json_response", "text_response"]

_log = logging.getLogger(__name__)

Handler = Callable[[flask.Request], flask.Response]

#: Headers a browser page may read from our answers.
_EXPOSED_HEADERS = ", ".join((headers.RETRY_AFTER, headers.RESULT_KEY, headers.REQUEST_ID))
_PREFLIGHT_MAX_AGE = "600"
_DRAIN_CHUNK = 64 * 1024


def json_response(value: Any, status: int = HTTPStatus.OK,
                  headers: Mapping[str, str] | None = None) -> flask.Response:
    """``value`` as compact JSON (fields in the order given)."""
    body = json.dumps(value, separators=(",", ":"))
    return flask.Response(body, status=status, headers=dict(headers or {}),
                          content_type="application/json")


def text_response(text: str, status: int = HTTPStatus.OK) -> flask.Response:
    return flask.Response(text, status=status, content_type="text/plain; charset=utf-8")


def _error_response(err: HttpError) -> flask.Response:
    return json_response(err.to_json(), status=err.status, headers=err.headers)


class Router:
    """Dispatches a request to ``routes[path][method]``; see the module docstring."""

    def __init__(self, help_text: str, routes: Mapping[str, Mapping[str, Handler]]) -> None:
        self.help_text = help_text
        self.routes: dict[str, dict[str, Handler]] = {"/": {"GET": self._help}}
        for path, methods in routes.items():
            self.routes[path] = {method.upper(): handler for method, handler in methods.items()}

    def __call__(self, request: flask.Request) -> flask.Response:
        try:
            response = self._dispatch(request)
        except HttpError as err:
            response = _error_response(err)
        except Exception:  # noqa: BLE001 - the last line of defence: log, answer JSON, serve on
            _log.exception("unexpected error serving %s %s", request.method, request.path)
            response = _error_response(HttpError("internal error", "see the function's log"))
        _add_cors(request, response)
        _discard_unread_body(request)
        return _without_body_drain(response)

    def _dispatch(self, request: flask.Request) -> flask.Response:
        path = request.path.rstrip("/") or "/"
        methods = self.routes.get(path)
        if methods is None:
            raise NotFound(f"no route {path}", {"routes": sorted(self.routes)})
        method = request.method.upper()
        if method == "OPTIONS":
            return _preflight(request, methods)
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = _allowed(methods)
            raise MethodNotAllowed(f"{method} is not allowed on {path}", {"allowed": allowed},
                                   headers={headers.ALLOW: ", ".join(allowed)})
        return handler(request)

    def _help(self, request: flask.Request) -> flask.Response:
        return text_response(self.help_text)


def _allowed(methods: Iterable[str]) -> list[str]:
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def _preflight(request: flask.Request, methods: Iterable[str]) -> flask.Response:
    allowed = ", ".join(_allowed(methods))
    requested = request.headers.get(headers.REQUEST_HEADERS,
                                    f"{headers.CONTENT_TYPE}, {headers.ACCEPT}")
    response = flask.Response(status=HTTPStatus.NO_CONTENT)
    del response.headers[headers.CONTENT_TYPE]
    response.headers[headers.ALLOW] = allowed
    response.headers[headers.ALLOW_METHODS] = allowed
    response.headers[headers.ALLOW_HEADERS] = requested
    response.headers[headers.MAX_AGE] = _PREFLIGHT_MAX_AGE
    return response


def _add_cors(request: flask.Request, response: flask.Response) -> None:
    allowed = settings.get().cors_allowed_origins
    response.headers[headers.EXPOSE_HEADERS] = _EXPOSED_HEADERS
    if "*" in allowed:
        response.headers[headers.ALLOW_ORIGIN] = "*"
        return
    # The answer depends on the Origin header, so caches must key on it.
    response.vary.add(headers.ORIGIN)
    origin = request.headers.get(headers.ORIGIN)
    if origin and origin in allowed:
        response.headers[headers.ALLOW_ORIGIN] = origin


def _discard_unread_body(request: flask.Request) -> None:
    """Read and drop what an early answer (404, 406, 429, ...) left of a body within the cap.

    Why: gunicorn drains at most 64 KiB of an unread body and otherwise closes the connection
    after the answer, without telling the client, which may then reuse a dead connection.
    Bodies over MAX_BODY_BYTES are not read (413): there the connection closes after the answer.
    """
    limit = settings.get().max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        return
    left = limit
    try:
        while left > 0 and (chunk := read_stream(request, min(_DRAIN_CHUNK, left))):
            left -= len(chunk)
    except HttpError as err:  # the answer is made already; the server closes the connection
        _log.info("unread body not discarded: %s", err.message)


def _without_body_drain(response: flask.Response) -> flask.Response:
    """Mark the answer as streamed, keeping its Content-Length.

    Why: functions-framework's ``after_request`` reads the *whole* request body into memory
    unless the answer is streamed. An early answer (413, 404, 429, ...) has not read the body,
    and we must never buffer an oversized one; gunicorn discards the unread rest in small
    chunks before the next request on the connection, so the client still gets its answer.
    """
    if response.is_streamed:
        return response
    body = response.get_data()
    response.response = iter((body,))
    if response.status_code != HTTPStatus.NO_CONTENT:
        response.headers[headers.CONTENT_LENGTH] = str(len(body))
    return response

"""daprd's HTTP API v1.0 as a thin WSGI front end over ``Runtime`` (werkzeug).

Routes, status codes, headers and error bodies follow daprd: errors are
``{"errorCode": ..., "message": ...}`` with the status of the ``DaprError``; a body that is
not JSON is 400 ERR_MALFORMED_REQUEST. Served by werkzeug's threaded server (``serve``),
which speaks HTTP/1.1 with keep-alive, so each client connection gets its own thread.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, PathConverter, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from . import api_token
from . import http_requests as parse
from .api_logging import ApiLogging, api_logging, log_http_call
from .configuration import HTTP_API_GROUPS, configuration_of
from .errors import DaprError
from .invoke.messages import (
    API_TOKEN_HEADER,
    APP_ID_HEADER,
    HOP_BY_HOP_HEADERS,
    AppRequest,
    AppResponse,
)
from .pubsub.bulk_requests import bulk_entries, failed_entries_body
from .runtime import Runtime
from .tracing import TRACEPARENT, Tracer, context_headers, incoming

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["HttpApi", "HttpServer", "go_status_line", "serve"]

_JSON = "application/json"
_METADATA_PREFIX = "metadata."
_API_PREFIX = "/v1.0/"
_ANY_VERB = None
# The caller's token is for this runtime only; the app channel sends the app's own.
_NOT_FORWARDED = HOP_BY_HOP_HEADERS | {APP_ID_HEADER, API_TOKEN_HEADER}
# Go's http.StatusText where Python's HTTPStatus phrase differs; werkzeug would even write
# the phrase in capitals ("503 SERVICE UNAVAILABLE"), daprd writes "503 Service Unavailable".
_GO_STATUS_TEXT = {413: "Request Entity Too Large", 414: "Request URI Too Long",
                   416: "Requested Range Not Satisfiable", 418: "I'm a teapot",
                   422: "Unprocessable Entity"}
_log = logging.getLogger(__name__)

_RULES = [
    Rule("/v1.0/healthz", endpoint="healthz", methods=["GET"]),
    Rule("/v1.0/healthz/outbound", endpoint="healthz", methods=["GET"]),
    Rule("/v1.0/metadata", endpoint="metadata", methods=["GET"]),
    Rule("/v1.0/metadata/<key>", endpoint="set_metadata", methods=["PUT"]),
    Rule("/v1.0/state/<store>", endpoint="save_state", methods=["POST"]),
    Rule("/v1.0/state/<store>/bulk", endpoint="bulk_state", methods=["POST", "PUT"]),
    Rule("/v1.0/state/<store>/transaction", endpoint="transact_state", methods=["POST", "PUT"]),
    Rule("/v1.0/state/<store>/<path:key>", endpoint="get_state", methods=["GET"]),
    Rule("/v1.0/state/<store>/<path:key>", endpoint="delete_state", methods=["DELETE"]),
    Rule("/v1.0/secrets/<store>/bulk", endpoint="bulk_secret", methods=["GET"]),
    Rule("/v1.0/secrets/<store>/<path:key>", endpoint="get_secret", methods=["GET"]),
    Rule("/v1.0/bindings/<name>", endpoint="binding", methods=["POST", "PUT"]),
    # <pubsub>/<topic>, the topic may hold "/"; either may be empty (daprd's 404 errors).
    Rule("/v1.0/publish/<any_path:target>", endpoint="publish", methods=["POST", "PUT"]),
    Rule("/v1.0-alpha1/publish/bulk/<any_path:target>", endpoint="bulk_publish",
         methods=["POST", "PUT"]),
    Rule("/v1.0/publish/bulk/<any_path:target>", endpoint="bulk_publish",
         methods=["POST", "PUT"]),
    Rule("/v1.0/invoke/<app_id>/method/", endpoint="invoke", methods=_ANY_VERB,
         defaults={"method": ""}),
    Rule("/v1.0/invoke/<app_id>/method/<path:method>", endpoint="invoke", methods=_ANY_VERB),
]


class _AnyPathConverter(PathConverter):
    """A path that may be empty or start with "/" (``publish//topic`` names no pubsub)."""

    regex = ".*"
    part_isolating = False


def _json_response(value: Any, status: int = HTTPStatus.OK,
                   headers: dict[str, str] | None = None) -> Response:
    return Response(parse.dump_json(value), status=status, headers=headers,
                    content_type=_JSON)


def _empty(status: int = HTTPStatus.NO_CONTENT) -> Response:
    return Response(status=status)


def go_status_line(status: str) -> str:
    """``"503 SERVICE UNAVAILABLE"`` -> ``"503 Service Unavailable"``, as Go's net/http."""
    code_text = status.split(" ", 1)[0]
    try:
        code = int(code_text)
    except ValueError:
        return status
    phrase = _GO_STATUS_TEXT.get(code)
    if phrase is None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = f"status code {code}"
    return f"{code} {phrase}"


def _error(err: DaprError) -> Response:
    return _json_response(err.to_json(), err.http_status)


def _header_value(value: str) -> str:
    # Header values cannot carry line breaks or non-latin-1 text; keep what is safe.
    return value.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace").decode(
        "latin-1")


def _metadata_headers(metadata: dict[str, str]) -> dict[str, str]:
    return {f"{_METADATA_PREFIX}{k}": _header_value(v) for k, v in metadata.items()}


def _query_metadata(request: Request) -> dict[str, str]:
    return {k[len(_METADATA_PREFIX):]: v for k, v in request.args.items()
            if k.startswith(_METADATA_PREFIX)}


def _body_json(request: Request) -> Any:
    return parse.decode_json(request.get_data(cache=True))


def _forwarded_headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}


def _app_response(reply: AppResponse) -> Response:
    response = Response(reply.body, status=reply.status)
    response.headers.clear()
    for key, value in reply.headers.items():
        response.headers[key] = value
    if reply.content_type:
        response.headers["Content-Type"] = reply.content_type
    return response


class HttpApi:
    """The WSGI application: one handler per daprd endpoint, all over one ``Runtime``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.url_map = Map(_RULES, strict_slashes=False, merge_slashes=False,
                           converters={"any_path": _AnyPathConverter})

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = self.runtime.settings.max_body_bytes

        def go_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            return start_response(go_status_line(status), headers, exc_info)

        started = time.monotonic()
        configuration, tracer = configuration_of(self.runtime)
        response = self._respond(request, tracer)
        logging_on = api_logging(self.runtime.settings.api_logging, configuration.api_logging)
        if logging_on is not None:
            self._log_call(logging_on, request, response, started)
        return response(environ, go_start_response)

    def _respond(self, request: Request, tracer: Tracer) -> Response:
        """The answer to ``request``: refused without the API token, traced but health checks."""
        if api_token.http_rejection(self.runtime.settings.api_token, request.method,
                                    request.path, request.headers.get(API_TOKEN_HEADER)):
            return Response(api_token.HTTP_REJECTION_BODY, HTTPStatus.UNAUTHORIZED,
                            content_type="text/plain; charset=utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
        if "/healthz" in request.path:  # daprd traces every call but health checks
            return self.dispatch(request)
        parent = incoming(request.headers.items())
        with tracer.span(request.path, parent) as span:
            response = self.dispatch(request)
            if span is not None and TRACEPARENT not in response.headers:
                response.headers.update(context_headers(span.context))
        return response

    def _log_call(self, logging_on: ApiLogging, request: Request, response: Response,
                  started: float) -> None:
        if logging_on.omit_health_checks and "/healthz" in request.path:
            return
        method = (self._endpoint_name(request) if logging_on.obfuscate_urls
                  else f"{request.method} {request.path}")
        log_http_call(method, request.headers.get("User-Agent", ""), response.status_code,
                      response.calculate_content_length() or 0,
                      (time.monotonic() - started) * 1000)

    def _endpoint_name(self, request: Request) -> str:
        """The endpoint's name without its parameters (``GetState``), for obfuscated logs."""
        if request.headers.get(APP_ID_HEADER) and not request.path.startswith(_API_PREFIX):
            return "Invoke"
        try:
            endpoint, _ = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            return "NotFound"
        return "".join(part.capitalize() for part in str(endpoint).split("_"))

    def _allowed(self, endpoint: str, path: str) -> bool:
        """``spec.api`` rules: daprd does not register a disallowed endpoint at all (404)."""
        group, group_version = HTTP_API_GROUPS.get(endpoint, ("", ""))
        api_version, _, route = path.lstrip("/").partition("/")
        return configuration_of(self.runtime)[0].http_api_allowed(group, group_version, api_version,
                                                           route)

    def dispatch(self, request: Request) -> Response:
        """Route ``request`` and turn every failure into daprd's JSON error shape."""
        try:
            app_id = request.headers.get(APP_ID_HEADER)
            if app_id and not request.path.startswith(_API_PREFIX):
                if not self._allowed("invoke", f"/v1.0/invoke/{app_id}/method{request.path}"):
                    raise NotFound()
                return self.invoke(request, app_id=app_id, method=request.path.lstrip("/"))
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
            if not self._allowed(endpoint, request.path):
                raise NotFound()
            handler: Callable[..., Response] = getattr(self, endpoint)
            return handler(request, **args)
        except DaprError as err:
            return _error(err)
        except NotFound:
            return _json_response({"errorCode": "ERR_NOT_FOUND", "message": (
                f"method {request.method} {request.path} is not found")}, HTTPStatus.NOT_FOUND)
        except MethodNotAllowed as err:
            return _json_response({"errorCode": "ERR_METHOD_NOT_ALLOWED", "message": (
                f"method {request.method} is not allowed on {request.path}; allowed: "
                f"{', '.join(err.valid_methods or [])}")}, HTTPStatus.METHOD_NOT_ALLOWED)
        except HTTPException as err:
            return _json_response({"errorCode": "ERR_MALFORMED_REQUEST",
                                   "message": err.description}, err.code or 400)
        except Exception:  # noqa: BLE001 - a bug must answer 500 JSON, not drop the socket
            _log.exception("unhandled error serving %s %s", request.method, request.path)
            return _json_response({"errorCode": "ERR_INTERNAL", "message": (
                "internal error in the local Dapr runtime; see its log")},
                HTTPStatus.INTERNAL_SERVER_ERROR)

    # -- health and metadata ----------------------------------------------------------------

    def healthz(self, request: Request) -> Response:
        # daprd answers 500 until its start-up (components, app channel) has finished.
        if not self.runtime.ready:
            return _json_response({"errorCode": "ERR_HEALTH_NOT_READY",
                                   "message": "dapr is not ready"},
                                  HTTPStatus.INTERNAL_SERVER_ERROR)
        return _empty()

    def metadata(self, request: Request) -> Response:
        return _json_response(self.runtime.metadata())

    def set_metadata(self, request: Request, key: str) -> Response:
        # daprd stores the raw body as the value, whatever its content type.
        self.runtime.set_metadata(key, request.get_data(cache=False).decode("utf-8", "replace"))
        return _empty()

    # -- state ------------------------------------------------------------------------------

    def save_state(self, request: Request, store: str) -> Response:
        items = parse.set_requests(_body_json(request))
        self.runtime.save_state(store, items)
        return _empty()

    def get_state(self, request: Request, store: str, key: str) -> Response:
        item = self.runtime.get_state(store, parse.check_key(key), _query_metadata(request))
        if item is None:
            return _empty()
        headers = _metadata_headers(item.metadata)
        if item.etag is not None:
            headers["ETag"] = item.etag
        return Response(item.data, status=HTTPStatus.OK, headers=headers, content_type=_JSON)

    def delete_state(self, request: Request, store: str, key: str) -> Response:
        delete = parse.delete_request(key, request.headers.get("If-Match"),
                                      request.args.get("concurrency"), _query_metadata(request))
        self.runtime.delete_state(store, delete)
        return _empty()

    def bulk_state(self, request: Request, store: str) -> Response:
        keys, metadata = parse.bulk_keys(_body_json(request))
        metadata.update(_query_metadata(request))
        found = self.runtime.bulk_get_state(store, keys, metadata)
        items: list[dict[str, Any]] = []
        for key, item in found:
            entry: dict[str, Any] = {"key": key}
            if item is not None:
                entry["data"] = parse.embed_json(item.data)
                if item.etag is not None:
                    entry["etag"] = item.etag
                if item.metadata:
                    entry["metadata"] = item.metadata
            items.append(entry)
        return Response(json.dumps(items, separators=(",", ":"), ensure_ascii=False),
                        content_type=_JSON)

    def transact_state(self, request: Request, store: str) -> Response:
        operations, metadata = parse.transaction_operations(_body_json(request))
        self.runtime.transact_state(store, operations, metadata)
        return _empty()

    # -- secrets ----------------------------------------------------------------------------

    def get_secret(self, request: Request, store: str, key: str) -> Response:
        return _json_response(self.runtime.get_secret(store, key, _query_metadata(request)))

    def bulk_secret(self, request: Request, store: str) -> Response:
        return _json_response(self.runtime.bulk_get_secret(store, _query_metadata(request)))

    # -- bindings ---------------------------------------------------------------------------

    def binding(self, request: Request, name: str) -> Response:
        reply = self.runtime.invoke_binding(name, parse.binding_request(_body_json(request)))
        headers = _metadata_headers(reply.metadata)
        if reply.data is None and not reply.metadata:
            return _empty()
        return Response(reply.data or b"", status=HTTPStatus.OK, headers=headers,
                        content_type=_JSON)

    # -- pub/sub ----------------------------------------------------------------------------

    def publish(self, request: Request, target: str) -> Response:
        pubsub, _, topic = target.partition("/")
        self.runtime.publish(pubsub, topic, request.get_data(cache=True),
                             request.headers.get("Content-Type", ""), _query_metadata(request))
        return _empty()

    def bulk_publish(self, request: Request, target: str) -> Response:
        pubsub, _, topic = target.partition("/")
        metadata = _query_metadata(request)
        body = request.get_data(cache=True)
        # Parsed only after the pubsub and topic checks, as daprd does.
        failed = self.runtime.bulk_publish(
            pubsub, topic, lambda: bulk_entries(body, pubsub, topic), metadata)
        if failed:
            return _json_response(failed_entries_body(failed), HTTPStatus.INTERNAL_SERVER_ERROR)
        return _empty()

    # -- service invocation -----------------------------------------------------------------

    def invoke(self, request: Request, app_id: str, method: str) -> Response:
        app_request = AppRequest(
            http_verb=request.method, query=request.query_string.decode("latin-1"),
            headers=_forwarded_headers(request), body=request.get_data(cache=False),
            content_type=request.headers.get("Content-Type", ""))
        return _app_response(self.runtime.invoke_app(app_id, method, app_request))


class HttpServer:
    """The threaded werkzeug server running ``HttpApi`` in a background thread."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self.port: int = server.socket.getsockname()[1]
        self._thread = threading.Thread(target=server.serve_forever, name="dapr-http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting requests, wait up to ``grace`` seconds for the loop, close the socket."""
        self._server.shutdown()
        self._thread.join(grace)
        self._server.server_close()


def serve(runtime: Runtime, host: str, port: int) -> HttpServer:
    """Start serving the HTTP API on ``host:port`` (0 = any free port); returns the server.

    Raises ``OSError`` when the address cannot be bound.
    """
    # Bind here: werkzeug prints and calls sys.exit() itself when it fails to bind.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family, backlog=128) as listener:
        server = make_server(host, port, HttpApi(runtime), threaded=True,
                             fd=listener.fileno())
    # Threads serving keep-alive connections must not keep the process alive at exit.
    server.daemon_threads = True  # type: ignore[attr-defined] # ThreadedWSGIServer has it
    http = HttpServer(server)
    http.start()
    return http

"""The launcher's web server: the page in ``web/`` and a proxy to the functions.

``/api/<function>/<path>`` goes to ``http://127.0.0.1:<app port>/<path>`` of the app whose
command targets ``<function>`` (``/api/events/events?limit=5`` -> events' ``/events?limit=5``),
so the page and the functions share one origin and need no CORS locally. Everything else is a
file under ``web/`` (``/`` is ``index.html``). Errors are JSON ``{"error": ..., ...}``: 404 for
an unknown function or file, 413 for a body over ``MAX_PROXY_BODY``, 411/400 for a body of
unknown or bad length, 502 when the function does not answer, 504 when it answers too slowly.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from sidecar.invoke.messages import HOP_BY_HOP_HEADERS

__all__ = ["MAX_PROXY_BODY", "PROXY_TIMEOUT", "WEB_ROOT", "WebServer"]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
#: Bytes of request body the proxy reads; the functions themselves refuse above 10 MiB.
MAX_PROXY_BODY = 32 * 1024 * 1024
#: Seconds a function may take to answer through the proxy.
PROXY_TIMEOUT = 60.0
_API_PREFIX = "/api/"
# Per-connection headers, proxy credentials and what httpx recomputes (it decodes bodies).
_HOP_BY_HOP = HOP_BY_HOP_HEADERS | {"proxy-authenticate", "proxy-authorization",
                                    "accept-encoding", "content-encoding"}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".ico": "image/x-icon"}
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._route(send_body=True)

    def do_HEAD(self) -> None:
        self._route(send_body=False)

    def do_POST(self) -> None:
        self._route(send_body=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _route(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        if path.startswith(_API_PREFIX):
            self._proxy(path[len(_API_PREFIX):])
        elif self.command in ("GET", "HEAD"):
            self._static(path, send_body)
        else:
            self._json(HTTPStatus.METHOD_NOT_ALLOWED,
                       {"error": f"{self.command} is not allowed on {path}; "
                                 "only /api/<function>/... takes other methods"},
                       {"Allow": "GET, HEAD"})

    def _static(self, path: str, send_body: bool) -> None:
        root = self.server.web_root
        relative = unquote(path).lstrip("/") or "index.html"
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no file {path}"})
            return
        body = target.read_bytes()
        kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        self._send(HTTPStatus.OK, body if send_body else b"", {
            "Content-Type": kind or "application/octet-stream", "Cache-Control": "no-cache",
            "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}, length=len(body))

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        # The unread body's end is unknown, so this connection cannot carry another request.
        self.close_connection = True
        self._json(status, {"error": message})

    def _read_body(self) -> bytes | None:
        """The request body, or None after an error answer."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(HTTPStatus.LENGTH_REQUIRED,
                         "send the body with a Content-Length (chunked is not proxied)")
            return None
        raw = self.headers.get("Content-Length", "0")
        if not raw.isdigit():
            self._refuse(HTTPStatus.BAD_REQUEST, f"bad Content-Length {raw!r}")
            return None
        length = int(raw)
        if length > MAX_PROXY_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f"body of {length} bytes is over the proxy's limit of "
                         f"{MAX_PROXY_BODY} bytes")
            return None
        return self.rfile.read(length)

    def _proxy(self, rest: str) -> None:
        function, _, sub_path = rest.partition("/")
        port = self.server.routes.get(function)
        body = self._read_body()
        if body is None:
            return
        if port is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no function named {function!r}",
                                              "functions": sorted(self.server.routes)})
            return
        query = urlsplit(self.path).query
        url = f"http://127.0.0.1:{port}/{sub_path}" + (f"?{query}" if query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        forwarded = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
        try:
            answer = self.server.client.request(self.command, url, content=body, headers=headers)
        except httpx.TimeoutException:
            self._json(HTTPStatus.GATEWAY_TIMEOUT,
                       {"error": f"function {function!r} did not answer within "
                                 f"{PROXY_TIMEOUT:.0f}s", "function": function})
            return
        except httpx.HTTPError as err:
            self._json(HTTPStatus.BAD_GATEWAY,
                       {"error": f"function {function!r} is not reachable on port {port} "
                                 f"({type(err).__name__}); is it running?",
                        "function": function})
            return
        out = {k: v for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP}
        self._send(answer.status_code, b"" if self.command == "HEAD" else answer.content, out,
                   length=len(answer.content))

    def _json(self, status: HTTPStatus, value: Mapping[str, Any],
              headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(value).encode()
        self._send(status, b"" if self.command == "HEAD" else body,
                   {"Content-Type": "application/json", **(headers or {})}, length=len(body))

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], length: int) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The page polls the events every few seconds; only failures are worth a log line.
        if str(code).isdigit() and int(code) >= HTTPStatus.BAD_REQUEST:
            self.server.log(f"{self.command} {self.path} -> {code}")

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that goes away mid-request is routine, not a traceback on the console.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], web_root: Path, routes: Mapping[str, int],
                 log: Callable[[str], None]) -> None:
        super().__init__(address, _Handler)
        self.web_root = web_root.resolve()
        self.routes = dict(routes)
        self.log = log
        self.client = httpx.Client(timeout=httpx.Timeout(PROXY_TIMEOUT, connect=5.0),
                                   follow_redirects=False)


class WebServer:
    """Serves ``web_root`` and proxies ``/api/<function>/`` to ``routes`` (name -> app port).

    Binding happens in the constructor, so a taken port raises OSError before anything starts.
    ``log`` receives one line per request.
    """

    def __init__(self, host: str, port: int, routes: Mapping[str, int],
                 web_root: Path = WEB_ROOT, log: Callable[[str], None] = lambda line: None) -> None:
        self._server = _Server((host, port), web_root, routes, log)
        # A short poll interval keeps stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="web", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        # An AF_INET server's address is a (str, int) pair; typeshed allows bytes for others.
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._server.client.close()

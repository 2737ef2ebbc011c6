"""A tiny real HTTP app for invocation and input-binding tests (the shape of the dapr SDK's
``fake_http_server.py``): it records every request and answers with an echo of it.

Any path answers 200 with JSON ``{"method", "path", "query", "headers", "body"}``; the query
``status=<n>`` sets the status code, ``OPTIONS /<name>`` answers 404 unless ``name`` is in
``subscribed`` (for input bindings), and every request is appended to ``requests``.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeApp", "RecordedRequest", "run_fake_app"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApp:
    port: int
    subscribed: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    #: Status for POSTs to a subscribed binding path.
    binding_status: int = 200
    received: threading.Event = field(default_factory=threading.Event)


def _handler(app: FakeApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            # Repeated headers are joined, so a test sees a duplicate as "a, a".
            headers = {k.lower(): ", ".join(self.headers.get_all(k) or [])
                       for k in self.headers}
            recorded = RecordedRequest(self.command, parts.path, parts.query, headers, body)
            app.requests.append(recorded)
            status = int(parse_qs(parts.query).get("status", ["200"])[0])
            name = parts.path.strip("/")
            if self.command == "OPTIONS":
                status = 200 if name in app.subscribed else 404
            elif self.command == "POST" and name in app.subscribed:
                status = app.binding_status
                app.received.set()
            reply = json.dumps({"method": recorded.method, "path": recorded.path,
                                "query": recorded.query, "headers": recorded.headers,
                                "body": body.decode("utf-8", "replace")}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("x-fake-app", "yes")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

    return Handler


@contextmanager
def run_fake_app(subscribed: set[str] | None = None, port: int = 0,
                 tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[FakeApp]:
    """Serve a FakeApp on ``host`` (default loopback) and ``port`` (default a free one) for the
    block; over TLS with ``tls`` (a server context)."""
    app = FakeApp(port=port, subscribed=set(subscribed or ()))
    server = ThreadingHTTPServer((host, port), _handler(app))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    app.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()

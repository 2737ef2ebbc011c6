"""A small real subscriber app: serves ``GET /dapr/subscribe`` and records every event.

``replies[path]`` is a list of ``(status, body)`` answers used in turn (the last one sticks);
without one a path answers 200 ``{"status": "SUCCESS"}``. ``wait_for(path, n)`` waits until
``n`` events reached ``path``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Delivered", "SubscriberApp", "run_subscriber_app"]


@dataclass(frozen=True)
class Delivered:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class SubscriberApp:
    subscriptions: list[dict[str, Any]]
    port: int = 0
    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    delivered: list[Delivered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> list[Delivered]:
        with self.lock:
            return [d for d in self.delivered if d.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Delivered]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(self.at(path))} of {count} events after {timeout}s;"
                             f" got {[d.path for d in self.delivered]}")


def _handler(app: SubscriberApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/dapr/subscribe":
                self._reply(200, json.dumps(app.subscriptions).encode())
            else:
                self._reply(404, b"")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            with app.lock:
                app.delivered.append(Delivered(
                    self.path, {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None))
                answers = app.replies.get(self.path) or [(200, b'{"status":"SUCCESS"}')]
                status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self._reply(status, body)

    return Handler


@contextmanager
def run_subscriber_app(subscriptions: list[dict[str, Any]]) -> Iterator[SubscriberApp]:
    app = SubscriberApp(subscriptions)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(app))
    server.daemon_threads = True
    app.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()

"""What the resiliency tests share: a fake clock, a real app that fails on purpose
(``FlakyApp``), and Resiliency documents written to a resources folder."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FakeClock", "FlakyApp", "resiliency_doc", "run_flaky_app", "write"]

# -- a fake clock and a real app that fails on purpose -------------------------------------------

class FakeClock:
    """Time that moves only when the engine sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FlakyApp:
    """Per path: fail the first ``fail_first[path]`` requests with ``status``, or sleep."""

    port: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)
    status: int = 500
    delay: dict[str, float] = field(default_factory=dict)
    #: (path, arrival time) of every request.
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    #: path -> GET/POST requests served so far (OPTIONS probes do not count).
    served: dict[str, int] = field(default_factory=dict)

    def times(self, path: str) -> list[float]:
        return [at for p, at in self.arrivals if p == path]

    def gaps(self, path: str) -> list[float]:
        times = self.times(path)
        return [b - a for a, b in itertools.pairwise(times)]


def _flaky_handler(app: FlakyApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            app.arrivals.append((path, time.monotonic()))
            time.sleep(app.delay.get(path, 0.0))
            status = 200
            if self.command in ("POST", "GET"):
                app.served[path] = seen = app.served.get(path, 0) + 1
                status = app.status if seen <= app.fail_first.get(path, 0) else 200
            body = json.dumps({"path": path, "status": status}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_OPTIONS = _handle

    return Handler


@contextmanager
def run_flaky_app() -> Iterator[FlakyApp]:
    app = FlakyApp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _flaky_handler(app))
    server.daemon_threads = True
    app.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()


def resiliency_doc(policies: Mapping[str, Any], targets: Mapping[str, Any], *,
                    name: str = "resiliency", scopes: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency",
                           "metadata": {"name": name},
                           "spec": {"policies": dict(policies), "targets": dict(targets)}}
    if scopes is not None:
        doc["scopes"] = list(scopes)
    return doc


def write(folder: Path, *docs: dict[str, Any], filename: str = "resiliency.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return folder

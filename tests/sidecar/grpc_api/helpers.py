"""Names, expectations and small helpers shared by the gRPC conformance tests."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
import pytest
from dapr.clients.exceptions import DaprGrpcError

from tests.conftest import MYSQL_DSN

__all__ = [
    "APP_ID", "BINDING", "EXTERNAL_GRPC", "EXTERNAL_HTTP", "MEMORY_STORE", "REDIS_STORE",
    "SECRETS", "SECRET_STORE", "TinyApp", "grpc_error", "key", "tiny_app_server",
]

#: Set both to run the suite against another runtime (a real daprd) instead of starting ours.
EXTERNAL_GRPC = os.environ.get("DAPR_TEST_GRPC_ADDRESS", "")
EXTERNAL_HTTP = os.environ.get("DAPR_TEST_HTTP_URL", "").rstrip("/")
APP_ID = os.environ.get("DAPR_TEST_APP_ID", "") or f"grpc-conf-{uuid.uuid4().hex[:8]}"
REDIS_STORE = "statestore"        # state.redis on the real Redis
MEMORY_STORE = "memstore"         # state.in-memory
SECRET_STORE = "localsecretstore"  # secretstores.local.file, nestedSeparator ":"
BINDING = "events-db"             # bindings.mysql on the real MariaDB
#: The secrets file content, and what the store must serve from it.
SECRETS = {"DB_URL": {"MYSQL": MYSQL_DSN}, "greeting": "hello"}


def key(name: str) -> str:
    """A state key no other test (or run) uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


@contextmanager
def grpc_error(code: grpc.StatusCode, error_code: str) -> Iterator[pytest.ExceptionInfo]:
    """Expect an RPC failure with gRPC ``code`` and ErrorInfo reason ``error_code``.

    The SDK wraps state errors in ``DaprGrpcError`` itself but raises the bare ``RpcError``
    for secrets, bindings and invocation; both are read the same way here.
    """
    with pytest.raises(grpc.RpcError) as info:
        yield info
    err = info.value if isinstance(info.value, DaprGrpcError) else DaprGrpcError(info.value)
    assert err.code() == code, f"{err.code()}: {err.details()}"
    assert err.error_code() == error_code, err.json()


@dataclass
class TinyApp:
    """A threaded HTTP app: ``/echo`` answers what it got, ``/status/<n>`` answers ``n``."""

    server: ThreadingHTTPServer
    requests: list[dict] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _handler(requests: list[dict]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = {"method": self.command, "path": url.path, "query": url.query,
                    "body": body.decode("utf-8", "replace"),
                    "content_type": self.headers.get("Content-Type", ""),
                    "headers": {k.lower(): v for k, v in self.headers.items()}}
            requests.append(seen)
            if url.path.startswith("/status/"):
                status, reply, kind = int(url.path.rsplit("/", 1)[1]), b"app said no", "text/plain"
            else:
                status, reply, kind = HTTPStatus.OK, json.dumps(seen).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("X-Echo", "yes")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output for failures

    return Handler


@contextmanager
def tiny_app_server(port: int = 0) -> Iterator[TinyApp]:
    """Serve a ``TinyApp`` on 127.0.0.1:``port`` (0 = a free ephemeral port) in a thread."""
    requests: list[dict] = []
    app = TinyApp(ThreadingHTTPServer(("127.0.0.1", port), _handler(requests)), requests)
    thread = threading.Thread(target=app.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        app.server.shutdown()
        app.server.server_close()
        thread.join()

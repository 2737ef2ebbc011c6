"""Creating the Dapr client: a serving worker starts it as it starts (``client.connect()``,
gunicorn's post_worker_init), after a health wait of our own that probes often and quietly, so
a worker that starts before its runtime is not left waiting on the SDK's once-a-second probe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from dapr.conf import settings as sdk_settings

from bindings.dapr import client
from bindings.http import serving
from sidecar.testing import free_port, run_sidecar


class _Health(BaseHTTPRequestHandler):
    """``GET /v1.0/healthz/outbound``: 500 for the first ``failures`` probes, then 204."""

    failures: ClassVar[int] = 0
    probes: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).probes.append({"path": self.path, **{k.lower(): v for k, v in
                                                         self.headers.items()}})
        healthy = len(self.probes) > self.failures
        self.send_response(204 if healthy else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _aim_sdk(monkeypatch: pytest.MonkeyPatch, http_port: int, grpc_port: int = 0) -> None:
    """Point the dapr SDK's settings (read once, at import) at a runtime on loopback."""
    monkeypatch.setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", None)
    monkeypatch.setattr(sdk_settings, "DAPR_GRPC_ENDPOINT", None)
    monkeypatch.setattr(sdk_settings, "DAPR_RUNTIME_HOST", "127.0.0.1")
    monkeypatch.setattr(sdk_settings, "DAPR_HTTP_PORT", http_port)
    if grpc_port:
        monkeypatch.setattr(sdk_settings, "DAPR_GRPC_PORT", grpc_port)


@pytest.fixture
def health_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Health]]:
    """A sidecar health endpoint the SDK's settings point at; its class holds the probes."""
    handler = type("Health", (_Health,), {"probes": [], "failures": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _aim_sdk(monkeypatch, server.server_address[1])
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_wait_ends_at_the_first_healthy_answer_and_sends_the_token(
        health_server: type[_Health], monkeypatch: pytest.MonkeyPatch) -> None:
    health_server.failures = 3
    monkeypatch.setattr(sdk_settings, "DAPR_API_TOKEN", "secret-token")
    client._wait_for_sidecar()
    assert len(health_server.probes) == 4
    assert {p["path"] for p in health_server.probes} == {"/v1.0/healthz/outbound"}
    assert {p.get("dapr-api-token") for p in health_server.probes} == {"secret-token"}


def test_probes_start_10_ms_apart_and_never_wait_more_than_200_ms(
        health_server: type[_Health], monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own check waits a second between probes; ours must not."""
    health_server.failures = 8
    slept: list[float] = []
    monkeypatch.setattr(client.time, "sleep", slept.append)
    client._wait_for_sidecar()
    assert slept == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16, 0.2, 0.2, 0.2])


def test_the_wait_gives_up_after_dapr_health_timeout_naming_the_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    _aim_sdk(monkeypatch, port)
    monkeypatch.setattr(sdk_settings, "DAPR_HEALTH_TIMEOUT", 0.3)
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}/v1.0/healthz/outbound"):
        client._wait_for_sidecar()


@pytest.fixture
def fresh_client() -> Iterator[None]:
    client.reset()
    yield
    client.reset()


def test_a_worker_starts_its_client_as_it_starts(
        fresh_client: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The post_worker_init hook starts the client in the background against a real runtime
    and lists its components; a request then finds both ready."""
    components = tmp_path / "components"
    components.mkdir()
    (components / "statestore.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n"
        "spec:\n  type: state.in-memory\n  version: v1\n")
    with run_sidecar("connect-test", [components]) as sidecar:
        _aim_sdk(monkeypatch, sidecar.http_port, sidecar.grpc_port)
        hook = serving.gunicorn_options("127.0.0.1", 8080, {})["post_worker_init"]
        hook(object())
        assert client._holder.started is not None  # began without any request
        assert client.get_client(wait=10).get_metadata().application_id == "connect-test"
        deadline = time.monotonic() + 10
        while client._holder.components is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client._holder.components == frozenset({"statestore"})
        client.connect()  # ready: nothing more to start
        assert "dapr-client" not in [t.name for t in threading.enumerate()]


def test_a_runtime_that_comes_up_after_the_worker_gives_its_requests_their_full_wait(
        fresh_client: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait budget runs from the first request, not from the worker's start: a request
    made as soon as a late runtime answers gets the client, not SidecarUnavailable."""
    http_port, grpc_port = free_port(), free_port()
    _aim_sdk(monkeypatch, http_port, grpc_port)
    client.connect()  # the worker starts; its runtime does not answer yet
    time.sleep(1.5)  # longer than the request's budget below
    components = tmp_path / "components"
    components.mkdir()
    with run_sidecar("late-runtime", [components], http_port=http_port, grpc_port=grpc_port):
        assert client.get_client(wait=1.0).get_metadata().application_id == "late-runtime"

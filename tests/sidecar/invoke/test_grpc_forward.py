"""Runtime-to-runtime invocation over gRPC InvokeService: what the app sent comes back whole
(status, long bodies, headers), gRPC callers, large bodies, a target that is down or restarted,
and the message and metadata conversion in ``sidecar.invoke.grpc_forward``."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import grpc
import httpx
import pytest
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import any_pb2

from sidecar.errors import MalformedRequest
from sidecar.invoke.grpc_forward import (
    APP_STATUS_HEADER,
    FORWARD_HEADER,
    HTTP_STATUS_HEADER,
    app_response,
    invoke_request,
    request_metadata,
)
from sidecar.invoke.messages import AppRequest
from sidecar.invoke.registry_dir import lookup
from sidecar.testing import Sidecar, free_port, run_sidecar
from tests.sidecar.fake_app import FakeApp, run_fake_app
from tests.sidecar.helpers import component_doc, unique_id, write_components

#: Headers the header app answers with, including IANA permanent ones daprd prefixes.
APP_HEADERS = {"cache-control": "no-store", "x-trace": "t-1", "set-cookie": "a=1"}


class _HeaderApp(BaseHTTPRequestHandler):
    """Answers every request with ``APP_HEADERS`` and status/body from the query string."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        status = int(self.path.rsplit("status=", 1)[1]) if "status=" in self.path else 200
        body = b"E" * 500 if status >= 400 else b"ok"
        self.send_response(status)
        for key, value in APP_HEADERS.items():
            self.send_header(key, value)
        if self.path.startswith("/gz"):
            body = gzip.compress(b"zipped " * 50)
            self.send_header("content-encoding", "gzip")
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_components(tmp_path_factory.mktemp("res"),
                            component_doc("statestore", "state.in-memory"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def caller(resources: Path, registry: Path) -> Iterator[Sidecar]:
    with run_sidecar(unique_id("caller"), [resources], registry_dir=registry) as sidecar:
        yield sidecar


@pytest.fixture(scope="module")
def echo(resources: Path, registry: Path) -> Iterator[tuple[Sidecar, FakeApp]]:
    with run_fake_app() as app, run_sidecar(unique_id("echo"), [resources], app_port=app.port,
                                            registry_dir=registry) as sidecar:
        yield sidecar, app


@pytest.fixture(scope="module")
def header_app(resources: Path, registry: Path) -> Iterator[Sidecar]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeaderApp)
    server.daemon_threads = True
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        with run_sidecar(unique_id("headers"), [resources], app_port=server.server_address[1],
                         registry_dir=registry) as sidecar:
            yield sidecar
    finally:
        server.shutdown()
        server.server_close()


def _invoke_url(caller: Sidecar, app_id: str, method: str) -> str:
    return f"{caller.http_url}/v1.0/invoke/{app_id}/method/{method}"


def test_error_status_keeps_the_whole_body(caller: Sidecar, echo: tuple[Sidecar, FakeApp]
                                           ) -> None:
    callee, _ = echo
    body = "why " * 100
    reply = httpx.post(_invoke_url(caller, callee.app_id, "fail?status=503"), content=body)
    assert reply.status_code == 503
    assert reply.json()["body"] == body
    assert reply.headers["x-fake-app"] == "yes"
    assert APP_STATUS_HEADER not in reply.headers
    assert FORWARD_HEADER not in reply.json()["headers"]


def test_app_headers_come_back_unprefixed(caller: Sidecar, header_app: Sidecar) -> None:
    for status in (200, 404):
        reply = httpx.get(_invoke_url(caller, header_app.app_id, f"h?status={status}"))
        assert reply.status_code == status
        assert {k: reply.headers.get(k) for k in APP_HEADERS} == APP_HEADERS
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        assert not [k for k in reply.headers if k.startswith("dapr-")]
    assert reply.content == b"E" * 500


@pytest.mark.parametrize("through", ["own", "other"])
def test_encoded_reply_passes_through_undecoded(caller: Sidecar, header_app: Sidecar,
                                                through: str) -> None:
    runtime = header_app if through == "own" else caller
    with httpx.stream("GET", _invoke_url(runtime, header_app.app_id, "gz")) as reply:
        raw = b"".join(reply.iter_raw())
        assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == b"zipped " * 50


def test_verb_query_and_headers_reach_the_app(caller: Sidecar, echo: tuple[Sidecar, FakeApp]
                                              ) -> None:
    callee, _ = echo
    reply = httpx.patch(_invoke_url(caller, callee.app_id, "orders/7?a=1&b=x%20y"),
                        content=b"{}", headers={"x-custom": "abc", "grpc-timeout-ish": "1",
                                                "content-type": "application/merge-patch+json"})
    echo_ = reply.json()
    assert (echo_["method"], echo_["path"], echo_["query"]) == ("PATCH", "/orders/7",
                                                                "a=1&b=x%20y")
    assert echo_["headers"]["x-custom"] == "abc"
    assert echo_["headers"]["dapr-grpc-timeout-ish"] == "1"
    assert echo_["headers"]["content-type"] == "application/merge-patch+json"
    assert echo_["headers"]["dapr-caller-app-id"] == caller.app_id


@pytest.mark.parametrize("size", [0, 3 * 1024 * 1024])
def test_bodies_up_to_megabytes_go_both_ways(caller: Sidecar, echo: tuple[Sidecar, FakeApp],
                                            size: int) -> None:
    callee, _ = echo
    payload = os.urandom(size // 2).hex()
    reply = httpx.post(_invoke_url(caller, callee.app_id, "big"), content=payload, timeout=30)
    assert reply.status_code == 200
    assert reply.json()["body"] == payload


def test_grpc_caller_reaches_a_remote_app(caller: Sidecar, echo: tuple[Sidecar, FakeApp]
                                          ) -> None:
    callee, _ = echo
    with grpc.insecure_channel(f"127.0.0.1:{caller.grpc_port}") as channel:
        stub = api_service_v1.DaprStub(channel)
        message = api_v1.InvokeServiceRequest(id=callee.app_id, message=common_v1.InvokeRequest(
            method="m", data=any_pb2.Any(value=b"hi"), content_type="text/plain",
            http_extension=common_v1.HTTPExtension(verb=common_v1.HTTPExtension.POST,
                                                   querystring="q=1")))
        reply, call = stub.InvokeService.with_call(message, timeout=10)
        assert dict(call.initial_metadata())[HTTP_STATUS_HEADER] == "200"
        assert json.loads(reply.data.value)["query"] == "q=1"
        message.message.http_extension.querystring = "status=409"
        with pytest.raises(grpc.RpcError) as failure:
            stub.InvokeService(message, timeout=10)
    # The gRPC caller sees daprd's mapping of the app's 409, not the internal envelope.
    assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_registered_but_down_target_fails_fast(caller: Sidecar, registry: Path) -> None:
    # A live pid (this test process) whose runtime does not listen on its gRPC port.
    ghost = unique_id("ghost")
    (registry / f"{ghost}.json").write_text(json.dumps({
        "app_id": ghost, "host": "127.0.0.1", "http_port": free_port(),
        "grpc_port": free_port(), "app_port": None, "pid": os.getpid()}))
    started = time.monotonic()
    reply = httpx.post(_invoke_url(caller, ghost, "x"), timeout=20)
    assert time.monotonic() - started < 5
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert ghost in reply.json()["message"] and "did not answer" in reply.json()["message"]


def test_restarted_target_is_reached_on_its_new_port(caller: Sidecar, resources: Path,
                                                     registry: Path) -> None:
    app_id = unique_id("restart")
    with run_fake_app() as app:
        for _ in range(2):
            with run_sidecar(app_id, [resources], app_port=app.port,
                             registry_dir=registry) as callee:
                reply = httpx.get(_invoke_url(caller, app_id, "again"))
                assert reply.status_code == 200, reply.text
                assert reply.json()["headers"]["dapr-callee-app-id"] == callee.app_id
    assert len([r for r in app.requests if r.path == "/again"]) == 2


def test_request_metadata_drops_what_grpc_cannot_carry() -> None:
    request = AppRequest(headers={"X-Ok": "1", "x-bad": "caf\u00e9", "Content-Type": "a/b",
                                  "grpc-x": "2", "x-bin": "3", "dapr-caller-app-id": "spoof",
                                  "connection": "close"})
    assert request_metadata(request, "me") == [
        ("x-ok", "1"), ("dapr-grpc-x", "2"), ("dapr-caller-app-id", "me"),
        (FORWARD_HEADER, "1")]


@pytest.mark.parametrize("verb", ["CONNECT", "BREW", "none"])
def test_unsendable_verbs_are_malformed(verb: str) -> None:
    with pytest.raises(MalformedRequest, match="invalid HTTP verb"):
        invoke_request("app", "m", AppRequest(http_verb=verb))


def test_app_response_prefers_the_envelope_status_and_unprefixes() -> None:
    reply = common_v1.InvokeResponse(data=any_pb2.Any(value=b"x"), content_type="a/b")
    response = app_response(reply, [(HTTP_STATUS_HEADER, "200"), (APP_STATUS_HEADER, "418"),
                                     ("dapr-date", "d"), ("dapr-content-type", "a/b"),
                                     ("x-a", "1"), ("x-b-bin", b"\x00")])
    assert (response.status, response.headers, response.body, response.content_type) == (
        418, {"date": "d", "x-a": "1"}, b"x", "a/b")
    assert app_response(reply, [(HTTP_STATUS_HEADER, "201")]).status == 201
    with pytest.raises(ValueError):
        app_response(reply, [(APP_STATUS_HEADER, "teapot")])


def test_lookup_sees_a_rewritten_entry(tmp_path: Path) -> None:
    entry = {"app_id": "a", "host": "127.0.0.1", "http_port": 1, "grpc_port": 2,
             "app_port": None, "pid": os.getpid()}
    path = tmp_path / "a.json"
    for grpc_port in (2, 3):
        replacement = tmp_path / ".a.tmp"
        replacement.write_text(json.dumps(dict(entry, grpc_port=grpc_port)))
        os.replace(replacement, path)
        found = lookup(tmp_path, "a")
        assert found is not None and found.grpc_port == grpc_port
    path.unlink()
    assert lookup(tmp_path, "a") is None

"""API tokens as daprd: DAPR_API_TOKEN guards both APIs (health exempt), APP_API_TOKEN goes
to the app on every call, a caller's token never reaches the app, and a forwarding runtime
presents its own token to the target runtime. Real runtimes, a real app, the real SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto import api_service_v1, api_v1

from sidecar.testing import Sidecar, run_sidecar
from tests.sidecar.fake_app import FakeApp, run_fake_app
from tests.sidecar.helpers import component_doc, unique_id, write_components

TOKEN = "stack-token"
APP_TOKEN = "app-token"
_TOKENS = {"DAPR_API_TOKEN": TOKEN, "APP_API_TOKEN": APP_TOKEN}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Sidecar, Sidecar, FakeApp]]:
    """Runtime A (no app) and B (with an app, subscribed to a cron binding), one token."""
    resources = write_components(
        tmp_path_factory.mktemp("res"), component_doc("statestore", "state.in-memory"),
        component_doc("tick", "bindings.cron", {"schedule": "@every 1s"}))
    registry = tmp_path_factory.mktemp("registry")
    with run_fake_app(subscribed={"tick"}) as app, \
            run_sidecar(unique_id("tok-a"), [resources], env=_TOKENS,
                        registry_dir=registry) as caller, \
            run_sidecar(unique_id("tok-b"), [resources], app_port=app.port, env=_TOKENS,
                        registry_dir=registry) as callee:
        yield caller, callee, app


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1.0/metadata"), ("GET", "/v1.0/state/statestore/k"),
    ("POST", "/v1.0/invoke/x/method/healthz"), ("POST", "/v1.0/healthz"),
])
def test_http_calls_without_the_token_are_401(stack: tuple[Sidecar, Sidecar, FakeApp],
                                              method: str, path: str) -> None:
    sidecar = stack[0]
    for headers in ({}, {"dapr-api-token": "wrong"}):
        reply = httpx.request(method, sidecar.http_url + path, headers=headers)
        assert reply.status_code == 401
        assert reply.text == "invalid api token\n"
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"


def test_health_endpoints_need_no_token(stack: tuple[Sidecar, Sidecar, FakeApp]) -> None:
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
        assert httpx.get(stack[0].http_url + path).status_code == 204


def test_http_with_the_token_works(stack: tuple[Sidecar, Sidecar, FakeApp]) -> None:
    reply = httpx.get(stack[0].http_url + "/v1.0/metadata", headers={"dapr-api-token": TOKEN})
    assert reply.status_code == 200


def test_grpc_without_the_token_is_unauthenticated(stack: tuple[Sidecar, Sidecar, FakeApp]
                                                   ) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{stack[0].grpc_port}") as channel:
        stub = api_service_v1.DaprStub(channel)
        for metadata, message in (((), "missing api token in request metadata"),
                                  ((("dapr-api-token", "wrong"),),
                                   "authentication error: api token mismatch")):
            with pytest.raises(grpc.RpcError) as info:
                stub.GetMetadata(api_v1.GetMetadataRequest(), metadata=metadata)
            err = DaprGrpcError(info.value)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
            assert err.details() == "Unauthorized"
            assert err.error_code() == "Unauthorized"
            info_detail = err.status_details().error_info
            assert info_detail is not None
            assert info_detail["metadata"] == {"http.code": "401", "http.error_message": message}
        reply = stub.GetMetadata(api_v1.GetMetadataRequest(),
                                 metadata=(("dapr-api-token", TOKEN),))
        assert reply.id == stack[0].app_id


def test_sdk_sends_the_token_from_its_environment(stack: tuple[Sidecar, Sidecar, FakeApp],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dapr.clients import DaprClient
    from dapr.conf import settings as sdk_settings

    monkeypatch.setattr(sdk_settings, "DAPR_API_TOKEN", TOKEN)
    monkeypatch.setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", stack[0].http_url)
    with DaprClient(f"127.0.0.1:{stack[0].grpc_port}") as client:
        client.save_state("statestore", "tok", "v")
        assert client.get_state("statestore", "tok").data == b'v'


def test_app_gets_the_app_token_never_the_callers(stack: tuple[Sidecar, Sidecar, FakeApp]
                                                  ) -> None:
    caller, callee, app = stack
    for sidecar in (callee, caller):  # own app over HTTP, and forwarded by the other runtime
        app.requests.clear()
        reply = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{callee.app_id}/method/echo",
                           headers={"dapr-api-token": TOKEN}, content=b"x")
        assert reply.status_code == 200, reply.text
        seen = [r for r in app.requests if r.path == "/echo"]
        assert [r.headers.get("dapr-api-token") for r in seen] == [APP_TOKEN]


def test_input_binding_events_carry_the_app_token(stack: tuple[Sidecar, Sidecar, FakeApp]
                                                  ) -> None:
    app = stack[2]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [r for r in app.requests if r.method == "POST" and r.path == "/tick"]
        if events:
            assert events[0].headers.get("dapr-api-token") == APP_TOKEN
            return
        time.sleep(0.2)
    pytest.fail("no binding event arrived")


def test_runtimes_with_different_tokens_cannot_forward(tmp_path: Path) -> None:
    resources = write_components(tmp_path / "res", component_doc("s", "state.in-memory"))
    with run_fake_app() as app, \
            run_sidecar(unique_id("tok-x"), [resources], env={"DAPR_API_TOKEN": "one"},
                        registry_dir=tmp_path) as caller, \
            run_sidecar(unique_id("tok-y"), [resources], app_port=app.port,
                        env={"DAPR_API_TOKEN": "two"}, registry_dir=tmp_path) as callee:
        reply = httpx.post(f"{caller.http_url}/v1.0/invoke/{callee.app_id}/method/echo",
                           headers={"dapr-api-token": "one"})
        assert reply.status_code == 500
        assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "UNAUTHENTICATED" in reply.json()["message"]
        assert not [r for r in app.requests if r.path == "/echo"]


def test_without_tokens_the_callers_token_still_stays_out(tmp_path: Path) -> None:
    resources = write_components(tmp_path / "res", component_doc("s", "state.in-memory"))
    with run_fake_app() as app, \
            run_sidecar(unique_id("tok-none"), [resources], app_port=app.port,
                        registry_dir=tmp_path) as sidecar:
        reply = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/echo",
                           headers={"dapr-api-token": "anything"})
        assert reply.status_code == 200
        assert "dapr-api-token" not in reply.json()["headers"]

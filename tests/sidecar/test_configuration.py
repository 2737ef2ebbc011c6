"""``--config`` through real runtimes: secret scopes, API allow/deny lists, access control and
W3C tracing, over HTTP (httpx) and gRPC (the unmodified dapr SDK); bad files stop start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprHttpError
from dapr.conf import settings as sdk_settings
from dapr.proto import api_service_v1, api_v1, common_v1

from sidecar.testing import Sidecar, run_sidecar
from tests.sidecar.fake_app import FakeApp, run_fake_app
from tests.sidecar.helpers import component_doc, unique_id, write_components

STORE = "local-store"
SECRETS = {"DB_URL:MYSQL": "mysql://x", "OTHER": "o", "PUBLIC": "p"}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@contextmanager
def sdk_client(sidecar: Sidecar) -> Iterator[DaprClient]:
    """A DaprClient on ``sidecar``; its constructor waits on that runtime's health endpoint."""
    saved = dict(vars(sdk_settings))
    setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", sidecar.http_url)  # noqa: B010
    try:
        with DaprClient(address=f"127.0.0.1:{sidecar.grpc_port}") as dapr:
            yield dapr
    finally:
        vars(sdk_settings).clear()
        vars(sdk_settings).update(saved)


def _config(folder: Path, name: str, spec: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration",
                                    "metadata": {"name": name}, "spec": spec}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("res")
    (folder / "secrets.json").write_text(json.dumps(SECRETS), encoding="utf-8")
    return write_components(
        folder, component_doc(STORE, "secretstores.local.file",
                              {"secretsFile": str(folder / "secrets.json")}),
        component_doc("files", "bindings.localstorage", {"rootPath": str(folder / "files")}))


@pytest.fixture(scope="module")
def scoped(resources: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """Secrets: deny by default, PUBLIC allowed; gRPC API: all but bindings; HTTP: no state."""
    folder = tmp_path_factory.mktemp("cfg")
    # Two files, as daprd merges them: the second adds the API rules and tracing.
    first = _config(folder, "scopes", {"secrets": {"scopes": [
        {"storeName": STORE, "defaultAccess": "deny", "allowedSecrets": ["PUBLIC"]}]}})
    second = _config(folder, "api", {
        "api": {"denied": [{"name": "bindings", "version": "v1", "protocol": "grpc"},
                           {"name": "state", "version": "v1.0", "protocol": "http"}]},
        "tracing": {"samplingRate": "1", "stdout": True}, "metric": {"enabled": False}})
    env = {"DAPR_CONFIG": os.pathsep.join([str(first), str(second)])}
    with run_sidecar(unique_id("scoped"), [resources], env=env) as sidecar:
        yield sidecar


def test_scoped_secret_is_refused_with_daprd_error_over_http(scoped: Sidecar) -> None:
    reply = httpx.get(f"{scoped.http_url}/v1.0/secrets/{STORE}/DB_URL:MYSQL")
    assert reply.status_code == 403
    assert reply.json() == {"errorCode": "ERR_PERMISSION_DENIED", "message":
                            f'access denied by policy to get "DB_URL:MYSQL" from "{STORE}"'}
    allowed = httpx.get(f"{scoped.http_url}/v1.0/secrets/{STORE}/PUBLIC")
    assert allowed.status_code == 200 and allowed.json() == {"PUBLIC": "p"}


def test_bulk_secrets_are_filtered(scoped: Sidecar) -> None:
    reply = httpx.get(f"{scoped.http_url}/v1.0/secrets/{STORE}/bulk")
    assert reply.status_code == 200
    assert reply.json() == {"PUBLIC": {"PUBLIC": "p"}}


def test_scoped_secret_is_permission_denied_through_the_sdk(scoped: Sidecar) -> None:
    with sdk_client(scoped) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.get_secret(STORE, "OTHER")
        error = caught.value
        assert isinstance(error, grpc.Call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error.details() == f'access denied by policy to get "OTHER" from "{STORE}"'
        assert client.get_secret(STORE, "PUBLIC").secret == {"PUBLIC": "p"}
        assert set(client.get_bulk_secret(STORE).secrets) == {"PUBLIC"}


def test_denied_grpc_api_is_unimplemented_and_others_work(scoped: Sidecar) -> None:
    with sdk_client(scoped) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.invoke_binding("files", "create", b"x", {"fileName": "a.txt"})
        error = caught.value
        assert isinstance(error, grpc.Call)
        assert (error.code(), error.details()) == (grpc.StatusCode.UNIMPLEMENTED,
                                                   "Not Implemented")
        assert client.get_metadata().application_id == scoped.app_id


def test_denied_http_api_is_not_registered_and_others_work(scoped: Sidecar) -> None:
    assert httpx.get(f"{scoped.http_url}/v1.0/state/s/k").status_code == 404
    reply = httpx.post(f"{scoped.http_url}/v1.0/bindings/files",
                       json={"operation": "create", "data": "x",
                             "metadata": {"fileName": "b.txt"}})
    assert reply.status_code == 200
    assert httpx.get(f"{scoped.http_url}/v1.0/healthz").status_code == 204


def test_traceparent_is_continued_and_returned(scoped: Sidecar) -> None:
    reply = httpx.get(f"{scoped.http_url}/v1.0/metadata", headers={"traceparent": TRACEPARENT,
                                                                   "tracestate": "k=v"})
    parent = reply.headers["traceparent"].split("-")
    assert parent[1] == TRACEPARENT.split("-")[1] and parent[2] != TRACEPARENT.split("-")[2]
    assert parent[3] == "01" and reply.headers["tracestate"] == "k=v"
    fresh = httpx.get(f"{scoped.http_url}/v1.0/metadata").headers["traceparent"]
    assert fresh.startswith("00-") and fresh.endswith("-01")  # samplingRate 1: sampled
    assert "traceparent" not in httpx.get(f"{scoped.http_url}/v1.0/healthz").headers


def test_stdout_exporter_writes_one_line_per_span(scoped: Sidecar) -> None:
    httpx.get(f"{scoped.http_url}/v1.0/metadata", headers={"traceparent": TRACEPARENT})
    lines = [json.loads(line) for line in scoped.log_path.read_text().splitlines()
             if line.startswith("{")]
    assert any(span["traceId"] == TRACEPARENT.split("-")[1] and span["parentSpanId"]
               == TRACEPARENT.split("-")[2] for span in lines)
    log = scoped.log_path.read_text()
    assert "ignored: spec.metric" in log


def test_component_secret_refs_are_not_scoped(resources: Path, tmp_path: Path) -> None:
    """daprd resolves a component's secretKeyRef without the secrets API's scopes."""
    folder = write_components(tmp_path / "res", component_doc(
        STORE, "secretstores.local.file", {"secretsFile": str(resources / "secrets.json")}),
        component_doc("files", "bindings.localstorage", secret_store=STORE, raw_metadata=[
            {"name": "rootPath", "secretKeyRef": {"name": "OTHER", "key": "OTHER"}}]))
    config = _config(tmp_path, "deny", {"secrets": {"scopes": [
        {"storeName": STORE, "defaultAccess": "deny"}]}})
    with run_sidecar(unique_id("refs"), [folder], env={"DAPR_CONFIG": str(config)},
                     cwd=tmp_path) as sidecar:
        reply = httpx.post(f"{sidecar.http_url}/v1.0/bindings/files", json={
            "operation": "create", "data": "x", "metadata": {"fileName": "c.txt"}})
        assert reply.status_code == 200
        assert (tmp_path / "o" / "c.txt").exists()  # rootPath "o" came from the secret


@pytest.fixture(scope="module")
def acl_pair(resources: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Sidecar, Sidecar, Sidecar, FakeApp]]:
    """Callee allows caller ``friend`` POST /orders/* only; everyone else is denied."""
    registry = tmp_path_factory.mktemp("registry")
    folder = tmp_path_factory.mktemp("acl")
    friend, stranger = unique_id("friend"), unique_id("stranger")
    config = _config(folder, "acl", {"accessControl": {
        "defaultAction": "deny", "trustDomain": "public", "policies": [{
            "appId": friend, "defaultAction": "deny", "trustDomain": "public",
            "namespace": "default",
            "operations": [{"name": "/orders/*", "httpVerb": ["POST"], "action": "allow"}]}]},
        "tracing": {"samplingRate": "1"}})
    with run_fake_app() as app, \
            run_sidecar(friend, [resources], registry_dir=registry) as caller, \
            run_sidecar(stranger, [resources], registry_dir=registry) as other, \
            run_sidecar(unique_id("callee"), [resources], app_port=app.port,
                        registry_dir=registry, env={"DAPR_CONFIG": str(config)}) as callee:
        yield caller, other, callee, app


def test_access_control_allows_listed_operation(
        acl_pair: tuple[Sidecar, Sidecar, Sidecar, FakeApp]) -> None:
    caller, _, callee, _ = acl_pair
    reply = httpx.post(f"{caller.http_url}/v1.0/invoke/{callee.app_id}/method/orders/7",
                       content=b"x")
    assert reply.status_code == 200 and reply.json()["path"] == "/orders/7"


def test_access_control_denies_other_verbs_operations_and_callers(
        acl_pair: tuple[Sidecar, Sidecar, Sidecar, FakeApp]) -> None:
    caller, other, callee, _ = acl_pair
    for runtime, verb, path in ((caller, "GET", "orders/7"), (caller, "POST", "admin"),
                                (other, "POST", "orders/7")):
        reply = httpx.request(verb, f"{runtime.http_url}/v1.0/invoke/{callee.app_id}/method/"
                                    f"{path}")
        assert reply.status_code == 403, (runtime.app_id, verb, path)
        body = reply.json()
        assert body["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "access control policy has denied access to appid: " in body["message"]


def test_access_control_denial_through_the_sdk(
        acl_pair: tuple[Sidecar, Sidecar, Sidecar, FakeApp]) -> None:
    _, other, callee, _ = acl_pair
    with sdk_client(other) as client:
        with pytest.raises(DaprHttpError) as caught:  # the SDK invokes over HTTP
            client.invoke_method(callee.app_id, "orders/7", b"x", http_verb="POST")
        assert caught.value.status_code == 403
        assert "Error Code: ERR_DIRECT_INVOKE" in str(caught.value)
    stub = api_service_v1.DaprStub(grpc.insecure_channel(f"127.0.0.1:{other.grpc_port}"))
    with pytest.raises(grpc.RpcError) as denied:
        stub.InvokeService(api_v1.InvokeServiceRequest(id=callee.app_id, message=(
            common_v1.InvokeRequest(method="orders/7", http_extension=common_v1.HTTPExtension(
                verb=common_v1.HTTPExtension.Verb.Value("POST"))))))
    error = denied.value
    assert isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_own_app_calls_skip_access_control(
        acl_pair: tuple[Sidecar, Sidecar, Sidecar, FakeApp]) -> None:
    _, _, callee, _ = acl_pair
    reply = httpx.get(f"{callee.http_url}/v1.0/invoke/{callee.app_id}/method/admin")
    assert reply.status_code == 200


def test_trace_context_crosses_runtimes_to_the_app(
        acl_pair: tuple[Sidecar, Sidecar, Sidecar, FakeApp]) -> None:
    caller, _, callee, _ = acl_pair
    reply = httpx.post(f"{caller.http_url}/v1.0/invoke/{callee.app_id}/method/orders/9",
                       content=b"x", headers={"traceparent": TRACEPARENT})
    assert reply.status_code == 200
    seen = reply.json()["headers"]["traceparent"].split("-")
    assert seen[1] == TRACEPARENT.split("-")[1]  # same trace ...
    assert seen[2] != TRACEPARENT.split("-")[2]  # ... under the runtimes' own spans
    assert reply.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]


def test_publish_puts_the_trace_into_the_cloudevent(tmp_path: Path) -> None:
    folder = write_components(tmp_path / "res", component_doc(
        "pubsub", "pubsub.local.sqlite", {"databasePath": str(tmp_path / "ps.db")}))
    (folder / "sub.yaml").write_text(yaml.safe_dump({
        "apiVersion": "dapr.io/v2alpha1", "kind": "Subscription", "metadata": {"name": "s"},
        "spec": {"pubsubname": "pubsub", "topic": "t", "routes": {"default": "/in"}}}))
    with run_fake_app() as app, run_sidecar(unique_id("pub"), [folder],
                                             app_port=app.port) as sidecar:
        reply = httpx.post(f"{sidecar.http_url}/v1.0/publish/pubsub/t", json={"a": 1},
                           headers={"traceparent": TRACEPARENT})
        assert reply.status_code == 204
        deadline = time.monotonic() + 10
        while not any(r.path == "/in" for r in app.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered = next(r for r in app.requests if r.path == "/in")
        event = json.loads(delivered.body)
        trace_id = TRACEPARENT.split("-")[1]
        assert event["traceparent"].split("-")[1] == trace_id
        assert event["traceid"] == event["traceparent"]
        assert delivered.headers["traceparent"].split("-")[1] == trace_id


@pytest.mark.parametrize(("text", "expected"), [
    (None, "cannot read the file"),
    ("kind: Component\napiVersion: dapr.io/v1alpha1\n", "kind: must be Configuration"),
    ("kind: Configuration\napiVersion: dapr.io/v1alpha1\nspec:\n  secrets:\n    scopes:\n"
     "      - {storeName: s, defaultAccess: maybe}\n", "spec.secrets.scopes[0].defaultAccess"),
    ("kind: Configuration\napiVersion: dapr.io/v1alpha1\nspec:\n  accessControl:\n"
     "    policies: [{appId: a}]\n", "missing trustDomain, namespace"),
])
def test_bad_configuration_stops_start_up_naming_file_and_field(
        tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "config.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--app-id", "x", "--config", str(path),
         "--resources-path", str(tmp_path), "--dapr-http-port", "0"],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error loading configuration: {path}")
    assert expected in lines[-1]


def test_environment_variables_are_expanded(tmp_path: Path, resources: Path) -> None:
    config = _config(tmp_path, "env", {"secrets": {"scopes": [
        {"storeName": STORE, "defaultAccess": "${SCOPE_ACCESS}"}]}})
    with run_sidecar(unique_id("env"), [resources], env={
            "DAPR_CONFIG": str(config), "SCOPE_ACCESS": "deny"}) as sidecar:
        assert httpx.get(f"{sidecar.http_url}/v1.0/secrets/{STORE}/PUBLIC").status_code == 403

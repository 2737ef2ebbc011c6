"""daprd's error surface and metadata API through a real runtime: illegal state keys over
both APIs (DAPR_STATE_ILLEGAL_KEY via the real SDK), Go's status lines, output-binding
statuses, the metadata set API and state-store capabilities."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.conf import settings as sdk_settings

from sidecar.testing import Sidecar, run_sidecar
from tests.conftest import REDIS_URL
from tests.sidecar.helpers import component_doc, unique_id, write_components

_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    folder = write_components(
        tmp_path_factory.mktemp("res"), component_doc("memstore", "state.in-memory"),
        component_doc("statestore", "state.redis", {"redisHost": _REDIS_HOST,
                                                    "actorStateStore": "true"}),
        component_doc("files", "bindings.localstorage",
                      {"rootPath": str(tmp_path_factory.mktemp("files"))}))
    with run_sidecar(unique_id("errors"), [folder]) as runtime:
        yield runtime


@pytest.fixture()
def client(sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaprClient]:
    monkeypatch.setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", sidecar.http_url)
    with DaprClient(f"127.0.0.1:{sidecar.grpc_port}") as dapr:
        yield dapr


def test_illegal_key_over_grpc_is_daprd_rich_error(client: DaprClient) -> None:
    for call in (lambda: client.save_state("memstore", "a||b", "v"),
                 lambda: client.get_state("memstore", "a||b"),
                 lambda: client.delete_state("memstore", "a||b")):
        with pytest.raises(DaprGrpcError) as info:
            call()
        err = info.value
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.error_code() == "DAPR_STATE_ILLEGAL_KEY"
        assert err.details() == "input key/keyPrefix 'a||b' can't contain '||'"
        assert err.status_details().resource_info["resource_name"] == "memstore"


def test_illegal_key_over_http_keeps_its_error_code(sidecar: Sidecar) -> None:
    reply = httpx.get(f"{sidecar.http_url}/v1.0/state/memstore/a||b")
    assert reply.status_code == 400
    body = reply.json()
    assert body["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert [d["reason"] for d in body["details"] if "reason" in d] == ["DAPR_STATE_ILLEGAL_KEY"]
    assert any(d.get("field_violations") for d in body["details"])


def test_unknown_state_store_reason_through_the_sdk(client: DaprClient) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.get_state("nope", "k")
    assert info.value.error_code() == "DAPR_STATE_NOT_FOUND"


def test_status_lines_are_gos(sidecar: Sidecar) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=10)
    try:
        connection.request("GET", "/v1.0/state/nope/k")
        reply = connection.getresponse()
        reply.read()
        assert (reply.status, reply.reason) == (400, "Bad Request")
        connection.close()
        connection.request("POST", "/v1.0/bindings/nope", body=b'{"operation":"get"}')
        reply = connection.getresponse()
        reply.read()
        assert (reply.status, reply.reason) == (500, "Internal Server Error")
    finally:
        connection.close()


@pytest.mark.parametrize("body", [
    {"operation": "get", "metadata": {"fileName": "missing.txt"}},
    {"operation": "explode"},
])
def test_output_binding_failures_are_500(sidecar: Sidecar, body: dict) -> None:
    reply = httpx.post(f"{sidecar.http_url}/v1.0/bindings/files", json=body)
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"


def test_metadata_set_api_over_http_and_grpc(sidecar: Sidecar, client: DaprClient) -> None:
    reply = httpx.put(f"{sidecar.http_url}/v1.0/metadata/colour", content=b"blue")
    assert reply.status_code == 204
    client.set_metadata("shape", "round")
    extended = httpx.get(f"{sidecar.http_url}/v1.0/metadata").json()["extended"]
    assert extended["colour"] == "blue" and extended["shape"] == "round"
    assert client.get_metadata().extended_metadata["colour"] == "blue"


def test_capabilities_as_components_contrib_declares(sidecar: Sidecar) -> None:
    components = {c["name"]: c for c in
                  httpx.get(f"{sidecar.http_url}/v1.0/metadata").json()["components"]}
    assert components["statestore"]["capabilities"] == [
        "ETAG", "TRANSACTIONAL", "QUERY_API", "TTL", "ACTOR"]
    assert "ACTOR" not in components["memstore"]["capabilities"]

"""GetMetadata, InvokeBinding (bindings.mysql on the real MariaDB) and the RPCs this runtime
does not serve, through the dapr SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pymysql
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto import api_service_v1, api_v1

from .conftest import Target
from .helpers import (
    APP_ID,
    BINDING,
    EXTERNAL_GRPC,
    MEMORY_STORE,
    REDIS_STORE,
    SECRET_STORE,
    grpc_error,
)


@pytest.fixture()
def table(mysql_params: dict) -> Iterator[str]:
    """A fresh table name; the table is dropped afterwards."""
    name = f"grpc_conf_{uuid.uuid4().hex[:10]}"
    yield name
    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
        conn.commit()


def test_metadata_names_app_and_every_component(client: DaprClient) -> None:
    info = client.get_metadata()
    assert info.application_id == APP_ID
    components = {c.name: (c.type, c.version) for c in info.registered_components}
    assert components == {
        REDIS_STORE: ("state.redis", "v1"), MEMORY_STORE: ("state.in-memory", "v1"),
        SECRET_STORE: ("secretstores.local.file", "v1"), BINDING: ("bindings.mysql", "v1"),
    }
    assert info.extended_metadata["daprRuntimeVersion"]


def test_metadata_matches_the_http_metadata_api(target: Target,
                                                stub: api_service_v1.DaprStub) -> None:
    http = httpx.get(f"{target.http_url}/v1.0/metadata", timeout=10).json()
    got = stub.GetMetadata(api_v1.GetMetadataRequest())
    assert got.id == http["id"]
    assert got.runtime_version == http["runtimeVersion"]
    assert sorted((c.name, c.type, c.version, list(c.capabilities))
                  for c in got.registered_components) == sorted(
        (c["name"], c["type"], c["version"], c.get("capabilities", []))
        for c in http["components"])
    if not EXTERNAL_GRPC:
        assert got.app_connection_properties.port == target.app.port
        assert got.app_connection_properties.protocol == "http"


def test_mysql_binding_exec_and_query(client: DaprClient, table: str) -> None:
    client.invoke_binding(BINDING, "exec", binding_metadata={
        "sql": f"CREATE TABLE `{table}` (id INT PRIMARY KEY, label VARCHAR(40))"})
    inserted = client.invoke_binding(BINDING, "exec", binding_metadata={
        "sql": f"INSERT INTO `{table}` (id, label) VALUES (?, ?), (?, ?)",
        "params": json.dumps([1, "food", 2, "dog"])})
    assert inserted.binding_metadata["rows-affected"] == "2"
    rows = client.invoke_binding(BINDING, "query", binding_metadata={
        "sql": f"SELECT id, label FROM `{table}` ORDER BY id"})
    assert json.loads(rows.data) == [{"id": 1, "label": "food"}, {"id": 2, "label": "dog"}]
    assert rows.binding_metadata["operation"] == "query"


def test_mysql_binding_bad_sql_is_an_invoke_error(client: DaprClient, table: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.invoke_binding(BINDING, "query",
                              binding_metadata={"sql": f"SELECT nope FROM `{table}`"})
    err = DaprGrpcError(info.value)
    # daprd answers INTERNAL for every binding failure, with its BindingError details.
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.error_code() == "DAPR_BINDING_INVOKE_OUTPUT_BINDING"
    resource = err.status_details().resource_info
    assert resource is not None and resource["resource_name"] == BINDING
    assert BINDING in err.details() and table in err.details()


def test_unknown_binding_is_internal(client: DaprClient) -> None:
    with grpc_error(grpc.StatusCode.INTERNAL, "DAPR_BINDING_INVOKE_OUTPUT_BINDING") as info:
        client.invoke_binding("no-such-binding", "create", b"data")
    assert "no-such-binding" in info.value.details()


@pytest.mark.filterwarnings("ignore:The Distributed Lock API is an Alpha version:UserWarning")
@pytest.mark.parametrize("call", ["lock", "configuration"])
def test_rpcs_outside_the_served_building_blocks_are_unimplemented(
        client: DaprClient, call: str) -> None:
    actions = {
        "lock": (lambda: client.try_lock("lockstore", "res", "me", 10), "TryLockAlpha1"),
        "configuration": (lambda: client.get_configuration("config", ["k"]),
                          "GetConfiguration"),
    }
    action, rpc = actions[call]
    with pytest.raises(grpc.RpcError) as info:
        action()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details().startswith(f"{rpc} is not implemented")

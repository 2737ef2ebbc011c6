"""State over gRPC through the unmodified dapr SDK, for state.redis and state.in-memory."""

from __future__ import annotations

import time

import grpc
import pytest
import redis
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateItem, StateOptions
from dapr.proto import api_service_v1, api_v1, common_v1

from .helpers import APP_ID, EXTERNAL_GRPC, REDIS_STORE, grpc_error, key

FIRST_WRITE = StateOptions(concurrency=Concurrency.first_write)


def _etag(client: DaprClient, store: str, name: str) -> str:
    etag = client.get_state(store, name).etag
    assert etag, f"no etag for {name}"
    return etag


def test_save_get_delete_round_trip(client: DaprClient, store: str) -> None:
    name = key("crud")
    client.save_state(store, name, b"\x00binary\xffvalue")
    got = client.get_state(store, name)
    assert got.data == b"\x00binary\xffvalue"
    assert got.etag
    client.delete_state(store, name)
    gone = client.get_state(store, name)
    assert (gone.data, gone.etag) == (b"", "")


def test_get_missing_key_is_empty_not_an_error(client: DaprClient, store: str) -> None:
    got = client.get_state(store, key("missing"))
    assert (got.data, got.etag) == (b"", "")


def test_string_value_is_stored_as_its_utf8_bytes(client: DaprClient, store: str) -> None:
    name = key("text")
    client.save_state(store, name, "grüße")
    assert client.get_state(store, name).data == "grüße".encode()


def test_etag_changes_on_every_write(client: DaprClient, store: str) -> None:
    name = key("etag")
    client.save_state(store, name, "1")
    first = _etag(client, store, name)
    client.save_state(store, name, "2")
    assert _etag(client, store, name) != first


def test_bulk_get_keeps_order_and_reports_missing_keys_empty(client: DaprClient,
                                                             store: str) -> None:
    first, second, missing = key("bulk-a"), key("bulk-b"), key("bulk-none")
    client.save_bulk_state(store, [StateItem(first, "A"), StateItem(second, "B")])
    items = client.get_bulk_state(store, [first, missing, second]).items
    assert [(i.key, i.data) for i in items] == [(first, b"A"), (missing, b""), (second, b"B")]
    assert items[0].etag and items[2].etag and not items[1].etag


def test_save_with_current_etag_succeeds(client: DaprClient, store: str) -> None:
    name = key("etag-ok")
    client.save_state(store, name, "v1")
    client.save_state(store, name, "v2", etag=_etag(client, store, name))
    assert client.get_state(store, name).data == b"v2"


def test_save_with_stale_etag_is_aborted_and_changes_nothing(client: DaprClient,
                                                             store: str) -> None:
    name = key("etag-stale")
    client.save_state(store, name, "v1")
    stale = _etag(client, store, name)
    client.save_state(store, name, "v2")
    with grpc_error(grpc.StatusCode.ABORTED, "UNKNOWN"):
        client.save_state(store, name, "v3", etag=stale)
    assert client.get_state(store, name).data == b"v2"


def test_delete_with_stale_etag_is_aborted(client: DaprClient, store: str) -> None:
    name = key("del-stale")
    client.save_state(store, name, "v1")
    stale = _etag(client, store, name)
    client.save_state(store, name, "v2")
    with grpc_error(grpc.StatusCode.ABORTED, "UNKNOWN"):
        client.delete_state(store, name, etag=stale)
    client.delete_state(store, name, etag=_etag(client, store, name))
    assert client.get_state(store, name).data == b""


def test_etag_the_store_cannot_have_made_is_invalid_argument(client: DaprClient,
                                                             store: str) -> None:
    name = key("etag-bad")
    client.save_state(store, name, "v1")
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN"):
        client.save_state(store, name, "v2", etag="not-a-version")
    assert client.get_state(store, name).data == b"v1"


def test_first_write_creates_once_then_is_aborted(client: DaprClient, store: str) -> None:
    name = key("first")
    client.save_state(store, name, "mine", options=FIRST_WRITE)
    with grpc_error(grpc.StatusCode.ABORTED, "UNKNOWN"):
        client.save_state(store, name, "yours", options=FIRST_WRITE)
    assert client.get_state(store, name).data == b"mine"
    # With the current etag, first-write lets the owner update.
    client.save_state(store, name, "mine v2", etag=_etag(client, store, name),
                      options=FIRST_WRITE)
    assert client.get_state(store, name).data == b"mine v2"


def test_ttl_reports_expiry_time_then_expires(client: DaprClient,
                                              stub: api_service_v1.DaprStub, store: str,
                                              redis_client: redis.Redis) -> None:
    name = key("ttl")
    client.save_state(store, name, "short-lived", state_metadata={"ttlInSeconds": "1"})
    got = stub.GetState(api_v1.GetStateRequest(store_name=store, key=name))
    assert got.data == b"short-lived"
    assert got.metadata["ttlExpireTime"].endswith("Z")
    if store == REDIS_STORE and not EXTERNAL_GRPC:
        assert 0 < redis_client.ttl(f"{APP_ID}||{name}") <= 1
    deadline = time.monotonic() + 5
    while client.get_state(store, name).data and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get_state(store, name).data == b""


def test_bad_ttl_is_internal(client: DaprClient, store: str) -> None:
    with grpc_error(grpc.StatusCode.INTERNAL, "UNKNOWN"):
        client.save_state(store, key("ttl-bad"), "v", state_metadata={"ttlInSeconds": "soon"})


def test_transaction_applies_every_operation(client: DaprClient, store: str) -> None:
    kept, added, dropped = key("tx-kept"), key("tx-added"), key("tx-dropped")
    client.save_bulk_state(store, [StateItem(kept, "old"), StateItem(dropped, "bye")])
    client.execute_state_transaction(store, [
        TransactionalStateOperation(kept, "new", etag=_etag(client, store, kept)),
        TransactionalStateOperation(added, "hello"),
        TransactionalStateOperation(dropped, operation_type=TransactionOperationType.delete),
    ])
    items = client.get_bulk_state(store, [kept, added, dropped]).items
    assert [i.data for i in items] == [b"new", b"hello", b""]
    assert items[2].etag == "", "the deleted key must be gone, not saved empty"


def test_transaction_with_stale_etag_changes_nothing(client: DaprClient, store: str) -> None:
    first, second = key("tx-a"), key("tx-b")
    client.save_bulk_state(store, [StateItem(first, "a1"), StateItem(second, "b1")])
    stale = _etag(client, store, second)
    client.save_state(store, second, "b2")
    with pytest.raises(grpc.RpcError) as info:
        client.execute_state_transaction(store, [
            TransactionalStateOperation(first, "a2"),
            TransactionalStateOperation(second, "b3", etag=stale),
        ])
    # daprd answers INTERNAL for any failed transaction; this runtime keeps the etag
    # conflict's ABORTED. The error code is ERR_STATE_TRANSACTION either way.
    assert info.value.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL)
    assert info.value.error_code() == "UNKNOWN"
    items = client.get_bulk_state(store, [first, second]).items
    assert [i.data for i in items] == [b"a1", b"b2"]


def test_transaction_operation_other_than_upsert_or_delete_is_unimplemented(
        stub: api_service_v1.DaprStub, store: str) -> None:
    request = api_v1.ExecuteStateTransactionRequest(storeName=store, operations=[
        api_v1.TransactionalStateOperation(
            operationType="merge", request=common_v1.StateItem(key=key("tx-merge"))),
    ])
    with pytest.raises(grpc.RpcError) as info:
        stub.ExecuteStateTransaction(request)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "merge" in info.value.details()


def test_delete_bulk_state_removes_every_key(client: DaprClient,
                                             stub: api_service_v1.DaprStub, store: str) -> None:
    names = [key("bulk-del") for _ in range(3)]
    client.save_bulk_state(store, [StateItem(name, "x") for name in names])
    stub.DeleteBulkState(api_v1.DeleteBulkStateRequest(
        store_name=store, states=[common_v1.StateItem(key=name) for name in names[:2]]))
    items = client.get_bulk_state(store, names).items
    assert [(bool(i.data), bool(i.etag)) for i in items] == [(False, False)] * 2 + [(True, True)]


def test_json_content_type_needs_a_json_value(client: DaprClient, store: str) -> None:
    name, as_json = key("json"), {"contentType": "application/json"}
    client.save_state(store, name, '{"hits": 3}', state_metadata=as_json)
    assert client.get_state(store, name).data == b'{"hits": 3}'
    # daprd fails to decode such a value with an untyped error; this runtime names the key.
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN") as info:
        client.save_state(store, name, "{not json", state_metadata=as_json)
    assert name in info.value.details()
    assert client.get_state(store, name).data == b'{"hits": 3}'


def test_empty_key_is_invalid_argument(client: DaprClient, store: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.save_state(store, "", "value")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("call", ["get", "save", "delete", "bulk", "transaction"])
def test_unknown_store_is_invalid_argument(client: DaprClient, call: str) -> None:
    actions = {
        "get": lambda: client.get_state("no-such-store", "k"),
        "save": lambda: client.save_state("no-such-store", "k", "v"),
        "delete": lambda: client.delete_state("no-such-store", "k"),
        "bulk": lambda: client.get_bulk_state("no-such-store", ["k"]),
        "transaction": lambda: client.execute_state_transaction(
            "no-such-store", [TransactionalStateOperation("k", "v")]),
    }
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "DAPR_STATE_NOT_FOUND") as info:
        actions[call]()
    assert "no-such-store" in info.value.details()


def test_redis_items_use_daprs_key_scheme_and_hash_layout(client: DaprClient,
                                                          redis_client: redis.Redis) -> None:
    """What the SDK saved through our runtime is where a real daprd would look for it."""
    name = key("layout")
    client.save_state(REDIS_STORE, name, b"raw-bytes")
    stored = redis_client.hgetall(f"{APP_ID}||{name}")
    assert stored[b"data"] == b"raw-bytes"
    assert stored[b"version"] == client.get_state(REDIS_STORE, name).etag.encode()

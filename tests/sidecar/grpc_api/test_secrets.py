"""Secrets over gRPC through the dapr SDK, from a secretstores.local.file store."""

from __future__ import annotations

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError

from tests.conftest import MYSQL_DSN

from .helpers import SECRET_STORE, grpc_error


def test_get_secret_by_nested_name(client: DaprClient) -> None:
    assert client.get_secret(SECRET_STORE, "DB_URL:MYSQL").secret == {"DB_URL:MYSQL": MYSQL_DSN}


def test_get_plain_secret(client: DaprClient) -> None:
    assert client.get_secret(SECRET_STORE, "greeting").secret == {"greeting": "hello"}


def test_bulk_secret_returns_every_secret_under_its_name(client: DaprClient) -> None:
    assert client.get_bulk_secret(SECRET_STORE).secrets == {
        "DB_URL:MYSQL": {"DB_URL:MYSQL": MYSQL_DSN},
        "greeting": {"greeting": "hello"},
    }


def test_missing_secret_is_a_secret_get_error(client: DaprClient) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.get_secret(SECRET_STORE, "no-such-secret")
    err = DaprGrpcError(info.value)
    # daprd answers INTERNAL with an ErrorInfo whose reason is empty: the SDK says UNKNOWN.
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.error_code() == "UNKNOWN"
    assert "no-such-secret" in err.details()


def test_unknown_secret_store_is_invalid_argument(client: DaprClient) -> None:
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN") as info:
        client.get_secret("no-such-store", "greeting")
    assert "no-such-store" in info.value.details()
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN"):
        client.get_bulk_secret("no-such-store")

"""Service invocation over gRPC InvokeService (DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc) to a
tiny HTTP app behind the runtime."""

from __future__ import annotations

import json

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError

from .conftest import Target
from .helpers import APP_ID, grpc_error

# The SDK deprecates gRPC invocation and its metadata argument; both are what is under test.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invoke_method with protocol gRPC:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:metadata argument is deprecated:DeprecationWarning"),
]


def test_request_reaches_the_app_with_verb_query_body_and_content_type(
        grpc_invoke_client: DaprClient, target: Target) -> None:
    reply = grpc_invoke_client.invoke_method(
        APP_ID, "echo", b"payload bytes", content_type="text/plain", http_verb="PUT",
        http_querystring=(("size", "10"), ("tag", "a b")))
    seen = json.loads(reply.data)
    assert (seen["method"], seen["path"], seen["body"]) == ("PUT", "/echo", "payload bytes")
    assert seen["query"] == "size=10&tag=a+b"
    assert seen["content_type"] == "text/plain"
    assert reply.content_type == "application/json"


def test_app_headers_and_status_come_back_as_grpc_metadata(
        grpc_invoke_client: DaprClient) -> None:
    reply = grpc_invoke_client.invoke_method(APP_ID, "echo", b"", http_verb="GET")
    assert reply.headers["dapr-http-status"] == ["200"]
    assert reply.headers["x-echo"] == ["yes"]
    # Content-Type is an IANA permanent header, which daprd prefixes with "dapr-".
    assert reply.headers["dapr-content-type"] == ["application/json"]


def test_caller_metadata_is_forwarded_as_headers(grpc_invoke_client: DaprClient,
                                                 target: Target) -> None:
    grpc_invoke_client.invoke_method(APP_ID, "echo", b"", http_verb="POST",
                                     metadata=(("x-request-tag", "abc123"),))
    assert target.app.requests[-1]["headers"]["x-request-tag"] == "abc123"


@pytest.mark.parametrize(("status", "code"), [
    (404, grpc.StatusCode.NOT_FOUND),
    (500, grpc.StatusCode.UNKNOWN),
    (503, grpc.StatusCode.UNAVAILABLE),
    (400, grpc.StatusCode.INTERNAL),
])
def test_app_error_status_maps_like_daprd(grpc_invoke_client: DaprClient, status: int,
                                          code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.RpcError) as info:
        grpc_invoke_client.invoke_method(APP_ID, f"status/{status}", b"", http_verb="GET")
    err = DaprGrpcError(info.value)
    assert err.code() == code
    details = err.status_details().error_info
    assert details["domain"] == "dapr.io"
    assert details["metadata"] == {"http.code": str(status), "http.error_message": "app said no"}


def test_missing_http_verb_is_invalid_argument(grpc_invoke_client: DaprClient) -> None:
    with grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN") as info:
        grpc_invoke_client.invoke_method(APP_ID, "echo", b"")
    assert "http_verb" in info.value.details()


def test_unknown_app_id_is_a_direct_invoke_error(grpc_invoke_client: DaprClient) -> None:
    with grpc_error(grpc.StatusCode.INTERNAL, "UNKNOWN") as info:
        grpc_invoke_client.invoke_method("no-such-app", "echo", b"", http_verb="GET")
    assert "no-such-app" in info.value.details()

"""The gRPC front end on its own: ``serve()`` in this process over a stand-in ``Runtime``, for
what a real runtime cannot be made to do on demand (a bug inside a building block)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto import api_service_v1, api_v1, common_v1

from sidecar.errors import StateGetError, StateKeyIllegal
from sidecar.grpc_api import serve
from sidecar.invoke.messages import AppRequest, AppResponse
from sidecar.settings import Settings
from sidecar.testing import free_port


class StandInRuntime:
    """Answers GetState by raising whatever ``failure`` is; InvokeService with ``reply``."""

    def __init__(self) -> None:
        self.failure: Exception = RuntimeError("bug in a component")
        self.reply = AppResponse(status=200)
        self.invoked: list[tuple[str, str, AppRequest]] = []
        self.settings = Settings()

    def get_state(self, store: str, key: str, metadata: dict[str, str]) -> Any:
        raise self.failure

    def invoke_app(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        self.invoked.append((app_id, method, request))
        return self.reply


@pytest.fixture()
def runtime() -> StandInRuntime:
    return StandInRuntime()


@pytest.fixture()
def stub(runtime: StandInRuntime) -> Iterator[api_service_v1.DaprStub]:
    port = free_port()
    server = serve(runtime, "127.0.0.1", port)  # type: ignore[arg-type]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield api_service_v1.DaprStub(channel)
    finally:
        server.stop(None)


def _get(stub: api_service_v1.DaprStub) -> DaprGrpcError:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetState(api_v1.GetStateRequest(store_name="s", key="k"))
    return DaprGrpcError(info.value)


def test_unexpected_exception_is_internal_with_a_message_and_server_keeps_serving(
        stub: api_service_v1.DaprStub, runtime: StandInRuntime) -> None:
    for _ in range(2):
        err = _get(stub)
        assert err.code() == grpc.StatusCode.INTERNAL
        assert err.error_code() == "UNKNOWN"  # a plain status: daprd sends no details
        assert "bug in a component" in err.details()


def test_plain_dapr_error_carries_status_and_message_only(stub: api_service_v1.DaprStub,
                                                          runtime: StandInRuntime) -> None:
    # daprd's ERR_STATE_GET is a pkg/messages APIError: a plain status, no ErrorInfo.
    runtime.failure = StateGetError("fail to get k from state store s: redis is down")
    err = _get(stub)
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "fail to get k from state store s: redis is down"
    assert err.status_details().error_info is None
    assert err.error_code() == "UNKNOWN"


def test_rich_dapr_error_carries_error_info_resource_and_field(
        stub: api_service_v1.DaprStub, runtime: StandInRuntime) -> None:
    runtime.failure = StateKeyIllegal("s", "a||b")
    err = _get(stub)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.error_code() == "DAPR_STATE_ILLEGAL_KEY"
    details = err.status_details()
    assert details.error_info is not None and details.error_info["domain"] == "dapr.io"
    assert details.resource_info is not None
    assert details.resource_info["resource_type"] == "state"
    assert details.resource_info["resource_name"] == "s"
    assert details.bad_request == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "field_violations": [{"field": "a||b",
                             "description": "input key/keyPrefix 'a||b' can't contain '||'"}]}


def test_app_headers_that_grpc_metadata_cannot_carry_are_dropped(
        stub: api_service_v1.DaprStub, runtime: StandInRuntime) -> None:
    runtime.reply = AppResponse(status=201, body=b"made", content_type="text/plain", headers={
        "X-Fine": "ok", "X-Accented": "café", "Grpc-Status": "0", "X-Bytes-Bin": "AAEC",
        "Date": "Tue, 24 Nov 2026 15:00:00 GMT"})
    request = api_v1.InvokeServiceRequest(id="app", message=common_v1.InvokeRequest(
        method="make", http_extension=common_v1.HTTPExtension(verb=common_v1.HTTPExtension.POST)))
    reply, call = stub.InvokeService.with_call(request)
    assert reply.data.value == b"made" and reply.content_type == "text/plain"
    headers = dict(call.initial_metadata())
    assert headers["x-fine"] == "ok" and headers["dapr-http-status"] == "201"
    assert headers["dapr-date"] == "Tue, 24 Nov 2026 15:00:00 GMT"
    assert not {"x-accented", "grpc-status", "x-bytes-bin"} & set(headers)
    assert runtime.invoked[0][:2] == ("app", "make")
    assert runtime.invoked[0][2].http_verb == "POST"


def test_connect_verb_is_refused_before_reaching_the_app(
        stub: api_service_v1.DaprStub, runtime: StandInRuntime) -> None:
    request = api_v1.InvokeServiceRequest(id="app", message=common_v1.InvokeRequest(
        method="m", http_extension=common_v1.HTTPExtension(verb=common_v1.HTTPExtension.CONNECT)))
    with pytest.raises(grpc.RpcError) as info:
        stub.InvokeService(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "CONNECT" in info.value.details()
    assert runtime.invoked == []


def test_serving_on_a_port_in_use_is_an_os_error(runtime: StandInRuntime) -> None:
    port = free_port()
    first = serve(runtime, "127.0.0.1", port)  # type: ignore[arg-type]
    try:
        with pytest.raises(OSError, match=str(port)):
            serve(runtime, "127.0.0.1", port)  # type: ignore[arg-type]
    finally:
        first.stop(None)

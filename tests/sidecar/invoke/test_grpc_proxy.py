"""gRPC proxying: the app's own gRPC service (``test.Echo`` in ``grpc_app.py``, raw bytes)
called on a runtime's gRPC port with ``dapr-app-id`` metadata, as the dapr SDK's
``examples/grpc_proxying`` does: on the app's own runtime and through a second one."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sidecar.testing import Sidecar

from .conftest import GrpcStack


@pytest.fixture(params=["own runtime", "two runtimes"])
def entry(request: pytest.FixtureRequest, grpc_stack: GrpcStack) -> Iterator[Sidecar]:
    yield grpc_stack.app if request.param == "own runtime" else grpc_stack.caller


def _channel(sidecar: Sidecar) -> grpc.Channel:
    return grpc.insecure_channel(sidecar.grpc_address)


def test_unary_call_with_metadata_and_trailers(grpc_stack: GrpcStack, entry: Sidecar) -> None:
    with _channel(entry) as channel:
        reply, call = channel.unary_unary("/test.Echo/Unary").with_call(
            b"ping", metadata=[("dapr-app-id", grpc_stack.app.app_id), ("x-mine", "1")],
            timeout=10)
    assert reply == b"echo:ping"
    assert ("x-echo", "initial") in list(call.initial_metadata())
    assert ("x-trailer", "done") in list(call.trailing_metadata())
    seen = grpc_stack.wait_for("proxy")[-1]["metadata"]
    assert seen["x-mine"] == "1" and seen["dapr-app-id"] == grpc_stack.app.app_id
    assert seen["dapr-caller-app-id"] == entry.app_id
    assert seen["dapr-callee-app-id"] == grpc_stack.app.app_id
    assert "dapr-local-forward" not in seen


def test_server_streaming_call(grpc_stack: GrpcStack, entry: Sidecar) -> None:
    with _channel(entry) as channel:
        replies = list(channel.unary_stream("/test.Echo/Stream")(
            b"abc", metadata=[("dapr-app-id", grpc_stack.app.app_id)], timeout=10))
    assert replies == [b"a", b"b", b"c"]


def test_app_status_and_error_details_come_back(grpc_stack: GrpcStack, entry: Sidecar) -> None:
    with _channel(entry) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/test.Echo/Fail")(
            b"x", metadata=[("dapr-app-id", grpc_stack.app.app_id)], timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.message == "no such echo"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "ECHO_MISSING"


def test_missing_app_id_fails_as_daprd(grpc_stack: GrpcStack) -> None:
    with _channel(grpc_stack.app) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert caught.value.details() == ("failed to proxy request: required metadata "
                                      "dapr-app-id not found")


def test_unknown_app_id_and_no_app_port(grpc_stack: GrpcStack) -> None:
    with _channel(grpc_stack.app) as channel, pytest.raises(grpc.RpcError) as unknown:
        channel.unary_unary("/test.Echo/Unary")(
            b"x", metadata=[("dapr-app-id", "nobody")], timeout=10)
    assert unknown.value.code() == grpc.StatusCode.UNKNOWN
    assert "couldn't find service: nobody" in (unknown.value.details() or "")
    with _channel(grpc_stack.caller) as channel, pytest.raises(grpc.RpcError) as no_app:
        channel.unary_unary("/test.Echo/Unary")(
            b"x", metadata=[("dapr-app-id", grpc_stack.caller.app_id)], timeout=10)
    assert "app channel is not initialized" in (no_app.value.details() or "")


def test_dapr_api_is_not_proxied(grpc_stack: GrpcStack) -> None:
    with _channel(grpc_stack.app) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/dapr.proto.runtime.v1.Dapr/NoSuchRpc")(
            b"", metadata=[("dapr-app-id", grpc_stack.app.app_id)], timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED

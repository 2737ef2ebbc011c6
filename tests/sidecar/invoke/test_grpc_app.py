"""``--app-protocol grpc``: an unmodified ``dapr.ext.grpc.App`` (``grpc_app.py``) behind our
runtime, reached by the dapr SDK the way its examples do (``examples/invoke-simple``,
``examples/pubsub-simple``, ``examples/grpc_proxying``)."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.conf import settings as sdk_settings

from sidecar.invoke.grpc_channel import GrpcAppChannel
from sidecar.settings import Settings
from sidecar.testing import Sidecar, free_port

from .conftest import GrpcStack


@contextmanager
def _client(sidecar: Sidecar, protocol: str = "grpc") -> Iterator[DaprClient]:
    """A DaprClient on ``sidecar`` invoking over ``protocol`` (the SDK's default is http)."""
    saved = dict(vars(sdk_settings))
    setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", sidecar.http_url)  # noqa: B010
    setattr(sdk_settings, "DAPR_API_METHOD_INVOCATION_PROTOCOL", protocol)  # noqa: B010
    try:
        with DaprClient(address=sidecar.grpc_address) as client:
            yield client
    finally:
        vars(sdk_settings).clear()
        vars(sdk_settings).update(saved)


@pytest.fixture(autouse=True)
def _no_deprecation_noise() -> Iterator[None]:
    with warnings.catch_warnings():
        # The SDK warns that gRPC invoke_method is deprecated; it is what its examples use.
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_invoke_method_through_two_runtimes(grpc_stack: GrpcStack, protocol: str) -> None:
    with _client(grpc_stack.caller, protocol) as client:
        response = client.invoke_method(grpc_stack.app.app_id, "my-method",
                                        data=json.dumps({"id": 1, "message": "hello world"}),
                                        content_type="application/json")
    # What examples/invoke-simple's README expects from the caller (aiohttp, under the
    # SDK's HTTP client, reports the content type without its parameters).
    assert response.text() == "INVOKE_RECEIVED"
    assert response.content_type == ("text/plain; charset=UTF-8" if protocol == "grpc"
                                     else "text/plain")
    seen = grpc_stack.wait_for("invoke")[-1]
    assert json.loads(seen["text"]) == {"id": 1, "message": "hello world"}
    assert seen["metadata"]["dapr-caller-app-id"] == grpc_stack.caller.app_id
    assert seen["metadata"]["dapr-callee-app-id"] == grpc_stack.app.app_id
    assert "dapr-api-token" not in seen["metadata"]


def test_invoke_method_on_the_own_runtime_carries_content_type_and_headers(
        grpc_stack: GrpcStack) -> None:
    with _client(grpc_stack.app) as client:
        response = client.invoke_method(grpc_stack.app.app_id, "echo", data="hi",
                                        content_type="text/plain",
                                        metadata=(("x-custom", "v"),))  # gRPC: deprecated
    body = json.loads(response.data)
    assert body["data"] == "hi" and body["content_type"] == "text/plain"
    assert body["metadata"]["x-custom"] == "v"
    assert body["metadata"]["dapr-caller-app-id"] == grpc_stack.app.app_id
    assert ("x-from-app", "yes") in list(response.headers.items()) or \
        response.headers.get("x-from-app") == ["yes"]


def test_http_callers_get_the_reply_and_the_app_headers(grpc_stack: GrpcStack) -> None:
    for sidecar in (grpc_stack.app, grpc_stack.caller):
        reply = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{grpc_stack.app.app_id}"
                           "/method/echo?a=1", content=b"payload",
                           headers={"content-type": "application/octet-stream",
                                    "x-custom": "v"}, timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-from-app"] == "yes"
        assert reply.headers["content-type"] == "application/json"
        body = reply.json()
        assert body["data"] == "payload"
        assert body["content_type"] == "application/octet-stream"
        assert body["metadata"]["x-custom"] == "v"
    reply = httpx.post(f"{grpc_stack.app.http_url}/v1.0/invoke/{grpc_stack.app.app_id}"
                       "/method/my-method", content=b"{}", timeout=10)
    assert reply.headers["content-type"] == "text/plain; charset=UTF-8"
    assert reply.text == "INVOKE_RECEIVED"


def test_app_errors_keep_their_grpc_status(grpc_stack: GrpcStack) -> None:
    for sidecar in (grpc_stack.app, grpc_stack.caller):
        # The SDK's gRPC invoke_method raises grpc's own error, not DaprGrpcError.
        with _client(sidecar) as client, pytest.raises(grpc.RpcError) as caught:
            client.invoke_method(grpc_stack.app.app_id, "fail", data="x")
        assert caught.value.code() == grpc.StatusCode.UNKNOWN
        assert "the app failed on purpose" in (caught.value.details() or "")
        with _client(sidecar) as client, pytest.raises(grpc.RpcError) as missing:
            client.invoke_method(grpc_stack.app.app_id, "no-such-method", data="x")
        assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_http_callers_get_daprds_status_mapping_and_json_body(grpc_stack: GrpcStack) -> None:
    for sidecar in (grpc_stack.app, grpc_stack.caller):
        base = f"{sidecar.http_url}/v1.0/invoke/{grpc_stack.app.app_id}/method"
        failed = httpx.post(f"{base}/fail", content=b"x", timeout=10)
        assert failed.status_code == 500
        assert failed.json()["code"] == grpc.StatusCode.UNKNOWN.value[0]
        assert "the app failed on purpose" in failed.json()["message"]
        missing = httpx.post(f"{base}/nope", content=b"x", timeout=10)
        assert missing.status_code == 501
        assert missing.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]
        assert missing.json()["details"] == []


def test_cron_events_reach_the_binding_handler(grpc_stack: GrpcStack) -> None:
    events = grpc_stack.wait_for("binding", 2, timeout=10)
    assert all(isinstance(e["metadata"], dict) for e in events)


def test_subscriptions_come_from_list_topic_subscriptions(grpc_stack: GrpcStack) -> None:
    deadline = time.monotonic() + 15
    topics: set[str] = set()
    while time.monotonic() < deadline and len(topics) < 4:
        metadata = httpx.get(f"{grpc_stack.app.http_url}/v1.0/metadata", timeout=10).json()
        topics = {s["topic"] for s in metadata.get("subscriptions", [])}
        time.sleep(0.1)
    assert topics == {"orders", "retry", "drop", "dead"}
    assert metadata["appConnectionProperties"]["protocol"] == "grpc"


def _published(grpc_stack: GrpcStack, topic: str, data: dict[str, object]) -> None:
    test_subscriptions_come_from_list_topic_subscriptions(grpc_stack)
    with _client(grpc_stack.app) as client:
        client.publish_event("pubsub", topic, json.dumps(data),
                             data_content_type="application/json")


def test_published_events_reach_the_subscribe_handler(grpc_stack: GrpcStack) -> None:
    _published(grpc_stack, "orders", {"orderId": 7})
    event = grpc_stack.wait_for("orders")[-1]
    assert event["data"] == {"orderId": 7}
    assert event["topic"] == "orders" and event["content_type"] == "application/json"
    assert event["source"] == grpc_stack.app.app_id


def test_retry_status_redelivers(grpc_stack: GrpcStack) -> None:
    _published(grpc_stack, "retry", {"n": 1})
    attempts = grpc_stack.wait_for("retry", 2)
    assert [a["first"] for a in attempts[:2]] == [True, False]
    assert attempts[0]["id"] == attempts[1]["id"]


def test_drop_status_dead_letters(grpc_stack: GrpcStack) -> None:
    _published(grpc_stack, "drop", {"n": 2})
    dropped = grpc_stack.wait_for("drop")[0]
    assert grpc_stack.wait_for("dead")[0]["id"] == dropped["id"]
    time.sleep(0.5)
    assert len(grpc_stack.records("drop")) == 1  # acked, never redelivered


def test_health_check(grpc_stack: GrpcStack) -> None:
    channel = GrpcAppChannel(Settings(app_id="x", app_port=grpc_stack.app_port), timeout=5)
    nothing = GrpcAppChannel(Settings(app_id="x", app_port=free_port()), timeout=1)
    try:
        assert channel.health() is True
        assert nothing.health() is False
    finally:
        channel.close()
        nothing.close()


def test_no_app_port_means_no_app_channel(grpc_stack: GrpcStack) -> None:
    with _client(grpc_stack.caller) as client, pytest.raises(grpc.RpcError) as caught:
        client.invoke_method(grpc_stack.caller.app_id, "my-method", data="x")
    assert "app channel is not initialized" in (caught.value.details() or "")
    reply = httpx.post(f"{grpc_stack.caller.http_url}/v1.0/invoke/{grpc_stack.caller.app_id}"
                       "/method/x", timeout=10)
    assert reply.status_code == 500 and reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"

"""Publishing through the unmodified dapr SDK (gRPC ``publish_event`` / ``publish_events``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import BulkPublishEntry
from dapr.conf import settings as sdk_settings
from dapr.proto import api_service_v1, api_v1

from .conftest import PUBSUB, SCOPED, Stack


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[DaprClient]:
    with sdk_client(stack.sidecar.http_url, stack.sidecar.grpc_port) as dapr:
        yield dapr


@contextmanager
def sdk_client(http_url: str, grpc_port: int) -> Iterator[DaprClient]:
    """A DaprClient on this runtime; its constructor waits on the HTTP health endpoint."""
    saved = dict(vars(sdk_settings))
    setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", http_url)  # noqa: B010
    try:
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as dapr:
            yield dapr
    finally:
        vars(sdk_settings).clear()
        vars(sdk_settings).update(saved)


def test_publish_event_round_trip(stack: Stack, client: DaprClient) -> None:
    client.publish_event(PUBSUB, "grpc", json.dumps({"via": "grpc"}),
                         data_content_type="application/json",
                         publish_metadata={"cloudevent.id": "grpc-1"})
    got = [d.body for d in stack.app.wait_for("/grpc")]
    assert got[0]["id"] == "grpc-1" and got[0]["data"] == {"via": "grpc"}
    assert got[0]["source"] == stack.sidecar.app_id


def test_publish_events_bulk(stack: Stack, client: DaprClient) -> None:
    response = client.publish_events(PUBSUB, "grpc/bulk", [
        BulkPublishEntry("one", content_type="text/plain", entry_id="e1"),
        BulkPublishEntry('{"two": 2}', content_type="application/json", entry_id="e2")])
    assert response.failed_entries == []
    datas = [d.body.get("data") for d in stack.app.wait_for("/grpc-bulk", 2)]
    assert sorted(map(str, datas)) == sorted(["one", str({"two": 2})])


@pytest.mark.parametrize(("pubsub", "topic", "metadata", "status", "code"), [
    ("nope", "t", {}, grpc.StatusCode.INVALID_ARGUMENT, "DAPR_PUBSUB_NOT_FOUND"),
    ("", "t", {}, grpc.StatusCode.INVALID_ARGUMENT, "DAPR_PUBSUB_NAME_EMPTY"),
    (PUBSUB, "", {}, grpc.StatusCode.INVALID_ARGUMENT, "DAPR_PUBSUB_TOPIC_NAME_EMPTY"),
    (PUBSUB, "t", {"rawPayload": "maybe"}, grpc.StatusCode.INVALID_ARGUMENT,
     "DAPR_PUBSUB_METADATA_DESERIALIZATION"),
    (SCOPED, "open", {}, grpc.StatusCode.PERMISSION_DENIED, "DAPR_PUBSUB_FORBIDDEN"),
])
def test_publish_errors(client: DaprClient, pubsub: str, topic: str, metadata: dict[str, str],
                        status: grpc.StatusCode, code: str) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.publish_event(pubsub, topic, b"x", publish_metadata=metadata)
    assert info.value.code() == status
    assert info.value.error_code() == code


def test_cloudevent_serialisation_error(client: DaprClient) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.publish_event(PUBSUB, "t", b"{not json",
                             data_content_type="application/cloudevents+json")
    assert info.value.error_code() == "DAPR_PUBSUB_CLOUD_EVENT_CREATION"


def test_bulk_errors(client: DaprClient) -> None:
    with pytest.raises(DaprGrpcError) as info:
        client.publish_events(SCOPED, "open", ["x"])
    assert info.value.error_code() == "DAPR_PUBSUB_FORBIDDEN"
    entry = BulkPublishEntry("x", entry_id="same")
    with pytest.raises(DaprGrpcError) as info:
        client.publish_events(PUBSUB, "orders", [entry, BulkPublishEntry("y", entry_id="same")])
    assert info.value.error_code() == "DAPR_PUBSUB_UNMARSHAL_EVENTS"


def test_get_metadata_lists_subscriptions(stack: Stack) -> None:
    # The SDK's get_metadata() drops subscriptions; the bare stub shows them.
    with grpc.insecure_channel(f"127.0.0.1:{stack.sidecar.grpc_port}") as channel:
        reply = api_service_v1.DaprStub(channel).GetMetadata(api_v1.GetMetadataRequest())
    subs = {(s.pubsub_name, s.topic): s for s in reply.subscriptions}
    orders = subs[(PUBSUB, "orders")]
    assert orders.type == api_v1.PubsubSubscriptionType.Value("PROGRAMMATIC")
    assert [(r.match, r.path) for r in orders.rules.rules] == [("", "/orders")]
    assert subs[(PUBSUB, "declared-v1")].type == api_v1.PubsubSubscriptionType.Value(
        "DECLARATIVE")
    assert subs[(PUBSUB, "drop")].dead_letter_topic == "dead"

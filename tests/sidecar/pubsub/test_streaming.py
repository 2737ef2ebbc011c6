"""Streaming subscriptions (``SubscribeTopicEventsAlpha1``) through the unmodified dapr SDK:
``DaprClient.subscribe`` / ``subscribe_with_handler`` against one real runtime with
``pubsub.in-memory`` and ``pubsub.redis`` (the real Redis; topics unique per run, deleted at the
end), publishing from a second client.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._response import TopicEventResponse
from dapr.clients.grpc.subscription import Subscription
from dapr.common.pubsub.subscription import SubscriptionMessage
from dapr.proto import api_service_v1, api_v1

from sidecar.settings import MAX_STREAMING_SUBSCRIPTIONS
from sidecar.testing import Sidecar, run_sidecar
from tests.conftest import REDIS_URL
from tests.sidecar.helpers import component_doc, unique_id, write_components

from .test_grpc import sdk_client

MEMORY = "stream-memory"
REDIS = "stream-redis"
_RUN = uuid.uuid4().hex[:8]
_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
_TOPICS: list[str] = []
_WAIT = 10.0
STREAMING = api_v1.PubsubSubscriptionType.Value("STREAMING")


def _topic(name: str) -> str:
    """A topic (a Redis stream) no other run uses; deleted after the module."""
    topic = f"stream-test-{name}-{_RUN}"
    _TOPICS.append(topic)
    return topic


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory,
            redis_client: redis.Redis) -> Iterator[Sidecar]:
    folder = write_components(
        Path(tmp_path_factory.mktemp("streaming")),
        component_doc(MEMORY, "pubsub.in-memory"),
        component_doc(REDIS, "pubsub.redis", {
            "redisHost": _REDIS_HOST, "consumerID": f"stream-test-{_RUN}",
            "processingTimeout": "1s", "redeliverInterval": "300ms"}))
    try:
        with run_sidecar(unique_id("streaming"), [folder]) as running:
            yield running
    finally:
        if _TOPICS:
            redis_client.delete(*_TOPICS)


@pytest.fixture(scope="module")
def subscriber(sidecar: Sidecar) -> Iterator[DaprClient]:
    with sdk_client(sidecar.http_url, sidecar.grpc_port) as dapr:
        yield dapr


@pytest.fixture(scope="module")
def publisher(sidecar: Sidecar) -> Iterator[DaprClient]:
    with sdk_client(sidecar.http_url, sidecar.grpc_port) as dapr:
        yield dapr


@pytest.fixture(scope="module")
def stub(sidecar: Sidecar) -> Iterator[api_service_v1.DaprStub]:
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        yield api_service_v1.DaprStub(channel)


@pytest.fixture(params=[MEMORY, REDIS])
def pubsub(request: pytest.FixtureRequest) -> str:
    """Each broker in turn."""
    return str(request.param)


@pytest.fixture(scope="module")
def reader() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-reader") as pool:
        yield pool


def _next(reader: ThreadPoolExecutor, sub: Subscription,
          timeout: float = _WAIT) -> SubscriptionMessage:
    """The next message of ``sub``; fails after ``timeout`` (``next_message`` blocks)."""
    future = reader.submit(sub.next_message)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        sub.close()  # unblocks the reader thread
        raise AssertionError(f"no message within {timeout}s") from None


def _publish(client: DaprClient, pubsub: str, topic: str, data: Any) -> None:
    client.publish_event(pubsub, topic, json.dumps(data), data_content_type="application/json")


def _subscriptions(stub: api_service_v1.DaprStub) -> dict[tuple[str, str], Any]:
    reply = stub.GetMetadata(api_v1.GetMetadataRequest())
    return {(s.pubsub_name, s.topic): s for s in reply.subscriptions}


def _eventually(check: Callable[[], bool], timeout: float = _WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# -- delivery -------------------------------------------------------------------------------


def test_subscribe_delivers_the_cloudevent(subscriber: DaprClient, publisher: DaprClient,
                                           reader: ThreadPoolExecutor, pubsub: str,
                                           sidecar: Sidecar) -> None:
    topic = _topic("fields")
    sub = subscriber.subscribe(pubsub, topic)
    try:
        publisher.publish_event(pubsub, topic, json.dumps({"n": 1}),
                                data_content_type="application/json",
                                publish_metadata={"cloudevent.id": "fields-1"})
        message = _next(reader, sub)
        assert message.id() == "fields-1"
        assert message.data() == {"n": 1} and message.raw_data() == b'{"n":1}'
        assert message.topic() == topic and message.pubsub_name() == pubsub
        assert message.source() == sidecar.app_id and message.type() == "com.dapr.event.sent"
        assert message.spec_version() == "1.0"
        assert message.data_content_type() == "application/json"
        extensions = message.extensions()
        assert extensions["topic"] == topic and extensions["pubsubname"] == pubsub
        assert "time" in extensions and "traceparent" in extensions
        sub.respond_success(message)
    finally:
        sub.close()


def test_text_data_arrives_as_text(subscriber: DaprClient, publisher: DaprClient,
                                   reader: ThreadPoolExecutor) -> None:
    topic = _topic("text")
    sub = subscriber.subscribe(MEMORY, topic)
    try:
        publisher.publish_event(MEMORY, topic, "hello", data_content_type="text/plain")
        message = _next(reader, sub)
        assert message.data() == "hello" and message.raw_data() == b"hello"
        sub.respond_success(message)
    finally:
        sub.close()


def test_retry_is_redelivered(subscriber: DaprClient, publisher: DaprClient,
                              reader: ThreadPoolExecutor, pubsub: str) -> None:
    topic = _topic("retry")
    sub = subscriber.subscribe(pubsub, topic)
    try:
        _publish(publisher, pubsub, topic, {"try": "again"})
        first = _next(reader, sub)
        sub.respond_retry(first)
        again = _next(reader, sub)
        assert again.id() == first.id() and again.data() == {"try": "again"}
        sub.respond_success(again)
    finally:
        sub.close()


def test_success_is_acked_once(subscriber: DaprClient, publisher: DaprClient,
                               reader: ThreadPoolExecutor, redis_client: redis.Redis) -> None:
    topic = _topic("acked")
    sub = subscriber.subscribe(REDIS, topic)
    try:
        for n in range(3):
            _publish(publisher, REDIS, topic, {"n": n})
        got = []
        for _ in range(3):
            message = _next(reader, sub)
            got.append(message.data()["n"])
            sub.respond_success(message)
        assert sorted(got) == [0, 1, 2]
        _eventually(lambda: redis_client.xpending(topic, f"stream-test-{_RUN}")["pending"] == 0)
        with pytest.raises(AssertionError):  # nothing comes back after SUCCESS
            _next(reader, sub, timeout=2.0)
    finally:
        sub.close()


def test_drop_goes_to_the_dead_letter_topic(subscriber: DaprClient, publisher: DaprClient,
                                            reader: ThreadPoolExecutor, pubsub: str) -> None:
    topic, dead = _topic("drop"), _topic("drop-dead")
    dead_sub = subscriber.subscribe(pubsub, dead)
    sub = subscriber.subscribe(pubsub, topic, dead_letter_topic=dead)
    try:
        _publish(publisher, pubsub, topic, {"bad": True})
        message = _next(reader, sub)
        sub.respond_drop(message)
        dead_letter = _next(reader, dead_sub)
        assert dead_letter.id() == message.id() and dead_letter.data() == {"bad": True}
        assert dead_letter.topic() == dead
        dead_sub.respond_success(dead_letter)
    finally:
        sub.close()
        dead_sub.close()


def test_drop_without_dead_letter_topic_is_acked(subscriber: DaprClient,
                                                 publisher: DaprClient,
                                                 reader: ThreadPoolExecutor,
                                                 redis_client: redis.Redis) -> None:
    topic = _topic("drop-acked")
    sub = subscriber.subscribe(REDIS, topic)
    try:
        _publish(publisher, REDIS, topic, {"drop": "me"})
        sub.respond_drop(_next(reader, sub))
        _eventually(lambda: redis_client.xpending(topic, f"stream-test-{_RUN}")["pending"] == 0)
    finally:
        sub.close()


def test_disconnect_redelivers_to_a_new_stream(subscriber: DaprClient, publisher: DaprClient,
                                               reader: ThreadPoolExecutor) -> None:
    topic = _topic("disconnect")
    first = subscriber.subscribe(REDIS, topic)
    _publish(publisher, REDIS, topic, {"unanswered": 1})
    unanswered = _next(reader, first)
    first.close()  # gone mid-stream without answering
    second = subscriber.subscribe(REDIS, topic)
    try:
        again = _next(reader, second)
        assert again.id() == unanswered.id() and again.data() == {"unanswered": 1}
        second.respond_success(again)
    finally:
        second.close()


def test_subscribe_with_handler(subscriber: DaprClient, publisher: DaprClient,
                                pubsub: str) -> None:
    topic = _topic("handler")
    seen: queue.Queue[tuple[str, Any]] = queue.Queue()
    retried: set[str] = set()

    def handler(message: SubscriptionMessage) -> TopicEventResponse:
        seen.put((message.id(), message.data()))
        if message.data()["n"] == 1 and message.id() not in retried:
            retried.add(message.id())
            return TopicEventResponse("retry")
        return TopicEventResponse("success")

    close = subscriber.subscribe_with_handler(pubsub, topic, handler)
    try:
        for n in range(3):
            _publish(publisher, pubsub, topic, {"n": n})
        got = [seen.get(timeout=_WAIT) for _ in range(4)]
    finally:
        close()
    numbers = sorted(data["n"] for _, data in got)
    assert numbers == [0, 1, 1, 2]  # the retried one came back once


def test_two_streams_on_one_topic_each_get_messages(subscriber: DaprClient,
                                                    publisher: DaprClient,
                                                    reader: ThreadPoolExecutor) -> None:
    # daprd accepts a second stream for the same pubsub/topic (one broker subscription each);
    # pubsub.in-memory gives every subscription every message.
    topic = _topic("twice")
    one, two = subscriber.subscribe(MEMORY, topic), subscriber.subscribe(MEMORY, topic)
    try:
        _publish(publisher, MEMORY, topic, {"both": True})
        for sub in (one, two):
            message = _next(reader, sub)
            assert message.data() == {"both": True}
            sub.respond_success(message)
    finally:
        one.close()
        two.close()


def test_raw_payload_stream_gets_the_bytes(subscriber: DaprClient, publisher: DaprClient,
                                           reader: ThreadPoolExecutor) -> None:
    topic = _topic("raw")
    # The SDK annotates ``metadata`` as a tuple of pairs, but the proto map needs a mapping.
    metadata: Any = {"rawPayload": "true"}
    sub = subscriber.subscribe(MEMORY, topic, metadata=metadata)
    try:
        publisher.publish_event(MEMORY, topic, b"\x00raw", publish_metadata={"rawPayload": "true"})
        message = _next(reader, sub)
        assert message.raw_data() == b"\x00raw"
        assert message.data_content_type() == "application/octet-stream"
        sub.respond_success(message)
    finally:
        sub.close()


# -- metadata ------------------------------------------------------------------------------


def test_metadata_lists_streams_while_open(subscriber: DaprClient,
                                           stub: api_service_v1.DaprStub) -> None:
    topic = _topic("listed")
    sub = subscriber.subscribe(MEMORY, topic, dead_letter_topic="listed-dead")
    try:
        entry = _subscriptions(stub)[(MEMORY, topic)]
        assert entry.type == STREAMING
        assert entry.dead_letter_topic == "listed-dead"
        assert [(r.match, r.path) for r in entry.rules.rules] == [("", "/")]
    finally:
        sub.close()
    _eventually(lambda: (MEMORY, topic) not in _subscriptions(stub))


# -- errors --------------------------------------------------------------------------------


def _initial(pubsub: str, topic: str) -> api_v1.SubscribeTopicEventsRequestAlpha1:
    return api_v1.SubscribeTopicEventsRequestAlpha1(
        initial_request=api_v1.SubscribeTopicEventsRequestInitialAlpha1(
            pubsub_name=pubsub, topic=topic))


def _first_reply(stub: api_service_v1.DaprStub,
                 requests: list[api_v1.SubscribeTopicEventsRequestAlpha1]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        for _ in stub.SubscribeTopicEventsAlpha1(iter(requests), timeout=_WAIT):
            pass
    return info.value


@pytest.mark.parametrize(("requests", "code", "message"), [
    ([_initial("", "t")], grpc.StatusCode.UNKNOWN, "pubsubName is required"),
    ([_initial(MEMORY, "")], grpc.StatusCode.UNKNOWN, "topic is required"),
    ([api_v1.SubscribeTopicEventsRequestAlpha1(
        event_processed=api_v1.SubscribeTopicEventsRequestProcessedAlpha1(id="x"))],
     grpc.StatusCode.UNKNOWN, "initial request is required"),
    ([_initial(MEMORY, "dup"), _initial(MEMORY, "dup")], grpc.StatusCode.UNKNOWN,
     "duplicate initial request received"),
])
def test_protocol_errors(stub: api_service_v1.DaprStub,
                         requests: list[api_v1.SubscribeTopicEventsRequestAlpha1],
                         code: grpc.StatusCode, message: str) -> None:
    error = _first_reply(stub, requests)
    assert error.code() == code and error.details() == message


def test_unknown_pubsub(stub: api_service_v1.DaprStub, subscriber: DaprClient) -> None:
    error = DaprGrpcError(_first_reply(stub, [_initial("nope", "t")]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_code() == "DAPR_PUBSUB_NOT_FOUND"
    with pytest.raises(Exception, match="pubsub nope not found"):
        subscriber.subscribe("nope", "t")


def test_bad_raw_payload_metadata(stub: api_service_v1.DaprStub) -> None:
    request = _initial(MEMORY, "t")
    request.initial_request.metadata["rawPayload"] = "maybe"
    error = DaprGrpcError(_first_reply(stub, [request]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_code() == "DAPR_PUBSUB_METADATA_DESERIALIZATION"


# -- concurrency ---------------------------------------------------------------------------


def test_unary_calls_served_while_every_stream_slot_is_taken(
        sidecar: Sidecar, stub: api_service_v1.DaprStub) -> None:
    """MAX_STREAMING_SUBSCRIPTIONS streams open (each holds a gRPC worker); the next is
    refused with RESOURCE_EXHAUSTED, and unary calls are still answered at once."""
    topic = _topic("many")
    stop = threading.Event()
    calls = []

    def requests() -> Iterator[api_v1.SubscribeTopicEventsRequestAlpha1]:
        yield _initial(MEMORY, topic)
        stop.wait()

    # Streams of earlier tests end shortly after their clients cancel them.
    _eventually(lambda: not any(s.type == STREAMING for s in _subscriptions(stub).values()))
    for _ in range(MAX_STREAMING_SUBSCRIPTIONS):
        call = stub.SubscribeTopicEventsAlpha1(requests())
        next(call)  # the initial response: the stream is open
        calls.append(call)
    try:
        error = _first_reply(stub, [_initial(MEMORY, topic)])
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "too many streaming subscriptions" in (error.details() or "")
        started = time.monotonic()
        for _ in range(20):
            stub.GetMetadata(api_v1.GetMetadataRequest(), timeout=2)
            stub.PublishEvent(api_v1.PublishEventRequest(
                pubsub_name=MEMORY, topic=_topic("unary"), data=b"x"), timeout=2)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        for call in calls:
            call.cancel()
    # The slots come back: a new stream opens again.
    _eventually(lambda: (MEMORY, topic) not in _subscriptions(stub))
    call = stub.SubscribeTopicEventsAlpha1(iter([_initial(MEMORY, topic)]))
    try:
        assert next(call).HasField("initial_response")
    finally:
        call.cancel()

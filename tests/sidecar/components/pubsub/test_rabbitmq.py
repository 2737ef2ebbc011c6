"""pubsub.rabbitmq against the real RabbitMQ on 127.0.0.1:5672 (guest/guest).

Every test uses its own topic and consumerID and deletes its exchanges and queues afterwards.
The reconnect test closes only its own connection from the broker side (rabbitmqctl
close_connection, found by its unique clientName); the broker itself is never stopped.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from sidecar.components.pubsub.base import PublishRequest
from sidecar.components.pubsub.rabbitmq import RabbitMQPubSub
from sidecar.errors import ComponentConfigError, PubSubPublishError
from sidecar.testing import free_port
from tests.sidecar.helpers import unique_id, wait_until

from .helpers import Collector, read_lines, start_crash_child

URL = "amqp://guest:guest@127.0.0.1:5672"

Factory = Callable[..., RabbitMQPubSub]


class Names:
    """The topic and consumerID of one test; the queues the component derives from them."""

    def __init__(self) -> None:
        self.topic, self.consumer = unique_id("ps-rmq"), unique_id("app")
        self.queue = f"{self.consumer}-{self.topic}"


@pytest.fixture
def names() -> Iterator[Names]:
    names = Names()
    yield names
    with contextlib.closing(pika.BlockingConnection(pika.URLParameters(URL))) as connection:
        channel = connection.channel()
        for queue in (names.queue, f"dlq-{names.queue}"):
            channel.queue_delete(queue)
        for exchange in (names.topic, f"dlx-{names.queue}"):
            channel.exchange_delete(exchange)


@pytest.fixture
def make_pubsub(names: Names) -> Iterator[Factory]:
    made: list[RabbitMQPubSub] = []

    def make(**metadata: str) -> RabbitMQPubSub:
        component = RabbitMQPubSub("pubsub", {"connectionString": URL,
                                              "consumerID": names.consumer, **metadata})
        made.append(component)
        return component

    yield make
    for component in made:
        component.close()


def ready_count(queue: str) -> int:
    """Messages waiting in ``queue`` (unacked ones of an open consumer are not counted)."""
    with contextlib.closing(pika.BlockingConnection(pika.URLParameters(URL))) as connection:
        result = connection.channel().queue_declare(queue, passive=True)
        return int(result.method.message_count)


def test_round_trip_carries_content_type_and_properties(make_pubsub: Factory,
                                                        names: Names) -> None:
    pubsub = make_pubsub(publishMessagePropertiesToMetadata="true")
    got = Collector()
    pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b'{"a": 1}', "application/cloudevents+json",
                                  {"messageID": "id-1", "correlationID": "c-1", "type": "t"}))
    [message] = got.wait_for(1)
    assert (message.topic, message.data, message.content_type) == (
        names.topic, b'{"a": 1}', "application/cloudevents+json")
    assert message.metadata == {
        "metadata.messageid": "id-1", "metadata.correlationid": "c-1", "metadata.type": "t",
        "metadata.contenttype": "application/cloudevents+json"}


def test_properties_stay_out_of_metadata_by_default(make_pubsub: Factory,
                                                    names: Names) -> None:
    pubsub = make_pubsub()
    got = Collector()
    pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b"x", metadata={"messageID": "id-1"}))
    [message] = got.wait_for(1)
    assert message.metadata == {} and message.content_type == "text/plain"


def test_parallel_concurrency_delivers_at_once(make_pubsub: Factory, names: Names) -> None:
    pubsub = make_pubsub(concurrency="parallel", prefetchCount="3")
    barrier = threading.Barrier(3, timeout=5)
    got = Collector(fail=lambda message, attempt: barrier.wait() < 0)
    pubsub.subscribe(names.topic, got, {})
    for i in range(3):
        pubsub.publish(PublishRequest(names.topic, f"m{i}".encode()))
    assert len(got.wait_for(3, timeout=6)) == 3 and not barrier.broken


def test_single_concurrency_keeps_queue_order(make_pubsub: Factory, names: Names) -> None:
    pubsub = make_pubsub(concurrency="single")
    got = Collector()
    pubsub.subscribe(names.topic, got, {})
    sent = [f"m{i:03}".encode() for i in range(40)]
    for data in sent:
        pubsub.publish(PublishRequest(names.topic, data))
    got.wait_for(40)
    assert got.data == sent


def test_handler_raising_is_requeued_then_acked_once(make_pubsub: Factory,
                                                     names: Names) -> None:
    pubsub = make_pubsub(requeueInFailure="true", deletedWhenUnused="false")
    got = Collector(fail=lambda message, attempt: message.data == b"flaky" and attempt < 3)
    subscription = pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b"flaky"))
    pubsub.publish(PublishRequest(names.topic, b"fine"))
    assert sorted(m.data for m in got.wait_for(2)) == [b"fine", b"flaky"]
    assert got.attempts == {b"flaky": 3, b"fine": 1}
    time.sleep(0.3)
    subscription.close()  # anything still unacked would go back to the queue now
    assert ready_count(names.queue) == 0 and len(got.data) == 2


def test_handler_raising_without_requeue_dead_letters(make_pubsub: Factory,
                                                      names: Names) -> None:
    pubsub = make_pubsub(enableDeadLetter="true", deletedWhenUnused="false")
    got = Collector(fail=lambda message, attempt: True)
    pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b"poison"))
    assert wait_until(lambda: ready_count(f"dlq-{names.queue}") == 1, timeout=5)
    assert got.attempts == {b"poison": 1}


def test_auto_ack_does_not_redeliver(make_pubsub: Factory, names: Names) -> None:
    pubsub = make_pubsub(autoAck="true", requeueInFailure="true")
    got = Collector(fail=lambda message, attempt: True)
    pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b"gone"))
    assert wait_until(lambda: got.attempts.get(b"gone") == 1, timeout=5)
    time.sleep(0.3)
    assert got.attempts == {b"gone": 1}


def test_ttl_and_confirms_and_persistence(make_pubsub: Factory, names: Names) -> None:
    pubsub = make_pubsub(publisherConfirm="true", deliveryMode="2", ttlInSeconds="60",
                         deletedWhenUnused="false")
    subscription = pubsub.subscribe(names.topic, Collector(), {})
    subscription.close()  # the queue stays (not auto-deleted); nobody consumes it
    pubsub.publish(PublishRequest(names.topic, b"expires", metadata={"ttlInSeconds": "0"}))
    pubsub.publish(PublishRequest(names.topic, b"stays"))
    with contextlib.closing(pika.BlockingConnection(pika.URLParameters(URL))) as connection:
        _method, properties, body = connection.channel().basic_get(names.queue, auto_ack=True)
    assert body == b"stays"  # the 0-second one expired on arrival
    assert properties.delivery_mode == 2 and properties.expiration == "60000"


def test_crash_redelivery_loses_nothing(tmp_path: Path, make_pubsub: Factory,
                                        names: Names) -> None:
    """A subscriber process killed mid-batch: its unacked messages go to the next one."""
    total = 60
    metadata = {"connectionString": URL, "consumerID": names.consumer, "prefetchCount": "4",
                "deletedWhenUnused": "false"}
    out = tmp_path / "child.txt"
    child = start_crash_child("sidecar.components.pubsub.rabbitmq:RabbitMQPubSub",
                              names.topic, out, 20, json.dumps(metadata))
    publisher = make_pubsub(deletedWhenUnused="false")
    sent = [f"m{i:03}" for i in range(total)]
    for data in sent:
        publisher.publish(PublishRequest(names.topic, data.encode()))
    try:
        assert wait_until(lambda: len(read_lines(out)) >= 23, timeout=10)
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    child_seen = read_lines(out)
    got = Collector()
    make_pubsub(deletedWhenUnused="false").subscribe(names.topic, got, {})
    expected_after = total - (len(child_seen) - 4)  # the child acked all but its hung four
    got.wait_for(expected_after, timeout=10)
    time.sleep(0.3)
    after = [m.data.decode() for m in got.messages]
    lost = set(sent) - set(child_seen) - set(after)
    duplicates = len(child_seen) + len(after) - total
    print(f"\nrabbitmq crash: sent={total} child handled={len(child_seen)} "
          f"redelivered={len(after)} lost={len(lost)} duplicates={duplicates}")
    assert not lost and len(set(after)) == len(after)
    assert duplicates == len(set(child_seen) & set(after)) == 4  # the child's hung handlers


def _connection_pids(client_name: str) -> list[str]:
    listing = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid",
                              "client_properties"], capture_output=True, text=True, timeout=30)
    return [line.split("\t", 1)[0].strip() for line in listing.stdout.splitlines()
            if client_name in line]


def test_subscriber_reconnects_after_broker_closes_it(make_pubsub: Factory,
                                                      names: Names) -> None:
    client_name = unique_id("reconnect")
    pubsub = make_pubsub(clientName=client_name, reconnectWaitSeconds="200ms",
                         deletedWhenUnused="false")
    got = Collector()
    pubsub.subscribe(names.topic, got, {})
    pubsub.publish(PublishRequest(names.topic, b"before"))
    got.wait_for(1)
    # Both of this component's connections (publisher, subscriber) carry client_name.
    pids = _connection_pids(client_name)
    assert len(pids) == 2
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: reconnect"],
                       check=True, capture_output=True, timeout=30)
    assert wait_until(lambda: len(set(_connection_pids(client_name)) - set(pids)) == 1)
    pubsub.publish(PublishRequest(names.topic, b"after"))  # the publisher redials too
    assert [m.data for m in got.wait_for(2)] == [b"before", b"after"]


def test_publish_to_unreachable_broker_fails_clearly() -> None:
    pubsub = RabbitMQPubSub("pubsub", {"hostname": f"127.0.0.1:{free_port()}",
                                       "username": "guest", "password": "guest",
                                       "reconnectWaitSeconds": "0"})
    try:
        with pytest.raises(PubSubPublishError) as err:
            pubsub.publish(PublishRequest("nowhere", b"x"))
        assert err.value.code == "ERR_PUBSUB_PUBLISH_MESSAGE"
        assert err.value.http_status == 500
    finally:
        pubsub.close()


def test_host_and_credentials_fields_connect(names: Names) -> None:
    pubsub = RabbitMQPubSub("pubsub", {"protocol": "amqp", "hostname": "127.0.0.1:5672",
                                       "username": "guest", "password": "guest",
                                       "consumerID": names.consumer, "heartBeat": "30s"})
    try:
        got = Collector()
        pubsub.subscribe(names.topic, got, {})
        pubsub.publish(PublishRequest(names.topic, b"via-fields"))
        assert got.wait_for(1)[0].data == b"via-fields"
        assert pubsub.parameters.heartbeat == 30
    finally:
        pubsub.close()


@pytest.mark.parametrize(("metadata", "field"), [
    ({"exchangeKind": "broadcast"}, "exchangeKind"),
    ({"concurrency": "10"}, "concurrency"),
    ({"deliveryMode": "3"}, "deliveryMode"),
    ({"prefetchCount": "300"}, "prefetchCount"),
    ({"prefetchCount": "lots"}, "prefetchCount"),
    ({"maxLen": "big"}, "maxLen"),
    ({"reconnectWaitSeconds": "soon"}, "reconnectWaitSeconds"),
    ({"heartBeat": "often"}, "heartBeat"),
    ({"ttlInSeconds": "1 day"}, "ttlInSeconds"),
    ({"connectionString": "http://127.0.0.1"}, "connectionString"),
    ({"protocol": "amqps"}, "protocol"),
    ({"connectionString": "", "protocol": "mqtt"}, "protocol"),
    ({"saslExternal": "true"}, "saslExternal"),
])
def test_invalid_metadata_names_the_field(metadata: dict[str, str], field: str) -> None:
    with pytest.raises(ComponentConfigError) as err:
        RabbitMQPubSub("pubsub", {"connectionString": URL, **metadata})
    assert field in err.value.message


def test_subscribe_needs_a_consumer_id() -> None:
    pubsub = RabbitMQPubSub("pubsub", {"connectionString": URL})
    try:
        with pytest.raises(ComponentConfigError, match="consumerID"):
            pubsub.subscribe("t", Collector(), {})
    finally:
        pubsub.close()


def test_features_match_components_contrib() -> None:
    assert RabbitMQPubSub.features == ("MESSAGE_TTL",)
    assert not RabbitMQPubSub.required_metadata


def test_unused_declared_queue_is_auto_deleted(make_pubsub: Factory, names: Names) -> None:
    subscription = make_pubsub().subscribe(names.topic, Collector(), {})
    assert ready_count(names.queue) == 0
    subscription.close()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        assert wait_until(lambda: ready_count(names.queue) < 0, timeout=2)

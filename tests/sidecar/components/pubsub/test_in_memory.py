"""``pubsub.in-memory`` on its own: fan-out, order, redelivery of a raising handler, close."""

from __future__ import annotations

import threading
import time

from sidecar.components.pubsub.base import Message, PublishRequest
from sidecar.components.pubsub.common import template_metadata
from sidecar.components.pubsub.in_memory import MAX_ATTEMPTS, InMemoryPubSub


def _wait(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_every_subscriber_gets_every_message_in_order() -> None:
    broker = InMemoryPubSub("ps", {})
    first: list[bytes] = []
    second: list[bytes] = []
    broker.subscribe("t", lambda m: first.append(m.data), {"k": "v"})
    broker.subscribe("t", lambda m: second.append(m.data), {})
    for n in range(20):
        broker.publish(PublishRequest(topic="t", data=str(n).encode()))
    broker.publish(PublishRequest(topic="other", data=b"x"))
    _wait(lambda: len(first) == 20 and len(second) == 20)
    assert first == second == [str(n).encode() for n in range(20)]
    broker.close()


def test_raising_handler_is_redelivered_then_given_up() -> None:
    broker = InMemoryPubSub("ps", {})
    calls: list[Message] = []

    def handler(message: Message) -> None:
        calls.append(message)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    broker.subscribe("t", handler, {"rawPayload": "true"})
    broker.publish(PublishRequest(topic="t", data=b"m"))
    _wait(lambda: len(calls) == 3)
    assert calls[0].metadata == {"rawPayload": "true"}
    time.sleep(0.3)
    assert len(calls) == 3

    failures: list[int] = []

    def always_fail(message: Message) -> None:
        failures.append(1)
        raise RuntimeError("no")

    broker.subscribe("always", always_fail, {})
    broker.publish(PublishRequest(topic="always", data=b"m"))
    _wait(lambda: len(failures) == MAX_ATTEMPTS, timeout=5)
    broker.close()


def test_closed_subscription_gets_nothing() -> None:
    broker = InMemoryPubSub("ps", {})
    got = threading.Event()
    subscription = broker.subscribe("t", lambda m: got.set(), {})
    subscription.close()
    broker.publish(PublishRequest(topic="t", data=b"m"))
    assert not got.wait(0.2)


def test_consumer_id_defaults_to_app_id_and_templates() -> None:
    assert template_metadata({}, "app", {})["consumerID"] == "app"
    assert template_metadata({"consumerID": " "}, "app", {})["consumerID"] == "app"
    resolved = template_metadata({"consumerID": "{appID}-{podName}", "q": "{namespace}"},
                                 "app", {"POD_NAME": "pod1", "NAMESPACE": "ns"})
    assert resolved == {"consumerID": "app-pod1", "q": "ns.app"}
    assert len(template_metadata({"consumerID": "{uuid}"}, "app", {})["consumerID"]) == 36

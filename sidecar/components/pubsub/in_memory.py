"""``pubsub.in-memory``: a broker inside this one runtime process (components-contrib's
``pubsub/in-memory``), for tests and local runs.

Publishing returns at once; each subscription gets every message of its topic on its own
worker thread, one message at a time in publish order. A handler that raises is called again
after ``REDELIVERY_DELAY`` seconds, up to ``MAX_ATTEMPTS`` times in all, then the message is
dropped with an error line, as components-contrib's (10 attempts, 100 ms apart). No metadata.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping

from .base import Handler, Message, PublishRequest, PubSub, Subscription

__all__ = ["MAX_ATTEMPTS", "REDELIVERY_DELAY", "InMemoryPubSub"]

MAX_ATTEMPTS = 10
REDELIVERY_DELAY = 0.1  # seconds
_STOP = object()
_log = logging.getLogger(__name__)


class _TopicSubscription(Subscription):
    """One subscriber: a queue and the thread that hands its messages to the handler."""

    def __init__(self, owner: InMemoryPubSub, topic: str, handler: Handler,
                 metadata: Mapping[str, str]) -> None:
        self.owner, self.topic, self.handler = owner, topic, handler
        self.metadata = dict(metadata)
        self.queue: queue.Queue[object] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"in-memory-{owner.name}-{topic}")
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP or self._closed.is_set():
                return
            assert isinstance(item, Message)
            self._deliver(item)

    def _deliver(self, message: Message) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self._closed.is_set():
                return
            try:
                self.handler(message)
                return
            except Exception as err:  # noqa: BLE001 - the handler asks for redelivery by raising
                _log.error("pubsub %s topic %s: delivery attempt %d of %d failed: %s",
                           self.owner.name, self.topic, attempt, MAX_ATTEMPTS, err)
            self._closed.wait(REDELIVERY_DELAY)
        _log.error("pubsub %s topic %s: message dropped after %d attempts",
                   self.owner.name, self.topic, MAX_ATTEMPTS)

    def close(self) -> None:
        self._closed.set()
        self.owner._remove(self)
        self.queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)


class InMemoryPubSub(PubSub):
    """Dapr type ``pubsub.in-memory``; no metadata of its own."""

    type_name = "pubsub.in-memory"

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[_TopicSubscription]] = {}

    def publish(self, request: PublishRequest) -> None:
        # The subscription's metadata travels with each message, as in components-contrib.
        with self._lock:
            subscribers = list(self._subscribers.get(request.topic, ()))
        for subscriber in subscribers:
            subscriber.queue.put(Message(topic=request.topic, data=request.data,
                                         content_type=request.content_type,
                                         metadata=dict(subscriber.metadata)))

    def subscribe(self, topic: str, handler: Handler,
                  metadata: Mapping[str, str]) -> Subscription:
        subscription = _TopicSubscription(self, topic, handler, metadata)
        with self._lock:
            self._subscribers.setdefault(topic, []).append(subscription)
        return subscription

    def _remove(self, subscription: _TopicSubscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.topic, [])
            if subscription in subscribers:
                subscribers.remove(subscription)

    def close(self) -> None:
        with self._lock:
            subscriptions = [s for subs in self._subscribers.values() for s in subs]
        for subscription in subscriptions:
            subscription.close()

"""Streaming subscriptions: an app subscribes over a long-lived stream instead of being called
back (daprd's ``pkg/runtime/pubsub/streamer`` and ``postman/streaming``; the gRPC front end
is ``sidecar/grpc_streaming.py``).

Each open stream is its own subscription on the broker, as daprd starts one per connection.
The broker's handler thread turns each message into a CloudEvent, hands it to the stream
(``encode`` builds the wire message) and waits for the client's answer for that event id:

    SUCCESS               ack
    RETRY, unknown        raise: the broker redelivers (or dead-letter topic, then ack)
    DROP                  warning; dead-letter topic when set; ack
    stream gone           raise: the broker redelivers (never dead-lettered)

Expired events are dropped (dead-lettered when set). At most ``limit`` streams are open at
once; one more is refused with ``StreamLimitReached`` so streams cannot take every gRPC worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc

from ..components.pubsub.base import Message, PublishRequest
from ..components.pubsub.base import Subscription as BrokerSubscription
from ..errors import DaprError, PubSubForbidden, PubSubNotFound
from .cloudevents import has_expired, is_raw_payload, read_event
from .publisher import Publisher
from .routing import Rule
from .subscriptions import Subscription

__all__ = [
    "STREAM_ROUTE",
    "EventEncoder",
    "StreamLimitReached",
    "StreamRequest",
    "StreamingError",
    "StreamingSubscriptions",
    "TopicStream",
]

#: The one rule daprd gives a streaming subscription (``Routes{Default: "/"}``).
STREAM_ROUTE = "/"
#: Builds the wire message for one CloudEvent; raising makes the broker redeliver.
EventEncoder = Callable[[Mapping[str, Any]], object]
_DeadLetter = Callable[[str, PublishRequest], None]
_GONE = "stream closed"
_log = logging.getLogger(__name__)


class StreamingError(DaprError):
    """daprd's plain ``errors.New`` on this RPC: gRPC UNKNOWN with the message, no details."""

    grpc_status = grpc.StatusCode.UNKNOWN


class StreamLimitReached(DaprError):
    """Every streaming slot is taken; the limit keeps gRPC workers free for other calls."""

    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class _Failed(Exception):
    """The message was not taken; the broker redelivers it."""


@dataclass(frozen=True)
class StreamRequest:
    """The initial request of a stream."""

    pubsub_name: str
    topic: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    dead_letter_topic: str = ""


class TopicStream:
    """One open stream: the events waiting to be sent and the answers being waited for."""

    def __init__(self, owner: StreamingSubscriptions, subscription: Subscription,
                 encode: EventEncoder) -> None:
        self.subscription = subscription
        self._owner = owner
        self._encode = encode
        self._raw = is_raw_payload(subscription.metadata)
        self._outgoing: queue.Queue[object] = queue.Queue()
        self._pending: dict[str, deque[Future[str]]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._broker: BrokerSubscription | None = None
        #: Why the stream ended with an error (a protocol error of the client), else None.
        self.failure: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- the front end's side --------------------------------------------------------------

    def next_event(self, timeout: float) -> object | None:
        """The next wire message to send; None when there is none yet or the stream closed."""
        try:
            item = self._outgoing.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if item is _GONE else item

    def respond(self, event_id: str, status: str) -> None:
        """The client's answer (``SUCCESS``, ``RETRY``, ``DROP``, anything else = retry)."""
        with self._lock:
            waiting = self._pending.get(event_id)
            done = waiting.popleft() if waiting else None
        if done is None:
            _log.error("no client stream expecting publish response for id %s", event_id)
            return
        done.set_result(status)

    def fail(self, reason: str) -> None:
        """End the stream because the client broke the protocol."""
        self.failure = reason
        self.close()

    def close(self) -> None:
        """Stop: answers still awaited are given up (redelivered), the broker side closed.

        Idempotent; safe from any thread, including the gRPC termination callback.
        """
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            waiting = [done for queued in self._pending.values() for done in queued]
            self._pending.clear()
        for done in waiting:
            done.set_result(_GONE)
        self._outgoing.put(_GONE)
        if self._broker is not None:
            try:
                self._broker.close()
            except Exception:  # noqa: BLE001 - the stream must be released whatever the broker does
                _log.exception("closing the broker subscription of a stream failed")
        self._owner._release(self)
        _log.info("Unsubscribed from pubsub '%s' topic '%s'", self.subscription.pubsub_name,
                  self.subscription.topic)

    # -- the broker's side -----------------------------------------------------------------

    def __call__(self, message: Message) -> None:
        """The broker handler: returning acks, raising asks for redelivery."""
        try:
            event = self._event_of(message)
            if has_expired(event):
                _log.warning("dropping expired pub/sub event %s as of %s", event.get("id"),
                             event.get("expiration"))
                self._dead_letter(message, required=False)
                return
            status = self._exchange(event)
        except _Failed as err:
            if self._dead_letter(message, required=True):
                return
            raise _Failed(str(err)) from err
        if status == _GONE:
            raise _Failed(f"stream to pubsub {self.subscription.pubsub_name} topic "
                          f"{message.topic} closed before the event was answered")
        if status == "SUCCESS":
            return
        event_id = event.get("id")
        if status == "DROP":
            _log.warning("DROP status returned from app while processing pub/sub event %s",
                         event_id)
            self._dead_letter(message, required=False)
            return
        reason = (f"RETRY status returned from app while processing pub/sub event {event_id}"
                  if status == "RETRY" else f"unknown status returned from app while "
                  f"processing pub/sub event {event_id}, status: {status}")
        if self._dead_letter(message, required=True):
            return
        raise _Failed(reason)

    def _event_of(self, message: Message) -> dict[str, Any]:
        try:
            return read_event(message.data, message.topic, self.subscription.pubsub_name,
                              self._raw)
        except ValueError as err:
            raise _Failed(str(err)) from err

    def _exchange(self, event: Mapping[str, Any]) -> str:
        """Send ``event`` and wait for the client's status (``_GONE`` if the stream ends)."""
        try:
            wire = self._encode(event)
        except Exception as err:
            raise _Failed(f"error returned from app while processing pub/sub event: "
                          f"{err}") from err
        event_id = str(event.get("id") or "")
        done: Future[str] = Future()
        with self._lock:
            if self._closed.is_set():
                return _GONE
            self._pending.setdefault(event_id, deque()).append(done)
        self._outgoing.put(wire)
        try:
            return done.result()
        finally:
            with self._lock:
                waiting = self._pending.get(event_id)
                if waiting is not None and done in waiting:
                    waiting.remove(done)
                if not waiting:
                    self._pending.pop(event_id, None)

    def _dead_letter(self, message: Message, required: bool) -> bool:
        """Publish to the dead-letter topic when one is set; True when it went."""
        topic = self.subscription.dead_letter_topic
        if not topic:
            return False
        try:
            self._owner.dead_letter(self.subscription.pubsub_name, PublishRequest(
                topic=topic, data=message.data, content_type=message.content_type,
                metadata=dict(message.metadata)))
        except Exception as err:
            _log.warning("failed to send message to dead letter topic %s: %s", topic, err)
            if required:
                return False
            raise _Failed(f"dead-letter publish failed: {err}") from err
        return True


class StreamingSubscriptions:
    """The open streams of one runtime, at most ``limit`` at a time."""

    def __init__(self, publisher: Publisher, dead_letter: _DeadLetter, limit: int) -> None:
        self.publisher = publisher
        self.dead_letter = dead_letter
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._open: list[TopicStream] = []
        self._closing = False

    def reserve(self) -> None:
        """Take a slot before the initial request is read; StreamLimitReached when full."""
        if not self._slots.acquire(blocking=False):
            raise StreamLimitReached(
                f"too many streaming subscriptions: {self.limit} are open, the limit of this "
                "runtime (MAX_STREAMING_SUBSCRIPTIONS); close one and subscribe again")

    def unreserve(self) -> None:
        """Give back a slot taken by ``reserve`` whose stream never opened."""
        self._slots.release()

    def open(self, request: StreamRequest, encode: EventEncoder) -> TopicStream:
        """Subscribe on the broker for a stream whose slot is reserved (daprd's checks)."""
        if not request.pubsub_name:
            raise StreamingError("pubsubName is required")
        if not request.topic:
            raise StreamingError("topic is required")
        component = self.publisher.pubsubs.get(request.pubsub_name)
        if component is None:
            raise PubSubNotFound(f"pubsub {request.pubsub_name} not found",
                                 resource_name=request.pubsub_name)
        if not self.publisher.subscription_allowed(request.pubsub_name, request.topic):
            raise PubSubForbidden(f"topic {request.topic} is not allowed for app id "
                                  f"{self.publisher.app_id}")
        subscription = Subscription(
            pubsub_name=request.pubsub_name, topic=request.topic, kind="STREAMING",
            rules=(Rule("", STREAM_ROUTE),), dead_letter_topic=request.dead_letter_topic,
            metadata=dict(request.metadata), origin="SubscribeTopicEventsAlpha1")
        stream = TopicStream(self, subscription, encode)
        with self._lock:
            if self._closing:
                raise StreamingError("api server closed")
            self._open.append(stream)
        try:
            stream._broker = component.subscribe(request.topic, stream, dict(request.metadata))
        except Exception as err:
            with self._lock:
                self._open.remove(stream)
            message = err.message if isinstance(err, DaprError) else str(err)
            raise StreamingError(f"failed to create subscription for {request.pubsub_name}: "
                                 f"{message}") from err
        if stream.closed:  # closed while subscribing: close() could not reach the broker
            stream._broker.close()
        _log.info("Subscribing to pubsub '%s' topic '%s'", request.pubsub_name, request.topic)
        return stream

    def _release(self, stream: TopicStream) -> None:
        with self._lock:
            if stream not in self._open:
                return
            self._open.remove(stream)
        self._slots.release()

    def describe(self) -> list[dict[str, Any]]:
        """The metadata API entries of the open streams (one per pubsub/topic)."""
        with self._lock:
            streams = list(self._open)
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        for stream in streams:
            sub = stream.subscription
            entries.setdefault((sub.pubsub_name, sub.topic), sub.describe())
        return list(entries.values())

    def close(self) -> None:
        """Close every stream and refuse new ones (runtime shutdown)."""
        with self._lock:
            self._closing = True
            streams = list(self._open)
        for stream in streams:
            stream.close()

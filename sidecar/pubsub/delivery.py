"""Delivering a subscription's messages to the app, as daprd's postmen do
(``pkg/runtime/subscription/postman/{http,grpc}``, ``subscription.go``).

Each message is read as a CloudEvent (``rawPayload`` subscriptions: wrapped as ``data_base64``),
dropped when expired, routed with the CEL rules, then handed to the app channel
(``AppChannel.deliver_topic_event``: HTTP POSTs it to the route as
``application/cloudevents+json``, gRPC calls ``OnTopicEvent``). The app's status decides:
SUCCESS acks; RETRY raises (the broker redelivers); DROP acks with a warning. HTTP answers
map as ``sidecar/invoke/app_channel.py`` says (2xx status body, 404 DROP, other non-2xx RETRY).

A delivery the app did not take is tried again under the pub/sub component's inbound
resiliency policy (``targets.components.<pubsub>.inbound``), as daprd wraps its handler; once
the policy gives up, the message goes back to the broker. A dropped message, and one that
failed while a ``deadLetterTopic`` is set, is published to the dead-letter topic as it arrived
and acked (daprd's ``sendToDeadLetter``). With ``bulkSubscribe``
messages are batched (``maxMessagesCount`` / ``maxAwaitDurationMs``) and sent as one bulk
request (HTTP: daprd's envelope ``{id, entries: [{entryId, event, contentType, metadata}],
pubsubname, topic, type}``; gRPC: ``OnBulkTopicEvent``); each entry is acked or retried alone
by its status.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from ..components.pubsub.base import Message, PublishRequest
from ..invoke.channel import (
    AppChannel,
    AppChannelError,
    BulkTopicEntry,
    BulkTopicEvent,
    TopicEvent,
    TopicStatus,
)
from ..resiliency import Policy, ResiliencyError
from ..tracing import child, context_headers, parse_traceparent
from .cloudevents import CLOUDEVENT_CONTENT_TYPE, dump_event, has_expired, read_event
from .cloudevents import is_raw_payload as raw_payload_flag
from .routing import RouteError, match_route
from .subscriptions import Subscription

__all__ = [
    "BULK_EVENT_TYPE", "BulkDelivery", "DeadLetterPublisher", "DeliveryError", "MessageDelivery",
]

BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
_log = logging.getLogger(__name__)

#: One bulk entry in flight: (entryId, CloudEvent, broker message, its handler's future).
_Entry = tuple[str, dict[str, Any], Message, Future[None]]
#: Publishes ``request`` on the subscription's pub/sub (the dead-letter path).
DeadLetterPublisher = Callable[[str, PublishRequest], None]


class DeliveryError(Exception):
    """The message was not taken: raised to the broker, which redelivers it."""


class _Dropped(Exception):
    """The app (or routing) does not want the message: ack, dead-letter when configured."""


def _is_delivery_error(error: BaseException) -> bool:
    return isinstance(error, DeliveryError)


def _trace_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """daprd delivers under a new span of the event's trace (its ``traceparent``)."""
    parent = event.get("traceparent") or event.get("traceid")
    found = parse_traceparent(parent if isinstance(parent, str) else None,
                              str(event.get("tracestate") or ""))
    return context_headers(None if found is None else child(found))


class MessageDelivery:
    """The broker handler of one (non-bulk) subscription."""

    def __init__(self, subscription: Subscription, channel: AppChannel,
                 dead_letter: DeadLetterPublisher, policy: Policy | None = None) -> None:
        self.subscription = subscription
        self.channel = channel
        self._dead_letter_publish = dead_letter
        self.raw = raw_payload_flag(subscription.metadata)
        #: The pub/sub component's inbound resiliency policy: a delivery the app did not take
        #: is retried under it before the message goes back to the broker or to dead letters.
        self.policy = policy

    def run(self, deliver: Callable[[], None]) -> None:
        """``deliver`` under the inbound policy, retrying only deliveries the app refused."""
        if self.policy is None:
            deliver()
            return
        try:
            self.policy.run(deliver, retriable=_is_delivery_error)
        except ResiliencyError as err:
            raise DeliveryError(str(err)) from err

    # -- reading and routing ---------------------------------------------------------------

    def event_of(self, message: Message) -> tuple[dict[str, Any], bytes]:
        """(the CloudEvent, the body to POST); DeliveryError when it cannot be read."""
        try:
            event = read_event(message.data, message.topic, self.subscription.pubsub_name,
                               self.raw)
        except ValueError as err:
            raise DeliveryError(str(err)) from err
        return event, dump_event(event) if self.raw else message.data

    def route_of(self, event: Mapping[str, Any]) -> str:
        """The app path for ``event``; _Dropped when expired or no rule matches."""
        if has_expired(event):
            _log.warning("dropping expired pub/sub event %s as of %s", event.get("id"),
                         event.get("expiration"))
            raise _Dropped
        try:
            path = match_route(self.subscription.rules, event)
        except RouteError as err:
            raise DeliveryError(f"error finding matching route for event {event.get('id')} "
                                f"in pubsub {self.subscription.pubsub_name} and topic "
                                f"{self.subscription.topic}: {err}") from err
        if path is None:
            _log.debug("no matching route for event %s in topic %s; skipping",
                       event.get("id"), self.subscription.topic)
            raise _Dropped
        return "/" + path.lstrip("/")

    # -- the broker handler ----------------------------------------------------------------

    def __call__(self, message: Message) -> None:
        try:
            event, body = self.event_of(message)
            path = self.route_of(event)
            self.run(lambda: self._post(path, body, event, message))
        except _Dropped:
            self.dead_letter(message, required=False)
        except DeliveryError as err:
            if self.dead_letter(message, required=True):
                return
            raise DeliveryError(str(err)) from err

    def dead_letter(self, message: Message, required: bool) -> bool:
        """Publish ``message`` to the dead-letter topic when one is set; True when it went."""
        topic = self.subscription.dead_letter_topic
        if not topic:
            return False
        try:
            self._dead_letter_publish(self.subscription.pubsub_name, PublishRequest(
                topic=topic, data=message.data, content_type=message.content_type,
                metadata=dict(message.metadata)))
        except Exception as err:
            _log.warning("failed to send message to dead letter topic %s: %s", topic, err)
            if required:
                return False
            raise DeliveryError(f"dead-letter publish failed: {err}") from err
        return True

    def _post(self, path: str, body: bytes, event: Mapping[str, Any], message: Message) -> None:
        sub = self.subscription
        try:
            reply = self.channel.deliver_topic_event(TopicEvent(
                pubsub=sub.pubsub_name, topic=message.topic, path=path, event=event, body=body,
                metadata={**message.metadata, **_trace_headers(event)}))
        except AppChannelError as err:
            raise DeliveryError(f"error returned from app channel while sending pub/sub "
                                f"event to app: {err}") from err
        if reply.status == "SUCCESS":
            return
        if reply.status == "DROP":
            _log.warning("%s", reply.detail)
            raise _Dropped
        raise DeliveryError(reply.detail)


class BulkDelivery:
    """The broker handler of a ``bulkSubscribe`` subscription: batches, then one POST a route.

    The handler blocks until its message's batch was answered (daprd's default bulk
    subscriber), so a broker that delivers one message at a time gets batches of one after
    ``maxAwaitDurationMs``.
    """

    def __init__(self, single: MessageDelivery) -> None:
        self.single = single
        self.subscription = single.subscription
        self._queue: queue.Queue[tuple[Message, Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"bulk-{self.subscription.topic}")
        self._thread.start()

    def __call__(self, message: Message) -> None:
        done: Future[None] = Future()
        self._queue.put((message, done))
        done.result()

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        bulk = self.subscription.bulk
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + bulk.max_await_ms / 1000
            while len(batch) < bulk.max_messages:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._deliver(batch)

    def _deliver(self, batch: list[tuple[Message, Future[None]]]) -> None:
        by_path: dict[str, list[_Entry]] = {}
        for message, done in batch:
            try:
                event, _ = self.single.event_of(message)
                path = self.single.route_of(event)
            except _Dropped:
                self._settle(done, message, dropped=True)
                continue
            except DeliveryError as err:
                self._settle(done, message, error=err)
                continue
            by_path.setdefault(path, []).append((str(uuid.uuid4()), event, message, done))
        for path, entries in by_path.items():
            self._post(path, entries)

    def _settle(self, done: Future[None], message: Message, *, dropped: bool = False,
                error: Exception | None = None) -> None:
        if dropped:
            try:
                self.single.dead_letter(message, required=False)
            except DeliveryError as err:
                done.set_exception(err)
                return
            done.set_result(None)
        elif error is not None:
            if self.single.dead_letter(message, required=True):
                done.set_result(None)
            else:
                done.set_exception(DeliveryError(str(error)))
        else:
            done.set_result(None)

    def _post(self, path: str, entries: list[_Entry]) -> None:
        """Deliver ``entries``; those the app asks to retry go again under the inbound policy."""
        pending = entries
        last_error = ""

        def attempt() -> None:
            nonlocal pending, last_error
            pending, last_error = self._post_once(path, pending)
            if pending:
                raise DeliveryError(last_error)

        try:
            self.single.run(attempt)
        except DeliveryError:
            for _, _, message, done in pending:
                self._settle(done, message, error=DeliveryError(last_error))

    def _post_once(self, path: str, entries: list[_Entry]) -> tuple[list[_Entry], str]:
        """One bulk request of ``entries``; settles the taken and dropped ones, returns the
        rest with the reason."""
        sub = self.subscription
        statuses: dict[str, TopicStatus] = {}
        failure: str | None = None
        try:
            statuses = self.single.channel.deliver_bulk_topic_event(BulkTopicEvent(
                id=str(uuid.uuid4()), pubsub=sub.pubsub_name, topic=sub.topic, path=path,
                entries=[BulkTopicEntry(entry_id, event, CLOUDEVENT_CONTENT_TYPE,
                                        dict(message.metadata))
                         for entry_id, event, message, _ in entries],
                metadata=dict(sub.metadata), message_metadata=dict(entries[0][2].metadata)))
        except AppChannelError as err:
            failure = f"error from app channel while sending pub/sub event to app: {err}"
        retry: list[_Entry] = []
        error = failure or ""
        for entry in entries:
            entry_id, _, message, done = entry
            status = statuses.get(entry_id, "")
            if failure is None and status == "SUCCESS":
                self._settle(done, message)
            elif failure is None and status == "DROP":
                _log.warning("DROP status returned from app while processing pub/sub event %s",
                             entry_id)
                self._settle(done, message, dropped=True)
            else:
                retry.append(entry)
                error = error or (f"RETRY required while processing bulk subscribe event for "
                                  f"entry id: {entry_id} (status {status!r})")
        return retry, error

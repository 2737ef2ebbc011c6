"""Delivering a subscription's messages to the app, as daprd's HTTP postman does
(``pkg/runtime/subscription/postman/http``, ``subscription.go``).

Each message is read as a CloudEvent (``rawPayload`` subscriptions: wrapped as ``data_base64``),
dropped when expired, routed with the CEL rules, then POSTed to the route as
``application/cloudevents+json``. The app's answer decides:

    2xx, empty or non-JSON body, {"status": "SUCCESS"} or ""   ack
    2xx {"status": "RETRY"}, unknown status, other non-2xx     retry (raise: the broker redelivers)
    2xx {"status": "DROP"}, 404                                dropped (warning), ack

A dropped message, and one that failed while a ``deadLetterTopic`` is set, is published to the
dead-letter topic as it arrived and acked (daprd's ``sendToDeadLetter``). With ``bulkSubscribe``
messages are batched (``maxMessagesCount`` / ``maxAwaitDurationMs``) and POSTed as daprd's bulk
envelope ``{id, entries: [{entryId, event, contentType, metadata}], pubsubname, topic, type}``;
the app answers ``{"statuses": [{entryId, status}]}`` and each entry is acked or retried alone.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any

from ..components.pubsub.base import Message, PublishRequest
from ..invoke.app_channel import AppChannel, AppChannelError
from ..invoke.messages import AppResponse
from ..tracing import child, context_headers, parse_traceparent
from .cloudevents import CLOUDEVENT_CONTENT_TYPE, dump_event, from_raw_payload, has_expired
from .cloudevents import is_raw_payload as raw_payload_flag
from .routing import RouteError, match_route
from .subscriptions import Subscription

__all__ = [
    "BULK_EVENT_TYPE", "BulkDelivery", "DeadLetterPublisher", "DeliveryError", "MessageDelivery",
]

BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
_PUBSUB_HEADER = "pubsubName"
_log = logging.getLogger(__name__)

#: Publishes ``request`` on the subscription's pub/sub (the dead-letter path).
DeadLetterPublisher = Callable[[str, PublishRequest], None]


class DeliveryError(Exception):
    """The message was not taken: raised to the broker, which redelivers it."""


class _Dropped(Exception):
    """The app (or routing) does not want the message: ack, dead-letter when configured."""


def _headers(message: Message, pubsub: str) -> dict[str, str]:
    headers = {k: v for k, v in message.metadata.items()
               if k.lower() != "content-type" and v.isprintable()}
    headers[_PUBSUB_HEADER] = pubsub
    headers["content-type"] = CLOUDEVENT_CONTENT_TYPE
    return headers


def _trace_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """daprd delivers under a new span of the event's trace (its ``traceparent``)."""
    parent = event.get("traceparent") or event.get("traceid")
    found = parse_traceparent(parent if isinstance(parent, str) else None,
                              str(event.get("tracestate") or ""))
    return context_headers(None if found is None else child(found))


def _status_of(response: AppResponse) -> str | None:
    """The ``status`` of a 2xx answer; None when the body says nothing usable (= success)."""
    try:
        body = json.loads(response.body) if response.body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    return status if isinstance(status, str) else None


class MessageDelivery:
    """The broker handler of one (non-bulk) subscription."""

    def __init__(self, subscription: Subscription, channel: AppChannel,
                 dead_letter: DeadLetterPublisher) -> None:
        self.subscription = subscription
        self.channel = channel
        self._dead_letter_publish = dead_letter
        self.raw = raw_payload_flag(subscription.metadata)

    # -- reading and routing ---------------------------------------------------------------

    def event_of(self, message: Message) -> tuple[dict[str, Any], bytes]:
        """(the CloudEvent, the body to POST); DeliveryError when it cannot be read."""
        sub = self.subscription
        if self.raw:
            event = from_raw_payload(message.data, message.topic, sub.pubsub_name)
            return event, dump_event(event)
        try:
            event = json.loads(message.data)
        except (UnicodeDecodeError, ValueError) as err:
            raise DeliveryError(f"error deserializing cloud event in pubsub "
                                f"{sub.pubsub_name} and topic {message.topic}: {err}") from err
        if not isinstance(event, dict):
            raise DeliveryError(f"error deserializing cloud event in pubsub {sub.pubsub_name} "
                                f"and topic {message.topic}: not a JSON object")
        return event, message.data

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
            self._post(self.route_of(event), body, event, message)
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
        event_id = event.get("id")
        try:
            headers = _headers(message, self.subscription.pubsub_name)
            headers.update(_trace_headers(event))
            response = self.channel.request("POST", path, body, headers)
        except AppChannelError as err:
            raise DeliveryError(f"error returned from app channel while sending pub/sub "
                                f"event to app: {err}") from err
        if HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
            status = _status_of(response)
            if status in (None, "", "SUCCESS"):
                return
            if status == "DROP":
                _log.warning("DROP status returned from app while processing pub/sub event %s",
                             event_id)
                raise _Dropped
            if status == "RETRY":
                raise DeliveryError(f"RETRY status returned from app while processing pub/sub "
                                    f"event {event_id}")
            raise DeliveryError(f"unknown status returned from app while processing pub/sub "
                                f"event {event_id}, status: {status}")
        text = response.body[:200].decode("utf-8", "replace")
        if response.status == HTTPStatus.NOT_FOUND:
            _log.error("non-retriable error returned from app while processing pub/sub event "
                       "%s: %s. status code returned: %d", event_id, text, response.status)
            raise _Dropped
        _log.warning("retriable error returned from app while processing pub/sub event %s, "
                     "topic: %s, body: %s. status code returned: %d", event_id,
                     self.subscription.topic, text, response.status)
        raise DeliveryError(f"app answered {response.status} to pub/sub event {event_id}")


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
        by_path: dict[str, list[tuple[str, dict[str, Any], Message, Future[None]]]] = {}
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

    def _post(self, path: str,
              entries: list[tuple[str, dict[str, Any], Message, Future[None]]]) -> None:
        sub = self.subscription
        envelope = {
            "id": str(uuid.uuid4()), "pubsubname": sub.pubsub_name, "topic": sub.topic,
            "type": BULK_EVENT_TYPE, "metadata": dict(sub.metadata),
            "entries": [{"entryId": entry_id, "event": event,
                         "contentType": CLOUDEVENT_CONTENT_TYPE,
                         "metadata": dict(message.metadata)}
                        for entry_id, event, message, _ in entries],
        }
        headers = {**_headers(entries[0][2], sub.pubsub_name), "content-type": "application/json"}
        statuses: dict[str, str] = {}
        failure: str | None = None
        try:
            response = self.single.channel.request("POST", path, dump_event(envelope), headers)
        except AppChannelError as err:
            failure = f"error from app channel while sending pub/sub event to app: {err}"
        else:
            if HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
                statuses = self._statuses(response)
            elif response.status == HTTPStatus.NOT_FOUND:
                _log.error("Non-retriable error returned from app while processing bulk "
                           "pub/sub event. status code returned: 404")
                statuses = {entry_id: "DROP" for entry_id, *_ in entries}
            else:
                failure = (f"Retriable error returned from app while processing bulk pub/sub "
                           f"event, topic: {sub.topic}. status code returned: "
                           f"{response.status}")
        for entry_id, _, message, done in entries:
            status = statuses.get(entry_id, "")
            if failure is None and status == "SUCCESS":
                self._settle(done, message)
            elif failure is None and status == "DROP":
                _log.warning("DROP status returned from app while processing pub/sub event %s",
                             entry_id)
                self._settle(done, message, dropped=True)
            else:
                self._settle(done, message, error=DeliveryError(
                    failure or f"RETRY required while processing bulk subscribe event for "
                               f"entry id: {entry_id} (status {status!r})"))

    @staticmethod
    def _statuses(response: AppResponse) -> dict[str, str]:
        try:
            body = json.loads(response.body)
        except (UnicodeDecodeError, ValueError):
            return {}
        items = body.get("statuses") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return {}
        return {str(i.get("entryId")): str(i.get("status") or "") for i in items
                if isinstance(i, dict)}

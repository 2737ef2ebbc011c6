"""What ``Runtime`` holds for pub/sub: publishing and the app's running subscriptions.

``publish`` / ``bulk_publish`` wrap data in the CloudEvent envelope (unless ``rawPayload``)
and go through ``Publisher``. Declarative subscriptions are read when this is built (a bad file
is a start-up error); ``start`` asks the app for its programmatic ones in the background
(retrying while it starts, like input bindings), then subscribes each allowed one on its
component; ``stop`` closes them, before the components are closed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..components.pubsub.base import PublishRequest
from ..components.pubsub.base import Subscription as BrokerSubscription
from ..components.registry import Registry
from ..errors import DaprError, PubSubEventsError
from ..invoke.channel import AppChannel
from ..resiliency import PUBSUB, Resiliency, ResiliencySpec
from ..settings import MAX_STREAMING_SUBSCRIPTIONS, Settings
from ..tracing import current
from .cloudevents import CLOUDEVENT_CONTENT_TYPE, dump_event, is_raw_payload, new_envelope
from .delivery import BulkDelivery, MessageDelivery
from .publisher import BulkEntry, Publisher
from .streaming import StreamingSubscriptions
from .subscriptions import Subscription, fetch_programmatic, read_declarative

__all__ = ["BulkEntries", "PubSubManager"]

#: Bulk entries, or a function giving them (called once the pubsub and topic are checked).
BulkEntries = Sequence[BulkEntry] | Callable[[], Sequence[BulkEntry]]

_MESSAGE_TTL = "MESSAGE_TTL"
_log = logging.getLogger(__name__)


class PubSubManager:
    """Publishing and subscriptions of one app id (see module docstring)."""

    def __init__(self, settings: Settings, components: Registry,
                 resiliency: Resiliency | None = None) -> None:
        self.app_id = settings.app_id
        self.resiliency = resiliency or Resiliency(ResiliencySpec())
        self.publisher = Publisher(components, settings.app_id, self.resiliency)
        self.declarative = read_declarative(settings.resources_paths, settings.app_id) \
            if components.pubsubs else []
        self._lock = threading.Lock()
        self._active: list[Subscription] = []
        self._running: list[tuple[BrokerSubscription, BulkDelivery | None]] = []
        self._stopping = threading.Event()
        #: SubscribeTopicEventsAlpha1 streams (sidecar/pubsub/streaming.py).
        self.streams = StreamingSubscriptions(self.publisher, self._dead_letter,
                                              MAX_STREAMING_SUBSCRIPTIONS)

    # -- publishing ------------------------------------------------------------------------

    def _envelope(self, pubsub: str, topic: str, data: bytes, content_type: str,
                  metadata: Mapping[str, str]) -> tuple[bytes, str]:
        component = self.publisher.component(pubsub, topic)
        if is_raw_payload(metadata):
            return data, content_type
        event = new_envelope(app_id=self.app_id, pubsub=pubsub, topic=topic, data=data,
                             content_type=content_type, metadata=metadata,
                             broker_ttl=_MESSAGE_TTL in component.features,
                             trace=current())
        return dump_event(event), CLOUDEVENT_CONTENT_TYPE

    def publish(self, pubsub: str, topic: str, data: bytes, content_type: str,
                metadata: Mapping[str, str]) -> None:
        """daprd's PublishEvent: envelope (unless rawPayload), scopes, then the broker."""
        body, kind = self._envelope(pubsub, topic, data, content_type, metadata)
        self.publisher.publish(pubsub, PublishRequest(topic=topic, data=body, content_type=kind,
                                                      metadata=dict(metadata)))

    def bulk_publish(self, pubsub: str, topic: str, entries: BulkEntries,
                     metadata: Mapping[str, str]) -> list[tuple[str, str]]:
        """daprd's BulkPublishEvent; (entryId, error) for each entry that failed."""
        self.publisher.component(pubsub, topic)
        raw = is_raw_payload(metadata)
        if callable(entries):
            entries = entries()
        seen: set[str] = set()
        wrapped = []
        for entry in entries:
            if not entry.entry_id or entry.entry_id in seen:
                raise PubSubEventsError(f"error marshaling events to bytes for topic {topic} "
                                        f"pubsub {pubsub}. error: entryId is duplicated or not "
                                        "present for entry")
            seen.add(entry.entry_id)
            entry_metadata = {**metadata, **entry.metadata}
            data, kind = (entry.data, entry.content_type) if raw else self._envelope(
                pubsub, topic, entry.data, entry.content_type, entry_metadata)
            wrapped.append(BulkEntry(entry.entry_id, data, kind, entry_metadata))
        return self.publisher.bulk_publish(pubsub, topic, wrapped)

    def _dead_letter(self, pubsub: str, request: PublishRequest) -> None:
        self.publisher.publish(pubsub, request)

    # -- subscriptions ---------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """The metadata API's ``subscriptions``; a stream replaces an entry of its topic."""
        with self._lock:
            entries = [s.describe() for s in self._active]
        where = {(e["pubsubname"], e["topic"]): i for i, e in enumerate(entries)}
        for entry in self.streams.describe():
            index = where.get((entry["pubsubname"], entry["topic"]))
            if index is None:
                entries.append(entry)
            else:
                entries[index] = entry
        return entries

    def start(self, channel: AppChannel | None) -> None:
        """Discover the app's subscriptions in the background, then subscribe."""
        if not self.publisher.pubsubs:
            return
        threading.Thread(target=self._subscribe_all, args=(channel,), daemon=True,
                         name="pubsub-subscriptions").start()

    def _subscribe_all(self, channel: AppChannel | None) -> None:
        programmatic: list[Subscription] = []
        if channel is not None:
            programmatic = fetch_programmatic(channel, self._stopping)
        else:
            if self.declarative:
                _log.warning("subscriptions configured but no --app-port: not started")
            return
        seen: set[tuple[str, str]] = set()
        for sub in [*self.declarative, *programmatic]:
            key = (sub.pubsub_name, sub.topic)
            if key in seen:
                _log.warning("subscription to topic %s on pubsub %s already exists; %s skipped",
                             sub.topic, sub.pubsub_name, sub.origin)
                continue
            seen.add(key)
            self._subscribe(sub, channel)

    def _subscribe(self, sub: Subscription, channel: AppChannel) -> None:
        component = self.publisher.pubsubs.get(sub.pubsub_name)
        if component is None:
            _log.warning("%s: pubsub %s not found; subscription to %s skipped", sub.origin,
                         sub.pubsub_name, sub.topic)
            return
        if not self.publisher.subscription_allowed(sub.pubsub_name, sub.topic):
            _log.warning("subscription to topic '%s' on pubsub '%s' is not allowed",
                         sub.topic, sub.pubsub_name)
            return
        try:
            single = MessageDelivery(sub, channel, self._dead_letter,
                                     self.resiliency.component_inbound(sub.pubsub_name, PUBSUB))
        except DaprError as err:
            _log.error("%s: %s; subscription skipped", sub.origin, err.message)
            return
        bulk = BulkDelivery(single) if sub.bulk.enabled else None
        with self._lock:
            if self._stopping.is_set():
                if bulk is not None:
                    bulk.close()
                return
            try:
                running = component.subscribe(sub.topic, bulk or single, dict(sub.metadata))
            except Exception as err:  # noqa: BLE001 - one broker failure must not stop the rest
                _log.error("failed to subscribe to topic %s on pubsub %s: %s", sub.topic,
                           sub.pubsub_name, err)
                if bulk is not None:
                    bulk.close()
                return
            self._running.append((running, bulk))
            self._active.append(sub)
        _log.info("subscribed to topic %s on pubsub %s (%s)", sub.topic, sub.pubsub_name,
                  sub.kind.lower())

    def stop(self) -> None:
        """Close every running subscription (idempotent)."""
        with self._lock:
            self._stopping.set()
            running, self._running = self._running, []
            self._active = []
        self.streams.close()
        for subscription, bulk in running:
            try:
                subscription.close()
            except Exception:  # noqa: BLE001 - shutdown must reach the remaining ones
                _log.exception("closing a subscription failed")
            if bulk is not None:
                bulk.close()

"""Publishing to a pub/sub component with daprd's checks (``pkg/runtime/pubsub/publisher``).

Topic scopes come from the component metadata, as daprd reads them (``pkg/runtime/pubsub``
``scopes``): ``publishingScopes`` / ``subscriptionScopes`` (``app1=t1,t2;app2=``; an app listed
may use only its topics, one not listed is not restricted), ``allowedTopics`` (only these
topics exist) and ``protectedTopics`` (usable only by apps that list them in their scope).
A topic outside them is ``PubSubForbidden``; a component failure ``PubSubPublishError``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..components.pubsub.base import PublishRequest, PubSub
from ..components.registry import Registry
from ..errors import (
    DaprError,
    PubSubForbidden,
    PubSubNameEmpty,
    PubSubNotConfigured,
    PubSubNotFound,
    PubSubPublishError,
    PubSubTopicEmpty,
)
from ..resiliency import PUBSUB, Resiliency, ResiliencySpec

__all__ = ["BulkEntry", "Publisher", "TopicScopes", "topic_allowed"]

_log = logging.getLogger(__name__)


def _param(metadata: Mapping[str, str], name: str) -> str:
    """A metadata value by case-insensitive name (daprd's findParamInMetadata)."""
    for key, value in metadata.items():
        if key.lower() == name.lower():
            return value
    return ""


def _topics(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(dict.fromkeys(text.replace(" ", "").split(",")))


def _scoped(text: str, app_id: str) -> tuple[str, ...]:
    topics: dict[str, None] = {}
    for app in text.replace(" ", "").split(";") if text else ():
        parts = app.split("=")
        if len(parts) < 2 or parts[0] != app_id:
            continue
        topics.update(dict.fromkeys(parts[1].split(",")))
    return tuple(topics)


@dataclass(frozen=True)
class TopicScopes:
    """The four scoping lists of one component, for one app id."""

    publishing: tuple[str, ...] = ()
    subscribing: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], app_id: str) -> TopicScopes:
        return cls(publishing=_scoped(_param(metadata, "publishingScopes"), app_id),
                   subscribing=_scoped(_param(metadata, "subscriptionScopes"), app_id),
                   allowed=_topics(_param(metadata, "allowedTopics")),
                   protected=_topics(_param(metadata, "protectedTopics")))


def topic_allowed(topic: str, scopes: TopicScopes, scoped: Sequence[str]) -> bool:
    """daprd's IsOperationAllowed, with ``scoped`` the publishing or subscription list."""
    if scopes.allowed and topic not in scopes.allowed:
        return False
    if topic not in scopes.protected and not scoped:
        return True
    return topic in scoped


@dataclass(frozen=True)
class BulkEntry:
    """One bulk-publish entry after the front end decoded it."""

    entry_id: str
    data: bytes
    content_type: str
    metadata: Mapping[str, str]


class Publisher:
    """Finds the component, checks scopes and hands messages to it."""

    def __init__(self, components: Registry, app_id: str,
                 resiliency: Resiliency | None = None) -> None:
        self.app_id = app_id
        self.resiliency = resiliency or Resiliency(ResiliencySpec())
        self.pubsubs = components.pubsubs
        self.scopes = {name: TopicScopes.from_metadata(ps.metadata, app_id)
                       for name, ps in self.pubsubs.items()}

    def component(self, pubsub: str, topic: str) -> PubSub:
        """The component for a request, in daprd's order of checks."""
        if not self.pubsubs:
            raise PubSubNotConfigured("pubsub is not configured")
        if not pubsub:
            raise PubSubNameEmpty("pubsub name is empty")
        component = self.pubsubs.get(pubsub)
        if component is None:
            raise PubSubNotFound(f"pubsub {pubsub} not found")
        if not topic:
            raise PubSubTopicEmpty(f"topic is empty in pubsub {pubsub}")
        return component

    def check_publish(self, pubsub: str, topic: str) -> None:
        scopes = self.scopes[pubsub]
        if not topic_allowed(topic, scopes, scopes.publishing):
            raise PubSubForbidden(f"topic {topic} is not allowed for app id {self.app_id}")

    def subscription_allowed(self, pubsub: str, topic: str) -> bool:
        scopes = self.scopes.get(pubsub)
        return scopes is not None and topic_allowed(topic, scopes, scopes.subscribing)

    def publish(self, pubsub: str, request: PublishRequest) -> None:
        component = self.component(pubsub, request.topic)
        self.check_publish(pubsub, request.topic)
        policy = self.resiliency.component_outbound(pubsub, PUBSUB)
        try:
            policy.run(lambda: component.publish(request))
        except Exception as err:
            message = err.message if isinstance(err, DaprError) else str(err)
            raise PubSubPublishError(f"error when publishing to topic {request.topic} in "
                                     f"pubsub {pubsub}: {message}") from err

    def bulk_publish(self, pubsub: str, topic: str,
                     entries: Sequence[BulkEntry]) -> list[tuple[str, str]]:
        """(entryId, error) for each entry the broker did not take."""
        component = self.component(pubsub, topic)
        self.check_publish(pubsub, topic)
        requests = [PublishRequest(topic=topic, data=e.data, content_type=e.content_type,
                                   metadata=dict(e.metadata)) for e in entries]
        policy = self.resiliency.component_outbound(pubsub, PUBSUB)
        try:
            failed = policy.run(lambda: component.bulk_publish(requests))
        except Exception as err:  # noqa: BLE001 - the whole batch failed
            _log.warning("bulk publish to %s/%s failed: %s", pubsub, topic, err)
            return [(e.entry_id, str(err)) for e in entries]
        return [(entries[index].entry_id, error) for index, error in failed]

"""How the runtime talks to its own app, whatever the protocol (daprd's ``pkg/channel``).

``AppChannel`` is the interface; ``app_channel.HTTPAppChannel`` (``--app-protocol http`` /
``https``) and ``grpc_channel.GrpcAppChannel`` (``grpc``) implement it, and
``channels.new_app_channel`` picks one from the settings. Service invocation, input bindings
and pub/sub delivery speak only these methods, so none of them knows the app's protocol:

    invoke_method            a service invocation (HTTP request / ``AppCallback.OnInvoke``)
    handles_binding          does the app take input binding ``name``? (OPTIONS / ListInputBindings)
    deliver_binding_event    one input-binding event (POST /<name> / OnBindingEvent)
    list_subscriptions       programmatic subscriptions (GET /dapr/subscribe /
                             ListTopicSubscriptions), as daprd's JSON items
    deliver_topic_event      one pub/sub event (POST <route> / OnTopicEvent) -> TopicStatus
    deliver_bulk_topic_event a bulkSubscribe batch -> entry id -> TopicStatus
    health                   the app's health probe (GET /healthz / AppCallbackHealthCheck)

Every method raises ``AppChannelError`` when the app cannot be reached (connection refused,
no answer in time), so callers can retry while the app starts.

``--app-max-concurrency`` bounds the calls in flight to the app as daprd's channels do
(``concurrency_limit``): over HTTP every call but the health probe waits for a free slot, over
gRPC service invocation does (daprd delivers gRPC events and binding calls unbounded).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from .messages import AppRequest, AppResponse

__all__ = [
    "AppChannel",
    "AppChannelError",
    "BulkTopicEntry",
    "BulkTopicEvent",
    "TopicEvent",
    "TopicReply",
    "TopicStatus",
    "concurrency_limit",
]

#: daprd's pub/sub delivery outcomes (``TopicEventResponse.TopicEventResponseStatus``).
TopicStatus = Literal["SUCCESS", "RETRY", "DROP"]


class AppChannelError(Exception):
    """The app could not be reached, or did not answer in time."""


def concurrency_limit(max_concurrency: int) -> AbstractContextManager[Any]:
    """What a call to the app holds while in flight: one of ``max_concurrency`` slots, waited
    for when all are taken; nothing to wait for when it is 0 or less (daprd's -1, no limit)."""
    if max_concurrency <= 0:
        return nullcontext()
    return threading.BoundedSemaphore(max_concurrency)


@dataclass(frozen=True)
class TopicEvent:
    """One pub/sub message on its way to the app's ``path``."""

    pubsub: str
    topic: str
    #: The route chosen by the subscription's rules ("/orders").
    path: str
    #: The CloudEvent, decoded.
    event: Mapping[str, Any]
    #: The CloudEvent as JSON bytes (what an HTTP app gets as its body).
    body: bytes
    #: The broker message's metadata.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicReply:
    """The app's answer to one event: a status and, for the log, what it said."""

    status: TopicStatus
    detail: str = ""


@dataclass(frozen=True)
class BulkTopicEntry:
    entry_id: str
    event: Mapping[str, Any]
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BulkTopicEvent:
    """A ``bulkSubscribe`` batch for one route."""

    id: str
    pubsub: str
    topic: str
    path: str
    entries: Sequence[BulkTopicEntry]
    #: The subscription's metadata.
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: The first message's metadata (sent as headers / gRPC metadata).
    message_metadata: Mapping[str, str] = field(default_factory=dict)


class AppChannel(ABC):
    """The runtime's connection to its app; see the module docstring for each method."""

    #: The ``--app-protocol`` this channel speaks.
    protocol: str = ""

    @abstractmethod
    def invoke_method(self, method: str, request: AppRequest, caller: str = "") -> AppResponse:
        """See the module docstring."""

    @abstractmethod
    def handles_binding(self, name: str) -> bool:
        """See the module docstring."""

    @abstractmethod
    def deliver_binding_event(self, name: str, data: bytes,
                              metadata: Mapping[str, str]) -> AppResponse:
        """See the module docstring."""

    @abstractmethod
    def list_subscriptions(self) -> list[Any]:
        """See the module docstring."""

    @abstractmethod
    def deliver_topic_event(self, event: TopicEvent) -> TopicReply:
        """See the module docstring."""

    @abstractmethod
    def deliver_bulk_topic_event(self, event: BulkTopicEvent) -> dict[str, TopicStatus]:
        """See the module docstring."""

    @abstractmethod
    def health(self) -> bool:
        """See the module docstring."""

    def close(self) -> None:  # noqa: B027 - optional: a channel without connections keeps it
        """Release connections; the default has none."""

"""The interface every ``pubsub.*`` component implements (components-contrib's ``pubsub.PubSub``).

A component moves opaque bytes: the runtime has already wrapped the data in its CloudEvent
envelope when it publishes, and unwraps it when it delivers. ``subscribe`` takes a handler
that the component calls once per message, from its own thread(s): returning normally
acknowledges the message; raising (any exception) asks for it again later, so a message is
acknowledged to the broker only after the app took it (at least once).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..base import Component

__all__ = ["Handler", "Message", "PubSub", "PublishRequest", "Subscription"]


@dataclass(frozen=True)
class PublishRequest:
    topic: str
    data: bytes
    content_type: str = ""
    #: Request metadata (``ttlInSeconds``, component-specific keys), as strings.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One message as the broker delivered it."""

    topic: str
    data: bytes
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


#: Called once per message; returning acknowledges it, raising asks for redelivery.
Handler = Callable[[Message], None]


class Subscription(ABC):
    """A running subscription; ``close`` stops delivery and returns promptly."""

    @abstractmethod
    def close(self) -> None:
        """Stop taking messages; unacknowledged ones stay with the broker."""


class PubSub(Component, ABC):
    """A message broker. Methods raise ``sidecar.errors`` types only."""

    @abstractmethod
    def publish(self, request: PublishRequest) -> None:
        """Hand one message to the broker; returns once the broker has it."""

    def bulk_publish(self, requests: Sequence[PublishRequest]) -> list[tuple[int, str]]:
        """Publish each; (index, error message) for every one that failed. Default: one by one."""
        failed: list[tuple[int, str]] = []
        for index, request in enumerate(requests):
            try:
                self.publish(request)
            except Exception as err:  # noqa: BLE001 - each entry reports its own failure
                failed.append((index, str(err)))
        return failed

    @abstractmethod
    def subscribe(self, topic: str, handler: Handler,
                  metadata: Mapping[str, str]) -> Subscription:
        """Start delivering ``topic``'s messages to ``handler`` in the background."""

"""The interfaces of ``bindings.*`` components: output bindings the app invokes, input bindings
that deliver events to the app."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from ..base import Component

__all__ = ["BindingRequest", "BindingResponse", "Deliver", "InputBinding", "OutputBinding"]


@dataclass(frozen=True)
class BindingRequest:
    operation: str
    data: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BindingResponse:
    #: None when daprd would answer with no body (e.g. a query with zero rows gives b"null").
    data: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class OutputBinding(Component, ABC):
    #: The operations ``invoke`` accepts; anything else is a BindingInvokeError naming them.
    operations: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def invoke(self, request: BindingRequest) -> BindingResponse:
        """Run one operation; BindingInvokeError (or a subclass) when it fails."""


#: Called by an input binding for each event: (data, metadata) -> None.
Deliver = Callable[[bytes, dict[str, str]], None]


class InputBinding(Component, ABC):
    @abstractmethod
    def start(self, deliver: Deliver) -> None:
        """Begin producing events (in a background thread); return at once."""

    @abstractmethod
    def stop(self) -> None:
        """Stop producing events and return promptly."""

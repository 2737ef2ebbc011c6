"""The interfaces of ``bindings.*`` components: output bindings the app invokes, input bindings
that deliver events to the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from ..component import Component

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


class OutputBinding(Component):
    #: The operations ``invoke`` accepts; anything else is a BindingInvokeError naming them.
    operations: ClassVar[tuple[str, ...]] = ()

    def invoke(self, request: BindingRequest) -> BindingResponse:
        raise NotImplementedError


#: Called by an input binding for each event: (data, metadata) -> None.
Deliver = Callable[[bytes, dict[str, str]], None]


class InputBinding(Component):
    def start(self, deliver: Deliver) -> None:
        """Begin producing events (in a background thread); return at once."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

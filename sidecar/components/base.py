"""What every component is: the ``Component`` base class and the metadata helpers every
building block uses to read its fields.

Field lists mirror components-contrib's ``metadata.yaml`` for the type (a test compares them
with ../shared/schemas/dapr-metadata/). Metadata values arrive as text, secretKeyRefs already
resolved, as daprd hands them to a component's ``Init``; the helpers below decode them as
dapr/kit's metadata decoder does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ..errors import ComponentConfigError
from .go_values import parse_go_duration

__all__ = ["Component", "is_truthy", "metadata_duration", "metadata_int"]

_TRUTHY = frozenset({"y", "yes", "true", "t", "on", "1"})


class Component:
    """Base of every component implementation (state store, secret store, binding)."""

    #: Dapr type string, e.g. ``"state.redis"``; the registry key.
    type_name: ClassVar[str] = ""
    #: Metadata names that must be present.
    required_metadata: ClassVar[frozenset[str]] = frozenset()
    #: Metadata names that may be present (required ones need not be repeated here).
    optional_metadata: ClassVar[frozenset[str]] = frozenset()
    #: Capabilities the metadata API lists (``ETAG``, ``TRANSACTIONAL``, ``TTL``, ...).
    features: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        """``metadata`` has every secretKeyRef already resolved to its plain value."""
        self.name = name
        self.metadata = dict(metadata)

    def close(self) -> None:
        """Release connections and files; called once at shutdown."""


def is_truthy(value: str) -> bool:
    """dapr/kit ``utils.IsTruthy``: y, yes, true, t, on, 1 (any case) are true, all else false."""
    return value.strip().lower() in _TRUTHY


def metadata_int(component: str, key: str, value: str | None) -> int:
    """An integer metadata field; 0 when absent or empty."""
    if value is None or value.strip() == "":
        return 0
    try:
        return int(value.strip(), 0)
    except ValueError:
        raise ComponentConfigError(f"component {component!r}: metadata {key!r} must be an "
                                   f"integer, got {value!r}") from None


def metadata_duration(component: str, key: str, value: str | None) -> float:
    """A duration metadata field in seconds, as dapr/kit decodes it.

    A Go duration ("12s", "1m") or, failing that, a whole number of seconds; 0 when absent.
    """
    if value is None or value.strip() == "":
        return 0.0
    try:
        return parse_go_duration(value) / 1e9
    except ValueError:
        pass
    try:
        return float(int(value.strip()))
    except ValueError:
        raise ComponentConfigError(
            f"component {component!r}: metadata {key!r} must be a duration such as '12s' or "
            f"'1m30s' (or whole seconds), got {value!r}") from None

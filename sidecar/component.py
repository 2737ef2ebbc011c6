"""What every component class declares: its Dapr type string and its metadata fields.

Field lists mirror components-contrib's ``metadata.yaml`` for the type (a test compares them
with ../shared/schemas/dapr-metadata/), so an unknown or missing field fails at start-up with
the file and field named, as daprd's strict metadata decoding would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = ["Component"]


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

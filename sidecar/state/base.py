"""The state store interface every ``state.*`` component implements.

Keys reaching a store are already prefixed by the runtime (``<app-id>||<key>`` by default, as
daprd's ``keyPrefix`` does), so stores never see app ids. Values are opaque bytes: the HTTP API
stores the JSON text of the value, the gRPC API the bytes it was given, as daprd does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..component import Component

__all__ = ["DeleteRequest", "GetResponse", "SetRequest", "StateStore", "TransactionOperation"]

Concurrency = Literal["first-write", "last-write"]


@dataclass(frozen=True)
class SetRequest:
    key: str
    value: bytes
    #: With an etag the write succeeds only if the stored etag matches (ETagMismatch otherwise).
    etag: str | None = None
    #: first-write without an etag: the key must not exist yet.
    concurrency: Concurrency = "last-write"
    #: ``ttlInSeconds`` and friends, as strings, as in Dapr.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeleteRequest:
    key: str
    etag: str | None = None
    concurrency: Concurrency = "last-write"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GetResponse:
    data: bytes
    etag: str | None
    #: e.g. ``ttlExpireTime`` (RFC 3339) when the item has a TTL.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransactionOperation:
    operation: Literal["upsert", "delete"]
    request: SetRequest | DeleteRequest


class StateStore(Component):
    """A key/value store with etags and TTLs. Methods raise ``sidecar.errors`` types only."""

    def get(self, key: str, metadata: dict[str, str] | None = None) -> GetResponse | None:
        """The item, or None when the key does not exist (or has expired)."""
        raise NotImplementedError

    def set(self, request: SetRequest) -> None:
        """Store one item. ETagMismatch / ETagInvalid on a failed etag or first-write check."""
        raise NotImplementedError

    def delete(self, request: DeleteRequest) -> None:
        """Delete one item; deleting a missing key without an etag is not an error."""
        raise NotImplementedError

    def bulk_get(self, keys: Sequence[str]) -> list[tuple[str, GetResponse | None]]:
        """Default: one get per key; stores may do better."""
        return [(key, self.get(key)) for key in keys]

    def transact(self, operations: Sequence[TransactionOperation]) -> None:
        """All operations or none. Stores that cannot do this atomically must not claim it."""
        raise NotImplementedError

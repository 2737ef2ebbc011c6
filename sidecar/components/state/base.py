"""The state store interface every ``state.*`` component implements.

Keys reaching a store are already prefixed by the runtime (``<app-id>||<key>`` by default, as
daprd's ``keyPrefix`` does), so stores never see app ids. Values are opaque bytes: the HTTP API
stores the JSON text of the value, the gRPC API the bytes it was given, as daprd does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from ...errors import ETagInvalid, StateRequestInvalid
from ..base import Component

__all__ = [
    "KEY_SEPARATOR",
    "STATE_COMMON_METADATA",
    "TTL_EXPIRE_METADATA",
    "TTL_METADATA",
    "Concurrency",
    "DeleteRequest",
    "GetResponse",
    "SetRequest",
    "StateStore",
    "TransactionOperation",
    "key_prefix",
    "parse_ttl",
    "parse_version_etag",
    "ttl_expire_time",
]

#: Joins a key prefix and a key (``<app-id>||<key>``); daprd refuses keys that contain it.
KEY_SEPARATOR = "||"
#: Metadata every state store accepts because the runtime, not the store, handles it.
STATE_COMMON_METADATA = frozenset({"keyPrefix", "actorStateStore"})
#: Request metadata key of a per-item TTL, in seconds; -1 means "never expire".
TTL_METADATA = "ttlInSeconds"
#: Response metadata key of the moment a TTL'd item expires (RFC 3339, UTC).
TTL_EXPIRE_METADATA = "ttlExpireTime"

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


class StateStore(Component, ABC):
    """A key/value store with etags and TTLs. Methods raise ``sidecar.errors`` types only."""

    @abstractmethod
    def get(self, key: str, metadata: dict[str, str] | None = None) -> GetResponse | None:
        """The item, or None when the key does not exist (or has expired)."""

    @abstractmethod
    def set(self, request: SetRequest) -> None:
        """Store one item. ETagMismatch / ETagInvalid on a failed etag or first-write check."""

    @abstractmethod
    def delete(self, request: DeleteRequest) -> None:
        """Delete one item; deleting a missing key without an etag is not an error."""

    def bulk_get(self, keys: Sequence[str]) -> list[tuple[str, GetResponse | None]]:
        """Default: one get per key; stores may do better."""
        return [(key, self.get(key)) for key in keys]

    @abstractmethod
    def transact(self, operations: Sequence[TransactionOperation]) -> None:
        """All operations or none. Stores that cannot do this atomically must not claim it."""


def key_prefix(strategy: str | None, app_id: str, name: str) -> str:
    """daprd's ``keyPrefix``: appid (default), name, none, or any other text used as is."""
    if strategy in (None, "", "appid"):
        return f"{app_id}{KEY_SEPARATOR}" if app_id else ""
    if strategy == "none":
        return ""
    if strategy == "name":
        return f"{name}{KEY_SEPARATOR}"
    return f"{strategy}{KEY_SEPARATOR}"


def parse_ttl(metadata: Mapping[str, str], default: int | None = None) -> int | None:
    """``ttlInSeconds`` as an int (-1 = persist), ``default`` when absent.

    Raises ``StateRequestInvalid`` for text that is not an integer >= -1, as Dapr's
    ``utils.ParseTTL`` refuses it.
    """
    text = metadata.get(TTL_METADATA)
    if text is None or text == "":
        return default
    try:
        ttl = int(text)
    except ValueError:
        raise StateRequestInvalid(
            f"incorrect value for metadata {TTL_METADATA}: {text!r} is not an integer") from None
    if ttl < -1:
        raise StateRequestInvalid(
            f"incorrect value for metadata {TTL_METADATA}: {ttl} is below -1")
    return ttl


def parse_version_etag(etag: str | None) -> int | None:
    """A version etag as an int; None for no etag (absent or empty, as in Dapr).

    Raises ``ETagInvalid`` when the etag is not an integer: no store here produces one.
    """
    if etag is None or etag == "":
        return None
    try:
        return int(etag)
    except ValueError:
        raise ETagInvalid(f"invalid etag value: {etag!r} is not an etag this store "
                          "produced (etags are integers)") from None


def ttl_expire_time(expires_at: float) -> str:
    """RFC 3339 form of a Unix time, as daprd reports ``ttlExpireTime``."""
    moment = datetime.fromtimestamp(expires_at, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

"""``state.in-memory``: a thread-safe dict with version etags and TTLs, for one process.

Like Dapr's in-memory store it holds data only while the runtime runs and shares nothing with
other runtimes. Etags are increasing version numbers (as text); expired items are dropped
lazily on access. Transactions check every etag first, then apply, under one lock.
Metadata: none.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ...errors import ETagMismatch
from .base import (
    TTL_EXPIRE_METADATA,
    DeleteRequest,
    GetResponse,
    SetRequest,
    StateStore,
    TransactionOperation,
    parse_ttl,
    parse_version_etag,
    ttl_expire_time,
)

__all__ = ["InMemoryStateStore"]

#: Every this many writes, expired items that were never read again are swept out.
_SWEEP_EVERY = 1024


@dataclass(frozen=True)
class _Item:
    value: bytes
    version: int
    #: Unix time after which the item is gone; None = never.
    expires_at: float | None


class InMemoryStateStore(StateStore):
    """Dapr type ``state.in-memory``; no metadata."""

    type_name: ClassVar[str] = "state.in-memory"
    # components-contrib state/in-memory: ETag, Transactional, TTL, DeleteWithPrefix, KeysLike.
    features: ClassVar[tuple[str, ...]] = (
        "ETAG", "TRANSACTIONAL", "TTL", "DELETE_WITH_PREFIX", "KEYS_LIKE")

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self._items: dict[str, _Item] = {}
        self._lock = threading.Lock()
        # Counts writes, to sweep expired items every _SWEEP_EVERY of them.
        self._writes = itertools.count(1)

    def _live(self, key: str) -> _Item | None:
        item = self._items.get(key)
        if item is not None and item.expires_at is not None and item.expires_at <= time.time():
            del self._items[key]
            return None
        return item

    def get(self, key: str, metadata: dict[str, str] | None = None) -> GetResponse | None:
        with self._lock:
            item = self._live(key)
        if item is None:
            return None
        extra = {} if item.expires_at is None else {
            TTL_EXPIRE_METADATA: ttl_expire_time(item.expires_at)}
        return GetResponse(data=item.value, etag=str(item.version), metadata=extra)

    def _check(self, key: str, etag: str | None, concurrency: str) -> None:
        """Raise ETagMismatch unless the write/delete may go ahead; caller holds the lock."""
        expected = parse_version_etag(etag)
        item = self._live(key)
        if expected is None:
            if concurrency == "first-write" and item is not None:
                raise ETagMismatch(f"possible etag mismatch: key {key!r} already exists "
                                   "and first-write needs an etag")
            return
        if item is None or item.version != expected:
            raise ETagMismatch(f"possible etag mismatch: etag {etag!r} does not match "
                               f"the stored item of key {key!r}")

    def _apply_set(self, request: SetRequest) -> None:
        ttl = parse_ttl(request.metadata)
        expires_at = time.time() + ttl if ttl is not None and ttl > 0 else None
        # Per-key versions as Dapr's Redis store keeps them: a new item is 1, each write adds 1.
        previous = self._live(request.key)
        version = 1 if previous is None else previous.version + 1
        self._items[request.key] = _Item(request.value, version, expires_at)
        if next(self._writes) % _SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        """Drop expired items nobody reads again, so TTL'd keys cannot pile up."""
        now = time.time()
        for key in [k for k, item in self._items.items()
                    if item.expires_at is not None and item.expires_at <= now]:
            del self._items[key]

    def set(self, request: SetRequest) -> None:
        parse_ttl(request.metadata)
        with self._lock:
            self._check(request.key, request.etag, request.concurrency)
            self._apply_set(request)

    def delete(self, request: DeleteRequest) -> None:
        with self._lock:
            self._check(request.key, request.etag, request.concurrency)
            self._items.pop(request.key, None)

    def bulk_get(self, keys: Sequence[str]) -> list[tuple[str, GetResponse | None]]:
        return [(key, self.get(key)) for key in keys]

    def transact(self, operations: Sequence[TransactionOperation]) -> None:
        for op in operations:
            if isinstance(op.request, SetRequest):
                parse_ttl(op.request.metadata)
        with self._lock:
            # Dapr's in-memory store checks every etag before changing anything.
            for op in operations:
                self._check(op.request.key, op.request.etag, op.request.concurrency)
            for op in operations:
                if isinstance(op.request, SetRequest):
                    self._apply_set(op.request)
                else:
                    self._items.pop(op.request.key, None)

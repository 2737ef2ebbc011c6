"""Per-client fixed-window rate limit, kept in the Dapr state store.

Each client's item (key = its address) holds its current window, how many requests it made in
that window and the time of its last admitted request. Admission is a read-modify-write made
safe by optimistic concurrency: the write carries the etag read (or, for a new key, uses
first-write concurrency so it succeeds only if the key is still absent). A write that loses the
race comes back ABORTED and is retried with a fresh read, so under any number of concurrent
requests from one client exactly RATE_LIMIT_REQUESTS are admitted per window.

A state store that is down or slow must not take the functions down: every call to it is
bounded by STATE_TIMEOUT_SECONDS and any failure other than a lost race admits the request
(fail open) and is logged.

Most requests need one round trip, not two: each process keeps, in a small LRU, what it last
wrote for each client (the item's etag after that write, window and count). When the next
request from that client comes in the same window, the write is tried directly with that etag
and count + 1. The etag matching means the store still holds exactly what this process wrote,
so the count stays exact; a mismatch (another process wrote, or the item is gone) marks the
entry stale and falls back to read-check-write. The etag after a write is not returned by Dapr; it
is predicted by the version-etag rule of Dapr's Redis store (a new item is "1", each write adds
one). Where that rule does not hold, or a client's requests are spread over processes, tries
miss and each costs a round trip more, so after misses in a row a client's tries get rarer.

``admission(request)`` makes the decision in a background thread while the request is being
served (the store round trips then cost no latency), and refuses at the end of the block. A
refusal is remembered in-process until the window ends, so a client over its limit is turned
away at once, before any work, for the rest of the window.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import flask
import grpc

from .. import settings
from ..http import headers
from ..http.errors import TooManyRequests
from ..http.inputs import client_address
from ._sdk import Concurrency, DaprGrpcClient, StateOptions
from .client import deadline, get_client

__all__ = ["Decision", "admission", "decide", "enforce"]

_log = logging.getLogger(__name__)

#: Lost races tolerated before giving up; each lost race means another request was admitted,
#: so this only runs out with more concurrent requests from one client than this.
_MAX_ATTEMPTS = 64
_FIRST_WRITE = StateOptions(concurrency=Concurrency.first_write)
_DECIDERS = 8
#: Remembered refusals kept before expired ones are swept out.
_MAX_REMEMBERED = 10_000
#: client address -> time.monotonic() until which it is known to be over its limit.
_refused_until: dict[str, float] = {}
_executor: ThreadPoolExecutor | None = None
#: Striped locks serialising one client's decisions (see ``decide``).
_key_locks = tuple(threading.Lock() for _ in range(8 * _DECIDERS))
_executor_lock = threading.Lock()
#: Clients whose last write this process remembers.
_MAX_CACHED = 10_000
#: Misses in a row after which a client's cached write is tried only once in 2**this requests.
_MAX_MISSES = 4


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: Seconds until the client's window ends (0 when allowed).
    retry_after: int = 0
    #: Why the request was let through without a decision from the store, if it was.
    failed_open: str = ""


@dataclass(frozen=True)
class _Written:
    """What this process last wrote for a client: the item's etag after that write (0 once
    known to be stale), the window and the count written, and how many tries of a cached
    write for this client missed in a row."""

    etag: int
    window: int
    count: int
    misses: int = 0


class _LastWrites:
    """Bounded, thread-safe LRU: client address -> _Written."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, _Written] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Written | None:
        with self._lock:
            written = self._items.get(key)
            if written is not None:
                self._items.move_to_end(key)
            return written

    def put(self, key: str, written: _Written, keep_misses: bool = False) -> None:
        with self._lock:
            current = self._items.get(key)
            # A slower thread of this process must not replace a later write of the same window.
            if (current is not None and current.window == written.window
                    and current.etag > written.etag):
                return
            if keep_misses and current is not None:
                written = replace(written, misses=current.misses)
            self._items[key] = written
            self._items.move_to_end(key)
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def missed(self, key: str, written: _Written) -> None:
        """Mark ``written`` stale and count the miss, unless another thread replaced it."""
        with self._lock:
            if self._items.get(key) is written:
                self._items[key] = replace(written, etag=0,
                                           misses=min(written.misses + 1, _MAX_MISSES))

    def drop(self, key: str, written: _Written) -> None:
        """Forget ``written`` unless another thread already replaced it."""
        with self._lock:
            if self._items.get(key) is written:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_last_writes = _LastWrites(_MAX_CACHED)


def enforce(request: flask.Request) -> None:
    """Raise TooManyRequests (429 with Retry-After) when the caller is over its limit."""
    key = client_address(request)
    _refuse_if(key, _known_refusal(key) or decide(key))


@contextmanager
def admission(request: flask.Request) -> Iterator[None]:
    """Serve the block while the decision is made; TooManyRequests at its end if refused.

    A refused request gets its 429 even when the block failed (a 4xx of its own, say): the
    limit is what the client must hear about.
    """
    key = client_address(request)
    _refuse_if(key, _known_refusal(key))
    pending = _deciders().submit(decide, key)
    try:
        yield
    finally:
        _refuse_if(key, pending.result())


def _refuse_if(key: str, decision: Decision | None) -> None:
    if decision is None or decision.allowed:
        return
    now = time.monotonic()
    if len(_refused_until) >= _MAX_REMEMBERED:
        for stale in [k for k, until in _refused_until.items() if until <= now]:
            _refused_until.pop(stale, None)
    _refused_until[key] = now + decision.retry_after
    config = settings.get()
    raise TooManyRequests(
        "rate limit exceeded, retry later",
        {"limit": config.rate_limit_requests, "window_seconds": config.rate_limit_window_seconds,
         "retry_after": decision.retry_after},
        headers={headers.RETRY_AFTER: str(decision.retry_after)})


def _known_refusal(key: str) -> Decision | None:
    """A refusal this process already got from the store for ``key``, still in force."""
    until = _refused_until.get(key)
    if until is None:
        return None
    left = until - time.monotonic()
    if left <= 0:
        _refused_until.pop(key, None)
        return None
    return Decision(False, retry_after=max(1, math.ceil(left)))


def _deciders() -> ThreadPoolExecutor:
    """Threads making decisions, started in the serving process on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_DECIDERS, thread_name_prefix="ratelimit")
        return _executor


def _forget_after_fork() -> None:
    global _executor, _key_locks
    _executor = None
    _key_locks = tuple(threading.Lock() for _ in _key_locks)
    _refused_until.clear()
    _last_writes.clear()

os.register_at_fork(after_in_child=_forget_after_fork)


def decide(key: str) -> Decision:
    """Admit or refuse one request from ``key``; fails open when the store does not answer.

    One client's decisions in this process are made one at a time: made at once, they would
    only lose races to each other, each loss a read and a write more; in turn, each finds the
    previous one's write cached and needs one round trip.
    """
    with _key_locks[hash(key) % len(_key_locks)]:
        return _decide(key)


def _decide(key: str) -> Decision:
    config = settings.get()
    try:
        client = get_client()
        for _ in range(_MAX_ATTEMPTS):
            # The cache is tried again after each lost race: a request that only read and
            # wrote would keep losing to its client's other requests, which write at once.
            decision = _try_cached(client, key, config)
            if decision is None:
                decision = _attempt(client, key, config)
            if decision is not None:
                return decision
            # Lost the race: back off a little, at random, so contenders spread out.
            time.sleep(random.uniform(0, 0.002))
    # Any store failure or timeout lets the request through (fail open, logged).
    except Exception as err:  # noqa: BLE001
        _log.warning("rate limit not enforced for %s (state store %r): %s",
                    key, config.state_store, err)
        return Decision(True, failed_open=str(err) or type(err).__name__)
    return Decision(False, retry_after=1)


def _try_cached(client: DaprGrpcClient, key: str, config: settings.Settings) -> Decision | None:
    """Decide from what this process last wrote for ``key``, with at most one write; None
    when there is nothing usable cached or the store changed since (read it then)."""
    cached = _last_writes.get(key)
    now = time.time()
    window = int(now // config.rate_limit_window_seconds)
    if cached is None or cached.window != window:
        return None
    if cached.count >= config.rate_limit_requests:
        # Counts only grow within a window, so the store holds at least this many.
        return _refusal(window, now, config)
    # After misses in a row (the client's requests go to several processes, say) a try
    # mostly costs a round trip more than it saves, so try less often.
    if not cached.etag or random.random() >= 0.5 ** cached.misses:
        return None
    try:
        admitted = _save(client, key, window, cached.count + 1, str(cached.etag), now, config)
    except Exception:
        _last_writes.drop(key, cached)
        raise
    if not admitted:
        _last_writes.missed(key, cached)
        return None
    _last_writes.put(key, _Written(cached.etag + 1, window, cached.count + 1))
    return Decision(True)


def _attempt(client: DaprGrpcClient, key: str, config: settings.Settings) -> Decision | None:
    """One read-check-write round; None when another request wrote first."""
    with deadline(config.state_timeout_seconds):
        item = client.get_state(config.state_store, key)
    now = time.time()
    window = int(now // config.rate_limit_window_seconds)
    count = _count_in_window(item.data, window)
    if count >= config.rate_limit_requests:
        return _refusal(window, now, config)
    if not _save(client, key, window, count + 1, item.etag or None, now, config):
        return None
    written_etag = _etag_after_write(item.etag)
    if written_etag is not None:
        _last_writes.put(key, _Written(written_etag, window, count + 1), keep_misses=True)
    return Decision(True)


def _save(client: DaprGrpcClient, key: str, window: int, count: int, etag: str | None, now: float,
          config: settings.Settings) -> bool:
    """Write ``count`` for ``window`` if the item still has ``etag`` (or, with None, is still
    absent); False when it does not."""
    value = json.dumps({"window": window, "count": count, "last_request_ms": int(now * 1000)})
    try:
        with deadline(config.state_timeout_seconds):
            client.save_state(config.state_store, key, value, etag=etag, options=_FIRST_WRITE,
                              state_metadata={
                                  "ttlInSeconds": str(2 * config.rate_limit_window_seconds)})
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.ABORTED:
            return False
        raise
    return True


def _refusal(window: int, now: float, config: settings.Settings) -> Decision:
    window_end = (window + 1) * config.rate_limit_window_seconds
    return Decision(False, retry_after=max(1, math.ceil(window_end - now)))


def _etag_after_write(etag_read: str) -> int | None:
    """The etag the item has after a write that matched ``etag_read`` ("" = first write), by
    the version rule of Dapr's Redis store; None for etags that are not versions."""
    if not etag_read:
        return 1
    try:
        version = int(etag_read)
    except ValueError:
        return None
    return version + 1 if version > 0 else None


def _count_in_window(data: bytes, window: int) -> int:
    """Requests already admitted in ``window`` according to the stored item."""
    if not data:
        return 0
    try:
        stored = json.loads(data)
        if int(stored["window"]) == window:
            return max(int(stored["count"]), 0)
    except (ValueError, TypeError, KeyError):
        _log.warning("ignoring unreadable rate-limit item %r", data[:100])
    return 0

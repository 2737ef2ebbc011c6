"""A small thread-safe connection pool with the knobs of Go's ``database/sql.DB``.

    ================  =========================================================  ==========
    knob              meaning (as in database/sql)                               default
    ================  =========================================================  ==========
    max_open          connections open at once, in use or idle; 0 = no limit     0
    max_idle          idle connections kept for reuse (never more than max_open) 2
    max_lifetime      seconds a connection may live; older ones are closed       0 = forever
    max_idle_time     seconds a connection may sit idle before it is closed      0 = forever
    ================  =========================================================  ==========

``acquire()`` hands out the most recently returned idle connection (LIFO, like database/sql),
opening a new one when none is idle and the limit allows; at the limit it waits up to
``wait_timeout`` seconds. ``on_reuse(conn, idle_seconds)`` may check an idle connection before
it is lent again. A connection whose use raised ``broken_errors`` is discarded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["ConnectionPool", "PoolClosed", "PoolExhausted"]

_C = TypeVar("_C")

#: database/sql's defaultMaxIdleConns.
_DEFAULT_MAX_IDLE = 2
_DEFAULT_WAIT_TIMEOUT = 30.0


class PoolClosed(RuntimeError):
    """The pool was closed; no connection can be handed out any more."""


class PoolExhausted(RuntimeError):
    """Every allowed connection stayed in use for the whole wait."""


@dataclass
class _Entry(Generic[_C]):
    conn: _C
    created: float
    returned: float


class ConnectionPool(Generic[_C]):
    """Pool of connections made by ``factory`` and released with ``closer``."""

    def __init__(self, factory: Callable[[], _C], closer: Callable[[_C], None], *,
                 max_open: int = 0, max_idle: int = _DEFAULT_MAX_IDLE,
                 max_lifetime: float = 0.0, max_idle_time: float = 0.0,
                 broken_errors: tuple[type[BaseException], ...] = (),
                 on_reuse: Callable[[_C, float], None] | None = None,
                 wait_timeout: float = _DEFAULT_WAIT_TIMEOUT) -> None:
        self._factory, self._closer = factory, closer
        self.max_open = max(max_open, 0)
        self.max_idle = min(max_idle, self.max_open) if self.max_open else max(max_idle, 0)
        self._max_lifetime, self._max_idle_time = max_lifetime, max_idle_time
        self._broken_errors, self._wait_timeout = broken_errors, wait_timeout
        self._on_reuse = on_reuse
        self._idle: list[_Entry[_C]] = []
        self._open = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def open_count(self) -> int:
        """Connections open now, in use or idle."""
        with self._cond:
            return self._open

    @property
    def idle_count(self) -> int:
        with self._cond:
            return len(self._idle)

    @contextmanager
    def acquire(self) -> Iterator[_C]:
        """Lend a connection for the ``with`` block; it goes back to the pool afterwards."""
        entry = self._checkout()
        try:
            if self._on_reuse is not None and entry.returned > entry.created:
                self._on_reuse(entry.conn, time.monotonic() - entry.returned)
            yield entry.conn
        except self._broken_errors:
            self._discard(entry)
            raise
        except BaseException:
            self._checkin(entry)
            raise
        self._checkin(entry)

    def close(self) -> None:
        """Close idle connections now and in-use ones when they come back; idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for entry in idle:
            self._close_quietly(entry.conn)

    def _checkout(self) -> _Entry[_C]:
        deadline = time.monotonic() + self._wait_timeout
        entry: _Entry[_C] | None = None
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed("the connection pool is closed")
                expired = self._pop_expired()
                if self._idle:
                    entry = self._idle.pop()
                    break
                if not self.max_open or self._open < self.max_open:
                    self._open += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolExhausted(
                        f"all {self.max_open} connections (maxOpenConns) stayed busy for "
                        f"{self._wait_timeout:g}s")
                self._cond.wait(remaining)
        for conn in expired:
            self._close_quietly(conn)
        if entry is not None:
            return entry
        try:
            now = time.monotonic()
            return _Entry(self._factory(), now, now)
        except BaseException:
            self._release_slot()
            raise

    def _pop_expired(self) -> list[_C]:
        """Take connections past their lifetime or idle time off the idle list (lock held)."""
        now = time.monotonic()
        expired = [entry.conn for entry in self._idle if self._is_expired(entry, now)]
        if expired:
            self._idle = [entry for entry in self._idle if not self._is_expired(entry, now)]
            self._open -= len(expired)
        return expired

    def _is_expired(self, entry: _Entry[_C], now: float) -> bool:
        too_old = self._max_lifetime > 0 and now - entry.created >= self._max_lifetime
        too_idle = self._max_idle_time > 0 and now - entry.returned >= self._max_idle_time
        return too_old or too_idle

    def _checkin(self, entry: _Entry[_C]) -> None:
        entry.returned = time.monotonic()
        with self._cond:
            keep = (not self._closed and len(self._idle) < self.max_idle
                    and not self._is_expired(entry, entry.returned))
            if keep:
                self._idle.append(entry)
                self._cond.notify()
                return
        self._discard(entry)

    def _discard(self, entry: _Entry[_C]) -> None:
        self._release_slot()
        self._close_quietly(entry.conn)

    def _release_slot(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def _close_quietly(self, conn: _C) -> None:
        # A connection that fails to close is already gone.
        with contextlib.suppress(Exception):
            self._closer(conn)

"""The connection pool behind bindings.mysql, with counting fake connections (no database)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from sidecar.components.bindings.mysql.pool import ConnectionPool, PoolClosed, PoolExhausted


class Factory:
    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.closed: list[int] = []

    def make(self) -> int:
        return next(self.counter)

    def close(self, conn: int) -> None:
        self.closed.append(conn)


def test_reuses_idle_connections_lifo():
    f = Factory()
    pool = ConnectionPool(f.make, f.close)
    with pool.acquire() as a, pool.acquire() as b:
        assert (a, b) == (1, 2)
    with pool.acquire() as c:
        assert c == 1  # b went back first, a last: the last one back is lent first
    assert pool.open_count == 2 and f.closed == []


def test_max_idle_closes_the_surplus():
    f = Factory()
    pool = ConnectionPool(f.make, f.close, max_idle=1)
    with pool.acquire(), pool.acquire(), pool.acquire():
        pass
    assert pool.idle_count == 1 and len(f.closed) == 2 and pool.open_count == 1


def test_max_open_waits_then_gives_up():
    f = Factory()
    pool = ConnectionPool(f.make, f.close, max_open=1, wait_timeout=0.2)
    with pool.acquire():
        start = time.monotonic()
        with pytest.raises(PoolExhausted, match="maxOpenConns"):
            with pool.acquire():
                pass
        assert time.monotonic() - start >= 0.2


def test_waiter_gets_the_connection_when_it_is_returned():
    f = Factory()
    pool = ConnectionPool(f.make, f.close, max_open=1, wait_timeout=5)
    got: list[int] = []
    with pool.acquire() as first:
        thread = threading.Thread(target=lambda: got.extend(_borrow(pool)))
        thread.start()
        time.sleep(0.1)
        assert got == []
    thread.join(5)
    assert got == [first]


def _borrow(pool: ConnectionPool) -> list[int]:
    with pool.acquire() as conn:
        return [conn]


def test_lifetime_and_idle_time_retire_connections():
    f = Factory()
    pool = ConnectionPool(f.make, f.close, max_idle_time=0.05)
    with pool.acquire():
        pass
    time.sleep(0.1)
    with pool.acquire() as conn:
        assert conn == 2
    assert f.closed == [1]


def test_broken_connections_are_discarded_and_reuse_hook_runs():
    f = Factory()
    seen: list[tuple[int, float]] = []
    pool = ConnectionPool(f.make, f.close, broken_errors=(ConnectionError,),
                          on_reuse=lambda conn, idle: seen.append((conn, idle)))
    with pytest.raises(ConnectionError):
        with pool.acquire():
            raise ConnectionError("gone")
    with pytest.raises(ValueError):
        with pool.acquire():
            raise ValueError("statement failed, connection fine")
    with pool.acquire() as conn:
        assert conn == 2
    assert f.closed == [1] and [c for c, _ in seen] == [2]


def test_close_closes_idle_now_and_busy_on_return():
    f = Factory()
    pool = ConnectionPool(f.make, f.close)
    with pool.acquire():
        pass
    with pool.acquire(), pool.acquire() as busy:
        pool.close()
        assert f.closed == []  # both are in use
    assert sorted(f.closed) == [1, busy]
    with pytest.raises(PoolClosed):
        with pool.acquire():
            pass

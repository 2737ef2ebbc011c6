"""One client's rate-limit decisions in one process run one at a time: no lost races between
them, one store round trip each once the first is cached, and the count stays exact."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from bindings.dapr import ratelimit


class _Aborted(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.ABORTED


class _Store:
    """An etag-checking state store (version etags, as the runtime's) that counts its calls
    and how many run at once."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[bytes, int]] = {}
        self.lock = threading.Lock()
        self.calls = {"get": 0, "save": 0, "aborted": 0}
        self.running = self.most_at_once = 0

    def _enter(self) -> None:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.002)  # a round trip

    def _leave(self) -> None:
        with self.lock:
            self.running -= 1

    def get_state(self, store: str, key: str) -> Any:
        self._enter()
        try:
            with self.lock:
                self.calls["get"] += 1
                data, version = self.items.get(key, (b"", 0))
            return SimpleNamespace(data=data, etag=str(version) if version else "")
        finally:
            self._leave()

    def save_state(self, store: str, key: str, value: str, etag: str | None = None,
                   **options: Any) -> None:
        self._enter()
        try:
            with self.lock:
                self.calls["save"] += 1
                _, version = self.items.get(key, (b"", 0))
                if (etag or None) != (str(version) if version else None):
                    self.calls["aborted"] += 1
                    raise _Aborted()
                self.items[key] = (value.encode(), version + 1)
        finally:
            self._leave()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Store]:
    fake = _Store()
    monkeypatch.setattr(ratelimit, "get_client", lambda: fake)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "40")
    monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", "3600")
    ratelimit._last_writes.clear()
    yield fake
    ratelimit._last_writes.clear()


def test_one_clients_concurrent_decisions_do_not_race(store: _Store) -> None:
    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda _: ratelimit.decide("10.0.0.1"), range(50)))
    assert sum(d.allowed for d in decisions) == 40  # exact
    assert store.most_at_once == 1 and store.calls["aborted"] == 0
    # The first read and wrote; every other admitted one wrote once, from the cache.
    assert (store.calls["get"], store.calls["save"]) == (1, 40)


def test_different_clients_are_decided_at_once(store: _Store) -> None:
    keys = [f"10.0.1.{n}" for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(ratelimit.decide, keys))
    assert all(d.allowed for d in decisions) and store.most_at_once > 1

"""The rate limit's per-process cache of its last writes, against real Redis through the local
runtime: counts stay exact across two gunicorn workers, another writer's change is noticed,
and a client's repeated requests mostly skip the read (counted with Redis MONITOR).
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import redis
from PIL import Image

from bindings.dapr.ratelimit import _LastWrites, _Written
from tests.functions.conftest import image_bytes
from tests.functions.stack import Stack, client_headers, start_stack

LIMIT = 30
TINY = image_bytes(Image.new("RGB", (8, 8), (4, 5, 6)), "PNG")


@pytest.fixture(scope="module")
def grayscale(tmp_path_factory: pytest.TempPathFactory, redis_client) -> Iterator[Stack]:
    """grayscale alone (2 workers x 4 threads) with its runtime, limit LIMIT per window."""
    with ExitStack() as exits:
        yield start_stack(exits, tmp_path_factory.mktemp("ratelimit"), names=("grayscale",),
                          env={"RATE_LIMIT_REQUESTS": str(LIMIT)},
                          events_app_id="events-service-not-running")


def _key(stack: Stack, headers: dict[str, str]) -> str:
    return f"{stack.ids['grayscale']}||{headers['X-Forwarded-For']}"


def _stored_count(redis_client: redis.Redis, key: str) -> int:
    data = redis_client.hget(key, "data")
    assert data is not None, f"no rate-limit item {key}"
    return json.loads(data)["count"]


@contextmanager
def _commands_on(redis_client: redis.Redis, key: str) -> Iterator[list[str]]:
    """Names of the commands Redis runs on ``key`` (outside scripts) while the block runs."""
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with redis_client.monitor() as monitor:
            ready.set()
            for entry in monitor.listen():
                command = entry["command"]
                if "stop-watching" in command:
                    return
                if key in command and entry.get("client_type") != "lua":
                    seen.append(command.split()[0].upper())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(5)
    time.sleep(0.2)  # MONITOR is registered once its reply is read; leave it a moment
    try:
        yield seen
    finally:
        time.sleep(0.2)
        redis_client.echo("stop-watching")
        watcher.join(5)


def _post(url: str, headers: dict[str, str], client: httpx.Client | None = None) -> int:
    send = client.post if client is not None else httpx.post
    return send(url, content=TINY, headers=headers, timeout=30).status_code


def test_exactly_the_limit_across_two_workers(grayscale, redis_client):
    headers = client_headers()
    url = f"{grayscale.url('grayscale')}/grayscale"
    # Warm both paths: some requests on kept-alive connections fill each worker's cache.
    with httpx.Client() as first, httpx.Client() as second:
        warm = [_post(url, headers, c) for _ in range(3) for c in (first, second)]
    assert warm == [200] * 6

    def burst(_: int) -> list[int]:
        with httpx.Client() as client:
            return [_post(url, headers, client) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = sorted(s for batch in pool.map(burst, range(24)) for s in batch)
    assert statuses == [200] * (LIMIT - 6) + [429] * (96 - LIMIT + 6)
    assert _stored_count(redis_client, _key(grayscale, headers)) == LIMIT


def test_repeated_requests_mostly_skip_the_read(grayscale, redis_client):
    headers = client_headers()
    url = f"{grayscale.url('grayscale')}/grayscale"
    key = _key(grayscale, headers)
    with httpx.Client() as client, _commands_on(redis_client, key) as seen:
        statuses = [_post(url, headers, client) for _ in range(20)]
    assert statuses == [200] * 20
    assert _stored_count(redis_client, key) == 20
    writes, reads = seen.count("EVALSHA") + seen.count("EVAL"), seen.count("HGETALL")
    # Without the cache every request reads once; with it only a worker's first request (and
    # one after a lost race between workers) does.
    assert writes >= 20 and reads <= 6, seen


def test_falls_back_to_reading_when_another_writer_changed_the_item(grayscale, redis_client):
    headers = client_headers()
    url = f"{grayscale.url('grayscale')}/grayscale"
    key = _key(grayscale, headers)
    with httpx.Client() as client:
        assert [_post(url, headers, client) for _ in range(3)] == [200] * 3
        # Another writer (through the same runtime, so the etag moves on) sets the count.
        window = json.loads(redis_client.hget(key, "data"))["window"]
        state_url = f"{grayscale.sidecars['grayscale'].http_url}/v1.0/state/statestore"
        item = {"window": window, "count": LIMIT - 1, "last_request_ms": 1}
        saved = httpx.post(state_url, json=[{"key": headers["X-Forwarded-For"], "value": item}],
                           timeout=10)
        assert saved.status_code == 204, saved.text
        assert [_post(url, headers, client) for _ in range(3)] == [200, 429, 429]
        assert _stored_count(redis_client, key) == LIMIT

        # The item vanishing (expired, deleted) counts from zero again, not from the cache.
        other = client_headers()
        assert [_post(url, other, client) for _ in range(3)] == [200] * 3
        redis_client.delete(_key(grayscale, other))
        assert _post(url, other, client) == 200
        assert _stored_count(redis_client, _key(grayscale, other)) == 1


def test_last_writes_is_a_bounded_lru_that_keeps_the_latest_write():
    cache = _LastWrites(2)
    cache.put("a", _Written(3, 7, 3))
    cache.put("b", _Written(1, 7, 1))
    assert cache.get("a") == _Written(3, 7, 3)  # "a" is now the most recently used
    cache.put("c", _Written(1, 7, 1))
    assert (cache.get("b"), cache.get("c")) == (None, _Written(1, 7, 1))
    cache.put("a", _Written(2, 7, 2))  # a slower thread's older write of the same window
    assert cache.get("a") == _Written(3, 7, 3)
    latest = cache.get("a")
    assert latest is not None
    cache.missed("a", latest)
    assert cache.get("a") == _Written(0, 7, 3, misses=1)
    cache.put("a", _Written(5, 7, 5), keep_misses=True)
    assert cache.get("a") == _Written(5, 7, 5, misses=1)
    cache.put("a", _Written(1, 8, 1))  # a new window starts again from a new item
    assert cache.get("a") == _Written(1, 8, 1)

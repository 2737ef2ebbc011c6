"""Events in batches: the array form of ``POST /create_event`` on MariaDB and on the sqlite:
extension, and exactly one event per successful image request (the recorder's own draining is
tested in tests/bindings/dapr/test_events.py)."""

from __future__ import annotations

import concurrent.futures
import json
import random
import threading
import time
from contextlib import ExitStack

import httpx
import numpy as np
import pytest
from PIL import Image

from .conftest import image_bytes
from .stack import RATE_LIMIT, client_headers, start_stack


def _all_events(url: str) -> list[dict]:
    events, after = [], 0
    while page := httpx.get(f"{url}/events", params={"after": after, "limit": 1000},
                            timeout=10).json():
        events += page
        after = page[-1]["id"]
    return events


def _last_id(url: str) -> int:
    events = _all_events(url)
    return events[-1]["id"] if events else 0


def _check_array_roundtrip(url: str, count: int) -> None:
    op_type = f"batch-{random.randrange(10**9)}"
    batch = [{"event_ts": 1_700_000_000_000 + n, "op_type": op_type, "input_size": n}
             for n in range(count)]
    answer = httpx.post(f"{url}/create_event", json=batch, timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"status": True, "count": count})
    mine = [e for e in _all_events(url) if e["op_type"] == op_type]
    assert [(e["event_ts"], e["input_size"]) for e in mine] == [
        (e["event_ts"], e["input_size"]) for e in batch]
    assert len({e["id"] for e in mine}) == count
    # All or nothing: one bad element and none of the good ones is stored.
    bad = [*batch[:2], {**batch[0], "input_size": "big"}]
    refused = httpx.post(f"{url}/create_event", json=bad, timeout=10)
    assert refused.status_code == 400 and list(refused.json()["detail"]) == ["2"]
    assert len([e for e in _all_events(url) if e["op_type"] == op_type]) == count


def test_array_insert_on_mariadb(stack):
    _check_array_roundtrip(stack.url("events"), 250)


@pytest.fixture(scope="module", params=["pubsub", "invocation"])
def sqlite_stack(request, tmp_path_factory, redis_client):
    """events and grayscale with their runtimes, the events table in a private sqlite file:
    no other test session (they share MariaDB's table) can add or drop rows under a count.
    Events travel by pub/sub (the profiles' way) or by service invocation (the seed's)."""
    folder = tmp_path_factory.mktemp("sqlite-stack")
    with ExitStack() as exits:
        yield start_stack(exits, folder, names=("events", "grayscale"),
                          db_url=f"sqlite:{folder / 'events.db'}",
                          pubsub=request.param == "pubsub")


def test_array_insert_on_sqlite(sqlite_stack):
    _check_array_roundtrip(sqlite_stack.url("events"), 1000)


def _unique_image() -> bytes:
    """A small PNG of noise: its byte size tells this test's events from any other's."""
    pixels = np.random.default_rng().integers(0, 256, (24, 24, 3), dtype=np.uint8)
    return image_bytes(Image.fromarray(pixels), "PNG")


def test_burst_records_exactly_one_event_per_successful_request(sqlite_stack, redis_client):
    stack = sqlite_stack
    body = _unique_image()
    events_url, start = stack.url("events"), _last_id(stack.url("events"))
    clients = [client_headers() for _ in range(6)]
    barrier = threading.Barrier(12)

    def post(n: int) -> int:
        if n < 12:  # the first dozen leave together: a real burst, not a trickle
            barrier.wait(10)
        return httpx.post(f"{stack.url('grayscale')}/grayscale", content=body,
                          headers=clients[n % len(clients)], timeout=30).status_code
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(post, range(len(clients) * (RATE_LIMIT + 1))))
    ok = statuses.count(200)
    # The rate limit refuses some (it fails open when Redis is slow on a loaded machine, so the
    # exact split is test_integration's business); refused requests must record nothing.
    assert ok >= len(clients) * RATE_LIMIT and set(statuses) <= {200, 429}

    def mine() -> list[dict]:
        return [e for e in _all_events(events_url) if e["id"] > start
                and (e["op_type"], e["input_size"]) == ("grayscale", len(body))]
    deadline = time.monotonic() + 10
    while len(mine()) < ok and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate would arrive about as fast as the originals did
    assert len(mine()) == ok, json.dumps(mine())
    if stack.events_topic is not None:
        # They went through the stack's stream, and events-service acknowledged every one.
        assert redis_client.xlen(stack.events_topic) >= ok
        assert redis_client.xpending(stack.events_topic, stack.ids["events"])["pending"] == 0

"""The image functions keep answering, promptly, when what they depend on is down or slow:
Redis behind the state store (refusing, or accepting and never answering) and the events
service (an app id nobody runs, reached the seed's way, by service invocation; with pub/sub
the broker takes the events, see test_event_faults.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from .stack import RedisForwarder, Stack, client_headers, start_stack

#: STATE_TIMEOUT_SECONDS (0.5) bounds the rate-limit calls; the rest is image work.
PROMPT_SECONDS = 1.5


@pytest.fixture(scope="module")
def degraded(tmp_path_factory: pytest.TempPathFactory, redis_client) -> Iterator[
        tuple[Stack, RedisForwarder]]:
    forwarder = RedisForwarder()
    with ExitStack() as exits:
        exits.callback(forwarder.close)
        stack = start_stack(exits, tmp_path_factory.mktemp("degraded"),
                            redis_address=forwarder.address, names=("grayscale", "classify"),
                            events_app_id="events-service-not-running", pubsub=False)
        # One request each first, so the timings below are of serving, not of starting up.
        for name in ("grayscale", "classify"):
            assert httpx.post(f"{stack.url(name)}/{name}", content=b"warm up",
                              headers=client_headers(), timeout=30).status_code == 400
        yield stack, forwarder


def _timed_post(url: str, body: bytes) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = httpx.post(url, content=body, headers=client_headers(), timeout=30)
    return response, time.monotonic() - start


@pytest.mark.parametrize("mode", ["forward", "down", "stall"])
@pytest.mark.parametrize("name", ["grayscale", "classify"])
def test_answers_promptly(degraded, seed_file, mode, name):
    stack, forwarder = degraded
    forwarder.set_mode(mode)
    try:
        for _ in range(3):
            response, took = _timed_post(f"{stack.url(name)}/{name}", seed_file("food.jpg"))
            assert response.status_code == 200, response.text
            assert took < PROMPT_SECONDS, f"{name} took {took:.2f}s with Redis {mode}"
    finally:
        forwarder.set_mode("forward")
    # The events were tried (and failed) in the background, after the answers.
    deadline = time.monotonic() + 10
    while "events-service-not-running" not in stack.functions[name].log():
        assert time.monotonic() < deadline, stack.functions[name].log()
        time.sleep(0.05)


def test_rate_limit_works_again_when_redis_is_back(degraded, seed_file):
    stack, forwarder = degraded
    forwarder.set_mode("down")
    headers = client_headers()
    url = f"{stack.url('grayscale')}/grayscale"
    body = seed_file("food.jpg")
    down = [httpx.post(url, content=body, headers=headers, timeout=30).status_code
            for _ in range(7)]
    assert down == [200] * 7  # failed open: nothing counted
    forwarder.set_mode("forward")
    deadline = time.monotonic() + 10
    statuses: list[int] = []
    while 429 not in statuses and time.monotonic() < deadline:
        statuses.append(httpx.post(url, content=body, headers=headers, timeout=30).status_code)
    assert 429 in statuses

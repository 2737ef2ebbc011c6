"""Pub/sub under resiliency policies: delivery retried under the component's inbound policy
before a message goes to its dead-letter topic, and publishing retried under the outbound one
while the broker (a private redis-server) is down."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from sidecar.testing import run_sidecar
from tests.sidecar.helpers import component_doc, unique_id, wait_until, write_components

from .app import SubscriberApp, run_subscriber_app

PUBSUB = "resilient"
SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"pubsubname": PUBSUB, "topic": "flaky", "route": "/flaky", "deadLetterTopic": "flaky-dead"},
    {"pubsubname": PUBSUB, "topic": "hopeless", "route": "/hopeless",
     "deadLetterTopic": "flaky-dead"},
    {"pubsubname": PUBSUB, "topic": "flaky-dead", "route": "/dead"},
]


def _resiliency(inbound_retries: int, outbound_retries: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency", "metadata": {"name": "r"},
        "spec": {
            "policies": {"retries": {
                "inbound": {"policy": "constant", "duration": "50ms",
                            "maxRetries": inbound_retries},
                "outbound": {"policy": "constant", "duration": "500ms",
                             "maxRetries": outbound_retries}}},
            "targets": {"components": {PUBSUB: {"inbound": {"retry": "inbound"},
                                                "outbound": {"retry": "outbound"}}}},
        },
    }


def _folder(tmp_path: Path, pubsub: dict[str, Any], resiliency: dict[str, Any]) -> Path:
    folder = write_components(tmp_path / "resources", pubsub)
    (folder / "resiliency.yaml").write_text(yaml.safe_dump(resiliency), encoding="utf-8")
    return folder


@pytest.fixture
def in_memory(tmp_path: Path) -> Iterator[tuple[httpx.Client, SubscriberApp]]:
    folder = _folder(tmp_path, component_doc(PUBSUB, "pubsub.in-memory"), _resiliency(3))
    with run_subscriber_app(SUBSCRIPTIONS) as app, \
            run_sidecar(unique_id("resilient"), [folder], app_port=app.port) as sidecar, \
            httpx.Client(base_url=sidecar.http_url, timeout=10) as http:
        assert wait_until(lambda: len(http.get("/v1.0/metadata").json()
                                      .get("subscriptions", [])) == len(SUBSCRIPTIONS))
        yield http, app


def test_retry_is_retried_under_the_inbound_policy_before_any_dead_letter(
        in_memory: tuple[httpx.Client, SubscriberApp]) -> None:
    http, app = in_memory
    app.replies["/flaky"] = [(200, b'{"status":"RETRY"}'), (503, b"db down"),
                             (200, b'{"status":"SUCCESS"}')]
    assert http.post(f"/v1.0/publish/{PUBSUB}/flaky", json={"n": 1}).status_code == 204
    attempts = app.wait_for("/flaky", 3)
    assert len({a.body["id"] for a in attempts}) == 1
    time.sleep(0.5)
    assert len(app.at("/flaky")) == 3
    assert app.at("/dead") == []


def test_dead_letter_once_the_inbound_policy_gives_up(
        in_memory: tuple[httpx.Client, SubscriberApp]) -> None:
    http, app = in_memory
    app.replies["/hopeless"] = [(200, b'{"status":"RETRY"}')]
    assert http.post(f"/v1.0/publish/{PUBSUB}/hopeless", json={"n": 2}).status_code == 204
    dead = app.wait_for("/dead")[0].body
    # One delivery and the policy's three retries, then the dead-letter topic.
    assert len(app.at("/hopeless")) == 4
    assert dead["data"] == {"n": 2} and dead["id"] == app.at("/hopeless")[0].body["id"]


def test_publish_is_retried_while_the_broker_is_down(
        tmp_path: Path, private_redis: Callable[[], subprocess.Popen[bytes]]) -> None:
    port = private_redis.port  # type: ignore[attr-defined]
    server = private_redis()
    pubsub = component_doc(PUBSUB, "pubsub.redis", {
        "redisHost": f"127.0.0.1:{port}", "dialTimeout": "200ms", "redisMaxRetries": "0"})
    folder = _folder(tmp_path, pubsub, _resiliency(0, outbound_retries=10))
    with run_sidecar(unique_id("publisher"), [folder]) as sidecar, \
            httpx.Client(base_url=sidecar.http_url, timeout=30) as http:
        server.terminate()
        server.wait()
        restarted: list[subprocess.Popen[bytes]] = []
        # The broker comes back 1.5 s into the publish: the outbound policy (every 500 ms,
        # up to 10 retries) keeps trying, so the caller sees success, not a 500.
        timer = _later(1.5, lambda: restarted.append(private_redis()))
        started = time.monotonic()
        response = http.post(f"/v1.0/publish/{PUBSUB}/orders", json={"kept": True})
        elapsed = time.monotonic() - started
        timer.join()
    assert response.status_code == 204, response.text
    assert elapsed > 1.0
    entries: Any = redis.Redis(port=port).xrange("orders")
    assert len(entries) == 1
    assert json.loads(entries[0][1][b"data"])["data"] == {"kept": True}


def _later(delay: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.start()
    return timer

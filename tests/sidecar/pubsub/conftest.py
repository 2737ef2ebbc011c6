"""One real runtime with ``pubsub.in-memory`` components, declarative subscription files and a
subscriber app serving programmatic ones; shared by the pub/sub tests of this folder.

Components: ``pubsub`` (no scopes), ``scoped`` (``publishingScopes`` lets this app publish only
``allowed`` and ``protected``; ``allowedTopics`` allowed, protected, open; ``protectedTopics``
protected). Routes are named after the test that uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sidecar.testing import Sidecar, run_sidecar
from tests.sidecar.helpers import component_doc, unique_id, write_components

from .app import SubscriberApp, run_subscriber_app

__all__ = ["APP_ID", "PUBSUB", "SCOPED", "Stack", "stack"]

APP_ID = unique_id("pubsub-app")
PUBSUB = "pubsub"
SCOPED = "scoped"

PROGRAMMATIC: list[dict[str, Any]] = [
    {"pubsubname": PUBSUB, "topic": "orders", "route": "/orders"},
    {"pubsubname": PUBSUB, "topic": "routed", "routes": {
        "rules": [{"match": 'event.type == "widget"', "path": "/widgets"},
                  {"match": "event.data.size > 3", "path": "/big"}],
        "default": "/routed-default"}},
    {"pubsubname": PUBSUB, "topic": "retry", "route": "/retry"},
    {"pubsubname": PUBSUB, "topic": "drop", "route": "/drop", "deadLetterTopic": "dead"},
    {"pubsubname": PUBSUB, "topic": "dead", "route": "/dead"},
    {"pubsubname": PUBSUB, "topic": "status", "route": "/status"},
    {"pubsubname": PUBSUB, "topic": "raw", "route": "/raw", "metadata": {"rawPayload": "true"}},
    {"pubsubname": PUBSUB, "topic": "bulk", "route": "/bulk",
     "bulkSubscribe": {"enabled": True, "maxMessagesCount": 10, "maxAwaitDurationMs": 300}},
    {"pubsubname": PUBSUB, "topic": "a/b", "route": "/slashed"},
    {"pubsubname": PUBSUB, "topic": "grpc", "route": "/grpc"},
    {"pubsubname": PUBSUB, "topic": "grpc/bulk", "route": "/grpc-bulk"},
]


def _subscription(version: str, name: str, spec: dict[str, Any],
                  scopes: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": f"dapr.io/{version}", "kind": "Subscription",
                           "metadata": {"name": name}, "spec": spec}
    if scopes is not None:
        doc["scopes"] = scopes
    return doc


def _resources(folder: Path) -> Path:
    write_components(
        folder,
        component_doc(PUBSUB, "pubsub.in-memory"),
        component_doc(SCOPED, "pubsub.in-memory", {
            "publishingScopes": f"{APP_ID}=allowed,protected;other-app=open",
            "allowedTopics": "allowed,protected,open",
            "protectedTopics": "protected"}))
    docs = [
        _subscription("v1alpha1", "declared-v1", {
            "pubsubname": PUBSUB, "topic": "declared-v1", "route": "/declared-v1"},
            scopes=[APP_ID]),
        _subscription("v2alpha1", "declared-v2", {
            "pubsubname": PUBSUB, "topic": "declared-v2", "routes": {
                "rules": [{"match": 'event.type == "special"', "path": "/declared-special"}],
                "default": "/declared-v2"}}),
        _subscription("v1alpha1", "not-mine", {
            "pubsubname": PUBSUB, "topic": "not-mine", "route": "/not-mine"},
            scopes=["some-other-app"]),
    ]
    (folder / "subscriptions.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return folder


@dataclass(frozen=True)
class Stack:
    sidecar: Sidecar
    app: SubscriberApp
    http: httpx.Client


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = _resources(tmp_path_factory.mktemp("pubsub"))
    with run_subscriber_app(PROGRAMMATIC) as app, \
            run_sidecar(APP_ID, [folder], app_port=app.port) as sidecar, \
            httpx.Client(base_url=sidecar.http_url, timeout=10) as http:
        _wait_subscribed(http, len(PROGRAMMATIC) + 2)
        yield Stack(sidecar, app, http)


def _wait_subscribed(http: httpx.Client, count: int) -> None:
    import time
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(http.get("/v1.0/metadata").json().get("subscriptions", [])) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"subscriptions: {http.get('/v1.0/metadata').json()}")

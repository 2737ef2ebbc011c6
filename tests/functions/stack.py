"""The integration stack: three local Dapr runtimes against real Redis and MariaDB, and the
three functions as real functions-framework processes, started once per test session.

Component files are written into a temporary folder (the services profile of config/, with a
test-specific secrets file and a temporary images folder). Events travel as in that profile:
published to ``events-pubsub`` (``pubsub.redis``), delivered to events-service by a declarative
Subscription under an inbound retry policy; the topic is the stack's own, so stacks never read
each other's events. ``pubsub=False`` leaves pub/sub out: the functions then record events by
service invocation, the seed's way. App ids carry a random suffix, so state keys never meet a
dev stack's on the same Redis; the runtimes share a temporary name-resolution folder.
``TRUST_PROXY`` is on, so each test can act as its own client through ``X-Forwarded-For`` and
the rate limit (RATE_LIMIT) never leaks between tests.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import uuid
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis
import yaml

from sidecar.testing import Sidecar, run_sidecar
from tests.conftest import MYSQL_DSN

from .processes import FunctionProcess, free_port, start_function

__all__ = ["RATE_LIMIT", "RedisForwarder", "Stack", "client_headers", "sidecar_with_app_port",
           "start_stack", "write_components"]

RATE_LIMIT = 5
_addresses = itertools.count(1)


def client_headers() -> dict[str, str]:
    """Headers that make the next requests come from a client no other test uses."""
    n = next(_addresses)
    return {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}


def write_components(folder: Path, ids: dict[str, str], redis_address: str,
                     db_url: str = MYSQL_DSN, events_topic: str | None = None,
                     broker: str = "redis") -> Path:
    """The services profile for ``ids`` (function name -> app id), in ``folder``; the events
    table at ``db_url`` (MariaDB by default, or a ``sqlite:`` URL); events published to
    ``events_topic`` and delivered to events-service, unless it is None, through ``broker``:
    ``redis`` (the services profile's) or ``sqlite`` (the embedded profile's file)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secrets.json").write_text(json.dumps({"DB_URL": {"MYSQL": db_url}}))
    files = {
        "statestore.yaml": ("state.redis", "statestore", [
            ("redisHost", redis_address), ("redisPassword", "")], None, None),
        "secretstore.yaml": ("secretstores.local.file", "local-store", [
            ("secretsFile", str(folder / "secrets.json")), ("nestedSeparator", ":")],
            None, None),
        "images.yaml": ("bindings.localstorage", "images", [
            ("rootPath", str(folder / "images"))], None, ids["grayscale"]),
        "events-db.yaml": ("bindings.mysql", "events-db", [], "DB_URL:MYSQL", ids["events"]),
    }
    for filename, (kind, name, metadata, secret, scope) in files.items():
        lines = ["apiVersion: dapr.io/v1alpha1", "kind: Component", "metadata:",
                 f"  name: {name}", "spec:", f"  type: {kind}", "  version: v1", "  metadata:"]
        lines += [f"    - name: {key}\n      value: {json.dumps(value)}" for key, value in metadata]
        if secret:
            lines += [f"    - name: url\n      secretKeyRef:\n        name: {secret}\n"
                      f"        key: {secret}", "auth:", "  secretStore: local-store"]
        if scope:
            lines += ["scopes:", f"  - {scope}"]
        (folder / filename).write_text("\n".join(lines) + "\n")
    if events_topic is not None:
        _write_event_path(folder, ids, redis_address, events_topic, broker)
    return folder


def _write_event_path(folder: Path, ids: dict[str, str], redis_address: str,
                      topic: str, broker: str) -> None:
    """events-pubsub, the Subscription to ``topic`` and its delivery policy (as serverless.yaml
    renders them, with test-sized timings)."""
    # A runtime killed mid-delivery: its pending events are claimed again after 3 s.
    timings = [{"name": "processingTimeout", "value": "3s"},
               {"name": "redeliverInterval", "value": "1s"}]
    if broker == "sqlite":
        kind, where = "pubsub.local.sqlite", [
            {"name": "databasePath", "value": str(folder / "events-pubsub.db")}]
    else:
        kind, where = "pubsub.redis", [{"name": "redisHost", "value": redis_address},
                                       {"name": "redisPassword", "value": ""}]
    (folder / "events-pubsub.yaml").write_text(yaml.safe_dump({
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "events-pubsub"},
        "spec": {"type": kind, "version": "v1", "metadata": where + timings},
        "scopes": list(ids.values())}))
    (folder / "events-to-db.yaml").write_text(yaml.safe_dump({
        "apiVersion": "dapr.io/v2alpha1", "kind": "Subscription",
        "metadata": {"name": "events-to-db"},
        "spec": {"pubsubname": "events-pubsub", "topic": topic, "routes": {"default": "/event"},
                 "bulkSubscribe": {"enabled": True, "maxMessagesCount": 100,
                                   "maxAwaitDurationMs": 200}},
        "scopes": [ids["events"]]}))
    (folder / "resiliency.yaml").write_text(yaml.safe_dump({
        "apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency", "metadata": {"name": "events"},
        "spec": {"policies": {"retries": {"delivery": {
            "policy": "exponential", "maxInterval": "1s", "maxRetries": -1}}},
            "targets": {"components": {"events-pubsub": {"inbound": {"retry": "delivery"}}}}},
        "scopes": [ids["events"]]}))


@dataclass
class Stack:
    folder: Path
    ids: dict[str, str]
    #: The Redis stream events go through; None when events go by service invocation.
    events_topic: str | None = None
    sidecars: dict[str, Sidecar] = field(default_factory=dict)
    functions: dict[str, FunctionProcess] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.functions[name].url


def start_stack(stack: ExitStack, folder: Path, redis_address: str = "127.0.0.1:6379",
                env: dict[str, str] | None = None, names: tuple[str, ...] = (
                    "events", "grayscale", "classify"),
                events_app_id: str | None = None, db_url: str = MYSQL_DSN,
                pubsub: bool = True, broker: str = "redis") -> Stack:
    """Runtimes and functions for ``names``; everything stops when ``stack`` closes.

    The events table is at ``db_url``: MariaDB by default, or a ``sqlite:`` URL for a table no
    other test session can touch."""
    suffix = uuid.uuid4().hex[:8]
    ids = {"grayscale": f"image-api-grayscale-{suffix}", "classify": f"image-api-classify-{suffix}",
           "events": f"events-service-{suffix}"}
    topic = f"events-{suffix}" if pubsub else None
    components = write_components(folder / "components", ids, redis_address, db_url, topic,
                                  broker)
    if topic is not None and broker == "redis":
        stack.callback(_delete_stream, redis_address, topic)
    result = Stack(folder, ids, topic)
    registry = folder / "registry"
    for name in names:
        sidecar, port = sidecar_with_app_port(stack, ids[name], [components], registry)
        fn_env = {**sidecar.env, "TRUST_PROXY": "true", "RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
                  "EVENTS_APP_ID": events_app_id or ids["events"],
                  "EVENTS_TOPIC": topic or "events", **(env or {})}
        fn = start_function(name, folder, fn_env, workers=2, threads=4, port=port)
        stack.callback(fn.stop)
        result.sidecars[name], result.functions[name] = sidecar, fn
    return result


def _delete_stream(redis_address: str, topic: str) -> None:
    """Remove the stack's own stream from the shared Redis."""
    host, _, port = redis_address.rpartition(":")
    with suppress(redis.RedisError):
        redis.Redis(host=host, port=int(port)).delete(topic)


def sidecar_with_app_port(stack: ExitStack, app_id: str, resources: list[Path],
                          registry: Path | None = None) -> tuple[Sidecar, int]:
    """A runtime for ``app_id`` and the free port its app is to listen on (the runtime's own
    two ports avoid it); the runtime stops when ``stack`` closes."""
    port = free_port()
    sidecar = stack.enter_context(run_sidecar(app_id, resources, app_port=port,
                                              registry_dir=registry))
    return sidecar, port


class RedisForwarder:
    """A TCP relay to Redis that a test can break: ``mode`` is "forward", "down" (connections
    are closed at once) or "stall" (connections are held open and nothing is relayed)."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 6379)) -> None:
        self.target = target
        self.mode = "forward"
        self._conns: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "forward":
            for conn in list(self._conns):
                conn.close()
            self._conns.clear()

    def close(self) -> None:
        self.set_mode("down")
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "down":
                client.close()
            elif self.mode == "stall":
                self._conns.append(client)
            else:
                upstream = socket.create_connection(self.target)
                self._conns += [client, upstream]
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while self.mode == "forward" and (data := src.recv(65536)):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with suppress(OSError):
                sock.close()

"""Publishing and delivering through the runtime's ``pubsub.redis``, against redis-py alone.

Starts a bare HTTP app (``_harness.app_server``) that subscribes programmatically to one
topic, and ``python -m sidecar`` for it with one ``pubsub.redis`` component (Redis at
``BENCH_REDIS_HOST``, default 127.0.0.1:6379). In one run:

  latency     ``BENCH_N`` (2000) dapr SDK ``publish_event`` calls (SDK -> gRPC -> runtime ->
              CloudEvent -> XADD) against redis-py ``XADD`` of the same fields, interleaved in
              blocks of ``BENCH_BLOCK`` (100), on a topic nobody subscribes to; the runtime's
              added latency is the difference at p50 and p90
  throughput  ``BENCH_EVENTS`` (2000) events published one after another by the SDK, read by
              the runtime from the stream, POSTed to the app and acknowledged: events per
              second from the first publish to the app's last delivery; against one thread
              doing ``XADD`` and another ``XREADGROUP`` + ``XACK`` on the same Redis
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import unittest.mock
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from dapr.clients import DaprClient

from bench._harness import (
    REPO_ROOT,
    app_server,
    interleaved,
    percentile_ms,
    print_latencies,
    report,
)
from sidecar.testing import run_sidecar

__all__ = ["main"]

_PUBSUB = "pubsub"
_ROUTE = "/events"
_DATA = b'{"ip":"203.0.113.7","last":1732460000}'
_WARMUP = 200
_STARTUP_TIMEOUT = 30.0
_DELIVERY_TIMEOUT = 120.0
_READ_COUNT = 100  # XREADGROUP COUNT of the bare loop (the runtime's queueDepth default)
_COMPONENT = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: pubsub.redis
  version: v1
  metadata:
    - name: redisHost
      value: "{host}"
"""


@contextmanager
def _stack(app_id: str, redis_host: str, topic: str) -> Iterator[int]:
    """The app subscribed to ``topic`` and its runtime; yields the app's port, with
    DAPR_HTTP_PORT / DAPR_GRPC_PORT pointing at the runtime."""
    subscriptions = [{"pubsubname": _PUBSUB, "topic": topic, "route": _ROUTE}]
    with tempfile.TemporaryDirectory(prefix="bench-pubsub-") as tmp, \
            app_server(subscriptions) as app_port:
        components = Path(tmp) / "components"
        components.mkdir()
        (components / "pubsub.yaml").write_text(_COMPONENT.format(name=_PUBSUB, host=redis_host))
        with run_sidecar(app_id, [components], app_port=app_port, cwd=REPO_ROOT,
                         timeout=_STARTUP_TIMEOUT, log_level="warn") as sidecar:
            with unittest.mock.patch.dict(os.environ, sidecar.env):
                yield app_port


def _delivered(app_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/count", timeout=10) as reply:
        return int(reply.read())


def _wait_delivered(app_port: int, expected: int) -> None:
    deadline = time.monotonic() + _DELIVERY_TIMEOUT
    while _delivered(app_port) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app got {_delivered(app_port)} of {expected} events")
        time.sleep(0.005)


def _latency(publish: Callable[[], object], direct: Callable[[], object], n: int,
             block: int) -> dict[str, list[float]]:
    return interleaved({"sdk": publish, "direct": direct}, n, block, _WARMUP)


def _runtime_rate(client: DaprClient, app_port: int, topic: str, events: int) -> float:
    """Events per second, first publish to last delivery, through the runtime."""
    before = _delivered(app_port)
    began = time.perf_counter()
    for _ in range(events):
        client.publish_event(_PUBSUB, topic, _DATA, data_content_type="application/json")
    _wait_delivered(app_port, before + events)
    return events / (time.perf_counter() - began)


def _bare_rate(direct: redis.Redis, stream: str, events: int) -> float:
    """Events per second of one XADD thread and one XREADGROUP + XACK thread."""
    direct.xgroup_create(stream, "bench", id="0", mkstream=True)
    acked = 0

    def consume() -> None:
        nonlocal acked
        while acked < events:
            replies: Any = direct.xreadgroup("bench", "bench", {stream: ">"},
                                             count=_READ_COUNT, block=1000)
            for _, entries in replies or []:
                for message_id, _fields in entries:
                    direct.xack(stream, "bench", message_id)
                    acked += 1

    consumer = threading.Thread(target=consume)
    began = time.perf_counter()
    consumer.start()
    for _ in range(events):
        direct.xadd(stream, {"data": _DATA, "metadata": "{}"})
    consumer.join(_DELIVERY_TIMEOUT)
    return acked / (time.perf_counter() - began)


def _report(samples: dict[str, list[float]], runtime_rate: float, bare_rate: float,
            n: int, events: int) -> None:
    print(f"publish latency: {n} samples each, interleaved")
    print_latencies({"sdk": "dapr SDK publish_event (gRPC, runtime, XADD)",
                     "direct": "redis-py XADD, direct"}, samples)
    for percent in (50, 90):
        added = percentile_ms(samples["sdk"], percent) - percentile_ms(samples["direct"],
                                                                       percent)
        print(f"  runtime adds per publish, p{percent}: {added:.3f} ms")
        report(f"runtime adds per publish, p{percent}", added, "ms")
    print(f"throughput, {events} events: runtime {runtime_rate:.0f}/s, bare redis-py "
          f"{bare_rate:.0f}/s")
    report("publish -> app -> ack through the runtime", runtime_rate, "events/s")
    report("bare redis-py XADD / XREADGROUP / XACK", bare_rate, "events/s")
    report("runtime / bare redis-py events per second", runtime_rate / bare_rate, "x")


def main() -> int:
    n = int(os.environ.get("BENCH_N", "2000"))
    block = int(os.environ.get("BENCH_BLOCK", "100"))
    events = int(os.environ.get("BENCH_EVENTS", "2000"))
    redis_host = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1:6379")
    host, _, port = redis_host.rpartition(":")
    direct = redis.Redis(host=host, port=int(port))
    app_id = f"bench-pubsub-{os.getpid()}"
    subscribed, unread = f"{app_id}-delivered", f"{app_id}-published"
    bare_latency, bare_loop = f"{app_id}-direct", f"{app_id}-bare-loop"
    try:
        with _stack(app_id, redis_host, subscribed) as app_port, DaprClient() as client:
            client.publish_event(_PUBSUB, subscribed, _DATA, data_content_type="application/json")
            _wait_delivered(app_port, 1)  # the subscription is running
            samples = _latency(
                lambda: client.publish_event(_PUBSUB, unread, _DATA,
                                             data_content_type="application/json"),
                lambda: direct.xadd(bare_latency, {"data": _DATA, "metadata": "{}"}), n, block)
            runtime_rate = _runtime_rate(client, app_port, subscribed, events)
        bare_rate = _bare_rate(direct, bare_loop, events)
    finally:
        direct.delete(subscribed, unread, bare_latency, bare_loop)
    _report(samples, runtime_rate, bare_rate, n, events)
    return 0

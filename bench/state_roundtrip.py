"""What one state round trip costs through the local runtime, against Redis directly.

Starts ``python -m sidecar`` with one ``state.redis`` component, then measures in one run
``BENCH_N`` (default 2000) pairs of each, interleaved in blocks of ``BENCH_BLOCK`` (100) so
they share the machine's noise:

  sdk     dapr SDK ``save_state`` + ``get_state`` (SDK -> gRPC -> runtime -> Redis)
  stub    the same two RPCs on the bare generated stub (what the SDK itself adds)
  direct  redis-py ``SET`` + ``GET``

and prints p50 and mean per pair and the sdk/direct ratio (goal: <= 3x).
Redis is ``BENCH_REDIS_HOST`` (default 127.0.0.1:6379).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import redis
from dapr.clients import DaprClient
from dapr.conf import settings as sdk_settings
from dapr.proto import api_service_v1, api_v1, common_v1

__all__ = ["main"]

GOAL_RATIO = 3.0
STORE = "statestore"
STARTUP_TIMEOUT = 30.0
WARMUP_PAIRS = 200
VALUE = b'{"ip":"203.0.113.7","last":1732460000}'
COMPONENT = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {store}
spec:
  type: state.redis
  version: v1
  metadata:
    - name: redisHost
      value: "{host}"
"""

Pair = Callable[[int], None]


@contextmanager
def _runtime(app_id: str, redis_host: str) -> Iterator[tuple[int, int]]:
    """A ``python -m sidecar`` subprocess with one Redis state store; yields (http, grpc) ports."""
    from tests.dapr_runtime import run_sidecar

    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        components = Path(tmp) / "components"
        components.mkdir()
        (components / "statestore.yaml").write_text(COMPONENT.format(store=STORE, host=redis_host))
        with run_sidecar(app_id, [components], timeout=STARTUP_TIMEOUT,
                         log_level="warn") as sidecar:
            yield sidecar.http_port, sidecar.grpc_port


def _timed(pair: Pair, start: int, count: int, into: list[float]) -> None:
    clock = time.perf_counter
    for i in range(start, start + count):
        began = clock()
        pair(i)
        into.append(clock() - began)


def _measure(pairs: dict[str, Pair], n: int, block: int) -> dict[str, list[float]]:
    """``n`` timed runs of every pair, alternating blocks of ``block`` between them."""
    for pair in pairs.values():
        for i in range(WARMUP_PAIRS):
            pair(i)
    samples: dict[str, list[float]] = {name: [] for name in pairs}
    for start in range(0, n, block):
        for name, pair in pairs.items():
            _timed(pair, start, min(block, n - start), samples[name])
    return samples


def _pairs(client: DaprClient, stub: api_service_v1.DaprStub, direct: redis.Redis,
           direct_prefix: str) -> dict[str, Pair]:
    def sdk(i: int) -> None:
        client.save_state(STORE, f"sdk-{i}", VALUE)
        client.get_state(STORE, f"sdk-{i}")

    def bare(i: int) -> None:
        stub.SaveState(api_v1.SaveStateRequest(
            store_name=STORE, states=[common_v1.StateItem(key=f"stub-{i}", value=VALUE)]))
        stub.GetState(api_v1.GetStateRequest(store_name=STORE, key=f"stub-{i}"))

    def plain(i: int) -> None:
        direct.set(f"{direct_prefix}{i}", VALUE)
        direct.get(f"{direct_prefix}{i}")

    return {"sdk": sdk, "stub": bare, "direct": plain}


def _report(samples: dict[str, list[float]], n: int, block: int) -> None:
    labels = {"sdk": "dapr SDK save_state+get_state (gRPC, runtime, Redis)",
              "stub": "bare gRPC stub SaveState+GetState (no SDK)",
              "direct": "redis-py SET+GET, direct"}
    p50 = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    mean = {name: statistics.fmean(values) * 1e6 for name, values in samples.items()}
    print(f"state round trip: {n} pairs each, interleaved in blocks of {block}")
    for name, label in labels.items():
        print(f"  {label:<55} p50 {p50[name]:7.0f} us   mean {mean[name]:7.0f} us")
    ratio = p50["sdk"] / p50["direct"]
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"  ratio sdk/direct: p50 {ratio:.2f}x, mean {mean['sdk'] / mean['direct']:.2f}x "
          f"(goal <= {GOAL_RATIO:g}x: {verdict})")


def main() -> int:
    n = int(os.environ.get("BENCH_N", "2000"))
    block = int(os.environ.get("BENCH_BLOCK", "100"))
    redis_host = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1:6379")
    app_id = f"bench-state-{os.getpid()}"
    host, _, port = redis_host.rpartition(":")
    direct = redis.Redis(host=host, port=int(port))
    direct_prefix = f"{app_id}-direct-"
    with _runtime(app_id, redis_host) as (http_port, grpc_port):
        sdk_settings.DAPR_HTTP_PORT = http_port  # the SDK's health wait reads it
        address = f"127.0.0.1:{grpc_port}"
        with DaprClient(address=address) as client, grpc.insecure_channel(address) as channel:
            pairs = _pairs(client, api_service_v1.DaprStub(channel), direct, direct_prefix)
            try:
                samples = _measure(pairs, n, block)
            finally:
                for pattern in (f"{app_id}||*", f"{direct_prefix}*"):
                    for key in direct.scan_iter(match=pattern, count=1000):
                        direct.delete(key)
    _report(samples, n, block)
    return 0

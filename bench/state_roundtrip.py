"""What the local runtime adds to a state call, against Redis directly.

Starts ``python -m sidecar`` with one ``state.redis`` component (Redis at
``BENCH_REDIS_HOST``, default 127.0.0.1:6379) and a second process serving one no-op gRPC
method, then measures in one run ``BENCH_N`` (default 2000) of each, interleaved in blocks of
``BENCH_BLOCK`` (100) so they share the machine's noise:

  sdk     dapr SDK ``save_state`` + ``get_state``, timed as a pair (SDK -> gRPC -> runtime ->
          Redis)
  stub    the same two RPCs on the bare generated stub, each call timed
  direct  redis-py ``SET`` and ``GET``, each call timed
  noop    a no-op unary grpcio call to the other process, each call timed: the floor any
          gRPC hop between two Python processes costs here

The runtime's added latency per call is stub minus direct, at p50 and at p90. Goals: p50
<= 0.4 ms, p90 <= 0.75 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
import unittest.mock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import redis
from dapr.clients import DaprClient
from dapr.proto import api_service_v1, api_v1, common_v1

from bench._harness import (
    NOOP_METHOD,
    REPO_ROOT,
    noop_grpc_server,
    percentile_ms,
    print_latencies,
    report,
)
from sidecar.testing import run_sidecar

__all__ = ["main"]

_GOALS_MS = {50: 0.4, 90: 0.75}  # percentile -> the most the runtime may add per call
_STORE = "statestore"
_STARTUP_TIMEOUT = 30.0
_WARMUP = 200
_VALUE = b'{"ip":"203.0.113.7","last":1732460000}'
_COMPONENT = """apiVersion: dapr.io/v1alpha1
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
#: Runs sample ``i`` and appends the seconds each timed call took.
_Probe = Callable[[int, list[float]], None]


@contextmanager
def _runtime(app_id: str, redis_host: str) -> Iterator[int]:
    """A ``python -m sidecar`` subprocess with one Redis state store; yields its gRPC port
    with DAPR_HTTP_PORT / DAPR_GRPC_PORT pointing at it (the SDK's health wait reads them)."""
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        components = Path(tmp) / "components"
        components.mkdir()
        (components / "statestore.yaml").write_text(
            _COMPONENT.format(store=_STORE, host=redis_host))
        with run_sidecar(app_id, [components], cwd=REPO_ROOT, timeout=_STARTUP_TIMEOUT,
                         log_level="warn") as sidecar:
            with unittest.mock.patch.dict(os.environ, sidecar.env):
                yield sidecar.grpc_port


def _timed(*calls: Callable[[], object]) -> Callable[[list[float]], None]:
    """Run ``calls`` in order, appending each one's duration."""
    clock = time.perf_counter

    def run(into: list[float]) -> None:
        for call in calls:
            began = clock()
            call()
            into.append(clock() - began)
    return run


def _measure(probes: dict[str, _Probe], n: int, block: int) -> dict[str, list[float]]:
    """``n`` samples of every probe, alternating blocks of ``block`` between them."""
    for probe in probes.values():
        for i in range(_WARMUP):
            probe(i, [])
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for start in range(0, n, block):
        for name, probe in probes.items():
            for i in range(start, min(start + block, n)):
                probe(i, samples[name])
    return samples


def _probes(client: DaprClient, stub: api_service_v1.DaprStub, direct: redis.Redis,
            direct_prefix: str, noop: Callable[[bytes], bytes]) -> dict[str, _Probe]:
    clock = time.perf_counter

    def sdk(i: int, into: list[float]) -> None:
        began = clock()
        client.save_state(_STORE, f"sdk-{i}", _VALUE)
        client.get_state(_STORE, f"sdk-{i}")
        into.append(clock() - began)

    def bare(i: int, into: list[float]) -> None:
        _timed(lambda: stub.SaveState(api_v1.SaveStateRequest(
                   store_name=_STORE, states=[common_v1.StateItem(key=f"stub-{i}", value=_VALUE)])),
               lambda: stub.GetState(api_v1.GetStateRequest(store_name=_STORE, key=f"stub-{i}"))
               )(into)

    def plain(i: int, into: list[float]) -> None:
        _timed(lambda: direct.set(f"{direct_prefix}{i}", _VALUE),
               lambda: direct.get(f"{direct_prefix}{i}"))(into)

    def floor(i: int, into: list[float]) -> None:
        _timed(lambda: noop(_VALUE))(into)

    return {"sdk": sdk, "stub": bare, "direct": plain, "noop": floor}


def _report(samples: dict[str, list[float]], n: int, block: int) -> None:
    labels = {"sdk": "dapr SDK save_state+get_state pair (gRPC, runtime, Redis)",
              "stub": "bare gRPC stub SaveState or GetState, per call",
              "direct": "redis-py SET or GET, direct, per call",
              "noop": "no-op grpcio call between two processes (floor)"}
    print(f"state round trip: {n} samples each, interleaved in blocks of {block}")
    print_latencies(labels, samples)
    report("SDK save_state+get_state pair p50", percentile_ms(samples["sdk"], 50), "ms")
    for percent, goal in _GOALS_MS.items():
        added = (percentile_ms(samples["stub"], percent)
                 - percentile_ms(samples["direct"], percent))
        floor = percentile_ms(samples["noop"], percent)
        print(f"  runtime adds per call, p{percent}: {added:.3f} ms (goal <= {goal:g} ms; "
              f"no-op gRPC floor {floor:.3f} ms)")
        report(f"runtime adds per state call, p{percent}", added, "ms", f"<= {goal:g} ms",
               added <= goal)
        report(f"floor: no-op grpcio call between processes, p{percent}", floor, "ms")


def main() -> int:
    n = int(os.environ.get("BENCH_N", "2000"))
    block = int(os.environ.get("BENCH_BLOCK", "100"))
    redis_host = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1:6379")
    app_id = f"bench-state-{os.getpid()}"
    host, _, port = redis_host.rpartition(":")
    direct = redis.Redis(host=host, port=int(port))
    direct_prefix = f"{app_id}-direct-"
    with _runtime(app_id, redis_host) as grpc_port, noop_grpc_server() as noop_address:
        address = f"127.0.0.1:{grpc_port}"
        with DaprClient(address=address) as client, grpc.insecure_channel(address) as channel, \
                grpc.insecure_channel(noop_address) as noop_channel:
            probes = _probes(client, api_service_v1.DaprStub(channel), direct, direct_prefix,
                             noop_channel.unary_unary(NOOP_METHOD))
            try:
                samples = _measure(probes, n, block)
            finally:
                for pattern in (f"{app_id}||*", f"{direct_prefix}*"):
                    for key in direct.scan_iter(match=pattern, count=1000):
                        direct.delete(key)
    _report(samples, n, block)
    return 0

"""What two runtimes add to a service invocation, against calling the app directly.

Starts a bare HTTP app (``_harness.app_server``), runtime B for it (``--app-port``) and
runtime A with no app, both in one name-resolution folder, then measures in one run
``BENCH_N`` (default 2000) calls of each, interleaved in blocks of ``BENCH_BLOCK`` (100):

  sdk     dapr SDK ``invoke_method`` over gRPC (``DaprGrpcClient``): SDK -> runtime A ->
          runtime B -> HTTP app, a POST of a small JSON body echoed back
  stub    the same call on the bare generated stub (``InvokeService``)
  direct  urllib3 POST straight to the app over a kept-alive connection
  noop    a no-op unary grpcio call to another process (``_harness.noop_grpc_server``)

The runtimes' added latency is sdk (or stub) minus direct, at p50 and p90. Goal: p90 <= 1.40
ms added, daprd's published figure for the same two-sidecar path. The path has two gRPC hops
(caller -> A, A -> B), so two no-op calls are its floor, printed beside it.
"""

from __future__ import annotations

import os
import tempfile
import unittest.mock
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import grpc
import urllib3
from dapr.clients.grpc.client import DaprGrpcClient
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import any_pb2

from bench._harness import (
    NOOP_METHOD,
    REPO_ROOT,
    app_server,
    interleaved,
    noop_grpc_server,
    percentile_ms,
    print_latencies,
    report,
)
from sidecar.testing import run_sidecar

__all__ = ["main"]

_GOAL_P90_MS = 1.40
_TARGET = "bench-invoke-target"
_CALLER = "bench-invoke-caller"
_METHOD = "echo"
_BODY = b'{"ip":"203.0.113.7","last":1732460000}'
_WARMUP = 200
_STARTUP_TIMEOUT = 30.0

_Probe = Callable[[], object]




def _probes(client: DaprGrpcClient, stub: api_service_v1.DaprStub,
            app: urllib3.HTTPConnectionPool, noop: Callable[[bytes], bytes]) -> dict[str, _Probe]:
    request = api_v1.InvokeServiceRequest(id=_TARGET, message=common_v1.InvokeRequest(
        method=_METHOD, data=any_pb2.Any(value=_BODY), content_type="application/json",
        http_extension=common_v1.HTTPExtension(verb=common_v1.HTTPExtension.Verb.POST)))

    def sdk() -> None:
        reply = client.invoke_method(_TARGET, _METHOD, _BODY, content_type="application/json",
                                     http_verb="POST")
        assert reply.data == _BODY

    def bare() -> None:
        assert stub.InvokeService(request).data.value == _BODY

    def direct() -> None:
        reply = app.urlopen("POST", f"/{_METHOD}", body=_BODY,
                            headers={"content-type": "application/json"})
        assert reply.data == _BODY

    def floor() -> None:
        noop(_BODY)

    return {"sdk": sdk, "stub": bare, "direct": direct, "noop": floor}


def _report(samples: dict[str, list[float]], n: int, block: int) -> None:
    labels = {"sdk": "dapr SDK invoke_method (gRPC, runtime A, runtime B, HTTP app)",
              "stub": "bare gRPC stub InvokeService (same path)",
              "direct": "urllib3 POST straight to the app, kept alive",
              "noop": "no-op grpcio call between two processes"}
    print(f"service invocation: {n} samples each, interleaved in blocks of {block}")
    print_latencies(labels, samples)
    for name in ("sdk", "stub"):
        for percent in (50, 90):
            added = percentile_ms(samples[name], percent) - percentile_ms(samples["direct"],
                                                                          percent)
            goal = f"<= {_GOAL_P90_MS:g} ms" if percent == 90 else ""
            print(f"  two runtimes add ({name}), p{percent}: {added:.3f} ms")
            report(f"two runtimes add to an invocation ({name}), p{percent}", added, "ms",
                   goal, added <= _GOAL_P90_MS if goal else None)
    for percent in (50, 90):
        floor = 2 * percentile_ms(samples["noop"], percent)
        print(f"  floor: two no-op grpcio hops, p{percent}: {floor:.3f} ms")
        report(f"floor: two no-op grpcio hops, p{percent}", floor, "ms")


def main() -> int:
    n = int(os.environ.get("BENCH_N", "2000"))
    block = int(os.environ.get("BENCH_BLOCK", "100"))
    with tempfile.TemporaryDirectory(prefix="bench-invoke-") as tmp, ExitStack() as stack:
        components = Path(tmp) / "components"  # neither runtime needs a component
        components.mkdir()
        registry = Path(tmp) / "registry"
        app_port = stack.enter_context(app_server())
        stack.enter_context(run_sidecar(
            _TARGET, [components], app_port=app_port, cwd=REPO_ROOT, registry_dir=registry,
            timeout=_STARTUP_TIMEOUT, log_level="warn"))
        caller = stack.enter_context(run_sidecar(
            _CALLER, [components], cwd=REPO_ROOT, registry_dir=registry,
            timeout=_STARTUP_TIMEOUT, log_level="warn"))
        address = f"127.0.0.1:{caller.grpc_port}"
        # The SDK's health wait reads DAPR_HTTP_PORT / DAPR_GRPC_PORT.
        stack.enter_context(unittest.mock.patch.dict(os.environ, caller.env))
        client = stack.enter_context(DaprGrpcClient(address=address))
        channel = stack.enter_context(grpc.insecure_channel(address))
        app = stack.enter_context(urllib3.HTTPConnectionPool("127.0.0.1", app_port, maxsize=1,
                                                             retries=False))
        noop = stack.enter_context(grpc.insecure_channel(
            stack.enter_context(noop_grpc_server()))).unary_unary(NOOP_METHOD)
        with warnings.catch_warnings():  # the SDK marks gRPC invoke_method as deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            samples = interleaved(_probes(client, api_service_v1.DaprStub(channel), app, noop),
                                  n, block, _WARMUP)
    _report(samples, n, block)
    return 0

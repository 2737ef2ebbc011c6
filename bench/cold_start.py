"""Cold start of classify: process start -> first answer to ``POST /classify`` (food.jpg), as a
ratio to a bare functions-framework hello function (process start -> first ``GET /``).

Also home of ``function_stack``, which the other benches use to run a function end to end:
its own local Dapr runtime (state in memory, the ``images`` binding absent, no events app, so
event recording fails fast in the background) and a functions-framework process.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

__all__ = ["function_stack", "main", "time_to_first_answer"]

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
_APP_IDS = {"grayscale": "image-api-grayscale", "classify": "image-api-classify",
            "events": "events-service"}
_STATE_IN_MEMORY = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
  metadata: []
"""
_HELLO = '''def hello(request):
    return "hello"
'''


@contextmanager
def function_stack(name: str, workers: int = 1, threads: int = 4,
                   env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A running function (with its sidecar when the runtime is available); yields its URL."""
    from tests.functions.processes import start_function

    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        full_env = {"RATE_LIMIT_REQUESTS": "100000000", "SIDECAR_WAIT_SECONDS": "2",
                    "EVENTS_APP_ID": "bench-no-events-app", **(env or {})}
        sidecar_env, port = _sidecar(stack, folder, _APP_IDS[name])
        full_env.update(sidecar_env)
        fn = start_function(name, folder, full_env, workers=workers, threads=threads,
                            port=port)
        stack.callback(fn.stop)
        yield fn.url


def _sidecar(stack: ExitStack, folder: Path, app_id: str) -> tuple[dict[str, str], int]:
    """Start a local runtime for ``app_id``: the env pointing the SDK at it, the app's port."""
    from tests.functions.stack import sidecar_with_app_port

    components = folder / "components"
    components.mkdir(exist_ok=True)
    (components / "statestore.yaml").write_text(_STATE_IN_MEMORY)
    sidecar, port = sidecar_with_app_port(stack, app_id, [components], folder / "registry")
    return sidecar.env, port


def time_to_first_answer(command: list[str], env: Mapping[str, str], url: str,
                         body: bytes | None = None, timeout: float = 60.0) -> float:
    """Seconds from starting ``command`` to the first 200 from ``url``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                response = (httpx.post(url, content=body, timeout=30) if body is not None
                            else httpx.get(url, timeout=30))
                if response.status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.005)
        raise RuntimeError(f"{command} gave no answer within {timeout}s")
    finally:
        process.terminate()
        process.wait(10)


def _measure(target: str, source: Path, path: str, body: bytes | None,
             env: Mapping[str, str]) -> list[float]:
    from tests.functions.processes import FF, free_port

    times = []
    for _ in range(ROUNDS):
        port = free_port()
        command = [FF, "--target", target, "--source", str(source), "--host", "127.0.0.1",
                   "--port", str(port)]
        times.append(time_to_first_answer(command, env, f"http://127.0.0.1:{port}{path}",
                                          body))
    return times


def main() -> int:
    from bench.grayscale import seed_file

    food = seed_file("food.jpg")
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        hello = Path(tmp) / "main.py"
        hello.write_text(_HELLO)
        base_env = {"WORKERS": "1", "THREADS": "2"}
        bare = _measure("hello", hello, "/", None, base_env)
        with ExitStack() as stack:
            env = {**base_env, "RATE_LIMIT_REQUESTS": "100000000",
                   "EVENTS_APP_ID": "bench-no-events-app"}
            env.update(_sidecar(stack, Path(tmp), _APP_IDS["classify"])[0])
            classify = _measure("classify", REPO_ROOT / "functions" / "classify" / "main.py",
                                "/classify", food, env)
    bare_s, classify_s = statistics.median(bare), statistics.median(classify)
    print(f"cold start, median of {ROUNDS}: hello {bare_s * 1000:.0f} ms, "
          f"classify first answer {classify_s * 1000:.0f} ms -> {classify_s / bare_s:.2f}x")
    return 0

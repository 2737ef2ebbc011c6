"""Cold start of classify: process start -> first answer to ``POST /classify`` (food.jpg), as a
ratio to a bare functions-framework hello function (process start -> first ``GET /``).

Also home of ``function_stack``, which the other benches use to run a function end to end the
way production does: the function with its own local Dapr runtime (state in memory, the
``images`` binding absent), and the real events service (``events-service`` with its runtime,
the ``events-db`` MySQL binding on a ``sqlite:`` URL in a temporary folder, read from the
local secret store), so every answer's event is really invoked, sent and inserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["BenchStack", "function_stack", "main", "time_to_first_answer"]

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
_APP_IDS = {"grayscale": "image-api-grayscale", "classify": "image-api-classify",
            "events": "events-service"}
_HEADER = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: {kind}
  version: v1
"""
#: The embedded profile's components (config/embedded/), with the files in ``{folder}``.
_COMPONENTS = {
    "statestore": ("state.in-memory", "  metadata: []\n"),
    "local-store": ("secretstores.local.file", """  metadata:
    - name: secretsFile
      value: {secrets}
    - name: nestedSeparator
      value: ':'
"""),
    "events-db": ("bindings.mysql", """  metadata:
    - name: url
      secretKeyRef:
        name: DB_URL:MYSQL
        key: DB_URL:MYSQL
auth:
  secretStore: local-store
scopes:
  - events-service
"""),
}
_HELLO = '''def hello(request):
    return "hello"
'''


@dataclass
class BenchStack:
    """A running function (``url``) and the events service recording its events."""

    url: str
    events_url: str

    def recorded_events(self, expected: int, timeout: float = 10.0) -> int:
        """How many events the service holds, once ``expected`` arrived or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            count, after = 0, 0
            while page := httpx.get(f"{self.events_url}/events", timeout=10,
                                    params={"after": after, "limit": 1000}).json():
                count, after = count + len(page), page[-1]["id"]
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


def _write_components(folder: Path) -> Path:
    components = folder / "components"
    components.mkdir(exist_ok=True)
    secrets = components / "secrets.json"
    secrets.write_text(json.dumps({"DB_URL": {"MYSQL": f"sqlite:{folder / 'events.db'}"}}))
    for name, (kind, spec) in _COMPONENTS.items():
        (components / f"{name}.yaml").write_text(
            _HEADER.format(name=name, kind=kind) + spec.format(secrets=json.dumps(str(secrets))))
    return components


@contextmanager
def function_stack(name: str, workers: int = 1, threads: int = 4,
                   env: Mapping[str, str] | None = None) -> Iterator[BenchStack]:
    """``name`` and the events service, each with its runtime, as dapr.yaml runs them."""
    from tests.functions.processes import start_function

    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        components = _write_components(folder)
        urls = {}
        for app, app_workers, app_threads, app_env in (
                ("events", 1, 8, {}),
                (name, workers, threads, {"RATE_LIMIT_REQUESTS": "100000000",
                                          "SIDECAR_WAIT_SECONDS": "2", **(env or {})})):
            sidecar_env, port = _sidecar(stack, folder, _APP_IDS[app], components)
            fn = start_function(app, folder, {**app_env, **sidecar_env}, workers=app_workers,
                                threads=app_threads, port=port)
            stack.callback(fn.stop)
            urls[app] = fn.url
        yield BenchStack(urls[name], urls["events"])


def _sidecar(stack: ExitStack, folder: Path, app_id: str,
             components: Path | None = None) -> tuple[dict[str, str], int]:
    """Start a local runtime for ``app_id``: the env pointing the SDK at it, the app's port."""
    from tests.functions.stack import sidecar_with_app_port

    components = components or _write_components(folder)
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
            # No events service here: the first answer never waits for its event.
            env = {**base_env, "RATE_LIMIT_REQUESTS": "100000000"}
            env.update(_sidecar(stack, Path(tmp), _APP_IDS["classify"])[0])
            classify = _measure("classify", REPO_ROOT / "functions" / "classify" / "main.py",
                                "/classify", food, env)
    bare_s, classify_s = statistics.median(bare), statistics.median(classify)
    print(f"cold start, median of {ROUNDS}: hello {bare_s * 1000:.0f} ms, "
          f"classify first answer {classify_s * 1000:.0f} ms -> {classify_s / bare_s:.2f}x")
    return 0

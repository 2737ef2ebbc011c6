"""What the benchmarks share: seed files, loading a function in-process, timing loops,
percentiles, HTTP load, running functions end to end with their runtimes, and the results
table that ``python -m bench`` prints at the end.

Processes (the local runtime, functions-framework) are started through ``sidecar.testing``,
the same helpers the tests use; nothing here imports ``tests``.

Results: each benchmark calls ``report(name, value, unit, goal, met)`` for every figure it
wants in the final table; ``goal`` is a short text such as ``">= 0.8x"`` (empty for a figure
that is information only) and ``met`` says whether the figure meets it (None without a goal).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import httpx
import yaml

from sidecar.testing import free_port, run_sidecar, start_function

__all__ = ["APP_IDS", "CONCURRENCY", "NOOP_METHOD", "REPO_ROOT", "SECONDS", "SERVER",
           "BenchStack", "Result", "Throughput", "app_server", "function_stack",
           "http_throughput", "interleaved", "load_function_module", "noop_grpc_server",
           "per_call_ms",
           "percentile_ms", "print_latencies", "report", "results", "results_table", "runtime_for",
           "seed_file", "shipped_config", "time_to_first_answer"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_SEED_DATA = Path(os.environ.get("SEED_DATA_DIR", REPO_ROOT.parent / "shared" / "seed-data"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))  # length of each throughput run
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))  # keep-alive clients under load
APP_IDS = {"grayscale": "image-api-grayscale", "classify": "image-api-classify",
           "events": "events-service"}
#: How the project serves a function (what dapr.yaml and the image run).
SERVER = (sys.executable, "-m", "bindings.http.serving")

# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One figure for the final table."""

    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None


#: Every figure reported in this process, in order.
_results: list[Result] = []


def report(name: str, value: float, unit: str, goal: str = "",
           met: bool | None = None) -> Result:
    """Record one figure (and its goal) for the table ``python -m bench`` prints at the end."""
    result = Result(name, value, unit, goal, met)
    _results.append(result)
    return result


def results() -> list[Result]:
    return list(_results)


def _number(value: float) -> str:
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:.{digits}f}"


def _value(result: Result) -> str:
    if result.unit == "x":  # a ratio, as the goals write them: 0.85x
        return f"{result.value:.2f}x"
    return f"{_number(result.value)} {result.unit}".strip()


def results_table(rows: Sequence[tuple[str, Result]], crashed: Sequence[str] = ()) -> str:
    """One aligned text table of ``(bench name, result)`` rows: bench, figure, value, goal,
    met; then a row for each benchmark in ``crashed``."""
    header = ("bench", "figure", "value", "goal", "met")
    lines = [(bench, r.name, _value(r), r.goal or "-",
              "-" if r.met is None else "yes" if r.met else "NO") for bench, r in rows]
    lines += [(name, "(crashed, see its traceback above)", "-", "-", "-") for name in crashed]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    right = {2}  # values align on the right

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


# --- inputs ----------------------------------------------------------------------------


def seed_file(name: str) -> bytes:
    """A file of the seed data (``$SEED_DATA_DIR`` or ``../shared/seed-data``)."""
    return (_SEED_DATA / name).read_bytes()


def interleaved(probes: Mapping[str, Callable[[], object]], n: int, block: int,
                warmup: int) -> dict[str, list[float]]:
    """``n`` timed calls (seconds) of every probe, alternating blocks of ``block`` between
    them, after ``warmup`` untimed calls of each: so a noisy machine hits all alike."""
    clock = time.perf_counter
    for probe in probes.values():
        for _ in range(warmup):
            probe()
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for start in range(0, n, block):
        for name, probe in probes.items():
            into = samples[name]
            for _ in range(min(block, n - start)):
                began = clock()
                probe()
                into.append(clock() - began)
    return samples


def load_function_module(name: str) -> ModuleType:
    """``functions/<name>/main.py`` as a module, the way functions-framework loads it."""
    directory = REPO_ROOT / "functions" / name
    if str(directory) not in sys.path:
        sys.path.append(str(directory))
    spec = importlib.util.spec_from_file_location(f"{name}_main", directory / "main.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {directory / 'main.py'}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as import does: dataclasses look their module up by name.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def shipped_config(name: str) -> tuple[int, int]:
    """``(WORKERS, THREADS)`` of function ``name`` as dapr.yaml (rendered, committed) runs it."""
    run_file = yaml.safe_load((REPO_ROOT / "dapr.yaml").read_text())
    for app in run_file["apps"]:
        if app["appID"] == APP_IDS[name]:
            return int(app["env"]["WORKERS"]), int(app["env"]["THREADS"])
    raise KeyError(f"{APP_IDS[name]} not in dapr.yaml")


# --- timing ----------------------------------------------------------------------------


def per_call_ms(work: Callable[[], object], seconds: float = 2.0) -> float:
    """Mean milliseconds per call of ``work`` over about ``seconds`` (one warm-up call)."""
    work()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def percentile_ms(samples: Sequence[float], percent: int) -> float:
    """The ``percent``-th percentile of ``samples`` (seconds), in milliseconds."""
    if percent == 50:
        return statistics.median(samples) * 1000
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1] * 1000


def print_latencies(labels: Mapping[str, str], samples: Mapping[str, Sequence[float]]) -> None:
    """One line per probe: its label, then the p50 and p90 of its samples, in microseconds."""
    width = max(len(label) for label in labels.values())
    for name, label in labels.items():
        p50, p90 = percentile_ms(samples[name], 50), percentile_ms(samples[name], 90)
        print(f"  {label:<{width}} p50 {p50 * 1000:6.0f} us   p90 {p90 * 1000:6.0f} us")


class Throughput(NamedTuple):
    rate: float  # answers per second
    failed: int  # answers other than 200
    ok: int      # 200 answers


def http_throughput(url: str, path: str, data: bytes, seconds: float, concurrency: int,
                    headers: dict[str, str] | None = None) -> Throughput:
    """``POST path`` with ``data`` for ``seconds`` from ``concurrency`` keep-alive clients."""
    host, port = url.removeprefix("http://").split(":")
    stop = time.perf_counter() + seconds
    done: list[int] = []
    failed: list[int] = []

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        count = bad = 0
        while time.perf_counter() < stop:
            conn.request("POST", path, body=data, headers=headers or {})
            response = conn.getresponse()
            response.read()
            count += 1
            bad += response.status != 200
        conn.close()
        done.append(count)
        failed.append(bad)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Throughput(sum(done) / (time.perf_counter() - start), sum(failed),
                      sum(done) - sum(failed))


def time_to_first_answer(command: list[str], env: Mapping[str, str], url: str,
                         body: bytes | None = None, timeout: float = 60.0) -> float:
    """Seconds from starting ``command`` to the first 200 from ``url``.

    The probing must cost the starting process nothing: on 2 cores, a client made per attempt
    (``httpx.post`` builds an SSL context each time, ~10 ms of CPU) slowed what it measured,
    the more so the longer the start. So one client is made before the start, and until the
    port accepts a connection, the probe is a bare ``connect()`` every 2 ms."""
    address = httpx.URL(url)
    with httpx.Client(timeout=30) as client:
        start = time.perf_counter()
        process = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO_ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - start < timeout:
                try:
                    socket.create_connection((address.host, address.port or 80), 1).close()
                    response = (client.post(url, content=body) if body is not None
                                else client.get(url))
                    if response.status_code == 200:
                        return time.perf_counter() - start
                except (OSError, httpx.TransportError):
                    time.sleep(0.002)
            raise RuntimeError(f"{command} gave no answer within {timeout}s")
        finally:
            process.terminate()
            process.wait(10)


# --- function stacks -------------------------------------------------------------------

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


#: With ``pubsub``: events go as in the embedded profile (config/embedded/), through a SQLite
#: broker file to events-service's ``/event``, in bulk.
_EVENT_PATH = """  metadata:
    - name: databasePath
      value: {broker}
scopes: [image-api-grayscale, image-api-classify, events-service]
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: events-to-db
spec:
  pubsubname: events-pubsub
  topic: events
  routes: {{default: /event}}
  bulkSubscribe: {{enabled: true, maxMessagesCount: 100, maxAwaitDurationMs: 200}}
scopes: [events-service]
"""


def _write_components(folder: Path, pubsub: bool = False) -> Path:
    components = folder / "components"
    components.mkdir(exist_ok=True)
    # Beside the resources folder, not in it: daprd warns about every non-YAML file there.
    secrets = folder / "secrets.json"
    secrets.write_text(json.dumps({"DB_URL": {"MYSQL": f"sqlite:{folder / 'events.db'}"}}))
    for name, (kind, spec) in _COMPONENTS.items():
        (components / f"{name}.yaml").write_text(
            _HEADER.format(name=name, kind=kind) + spec.format(secrets=json.dumps(str(secrets))))
    if pubsub:
        (components / "events-pubsub.yaml").write_text(
            _HEADER.format(name="events-pubsub", kind="pubsub.local.sqlite")
            + _EVENT_PATH.format(broker=json.dumps(str(folder / "events-pubsub.db"))))
    return components


def runtime_for(stack: ExitStack, folder: Path, app_id: str,
                components: Path | None = None) -> tuple[dict[str, str], int]:
    """Start a local runtime for ``app_id`` (the embedded profile's components, written into
    ``folder`` unless given) until ``stack`` closes: the env pointing the SDK at it, and the
    free port its app is to listen on."""
    components = components or _write_components(folder)
    port = free_port()
    sidecar = stack.enter_context(run_sidecar(app_id, [components], app_port=port,
                                              cwd=REPO_ROOT, registry_dir=folder / "registry"))
    return sidecar.env, port


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


@contextmanager
def function_stack(name: str, workers: int = 1, threads: int = 4,
                   env: Mapping[str, str] | None = None,
                   pubsub: bool = False) -> Iterator[BenchStack]:
    """Function ``name`` end to end as dapr.yaml runs it: with its own local runtime (state in
    memory, the ``images`` binding absent) and the real events service (``events-service``
    with its runtime, the ``events-db`` MySQL binding on a ``sqlite:`` URL in a temporary
    folder, read from the local secret store), so every answer's event is really invoked,
    sent and inserted (by service invocation, or with ``pubsub`` through the embedded
    profile's broker). The rate limit is set out of reach."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        components = _write_components(folder, pubsub)
        urls = {}
        for app, app_workers, app_threads, app_env in (
                ("events", 1, 8, {}),
                (name, workers, threads, {"RATE_LIMIT_REQUESTS": "100000000",
                                          "SIDECAR_WAIT_SECONDS": "2", **(env or {})})):
            sidecar_env, port = runtime_for(stack, folder, APP_IDS[app], components)
            fn = start_function(app, REPO_ROOT / "functions" / app / "main.py", folder,
                                {**app_env, **sidecar_env}, workers=app_workers,
                                threads=app_threads, port=port, cwd=REPO_ROOT,
                                server=SERVER)
            stack.callback(fn.stop)
            urls[app] = fn.url
        yield BenchStack(urls[name], urls["events"])


# --- a no-op gRPC server -------------------------------------------------------------

NOOP_METHOD = "/bench.Noop/Call"
#: A process serving ``NOOP_METHOD`` (bytes in, empty bytes out); prints its port.
_NOOP_SERVER = """
import sys
from concurrent import futures
import grpc
handler = grpc.method_handlers_generic_handler(
    "bench.Noop", {"Call": grpc.unary_unary_rpc_method_handler(lambda request, context: b"")})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()
server.stop(0)
"""


@contextmanager
def noop_grpc_server() -> Iterator[str]:
    """A process serving ``NOOP_METHOD`` (bytes in, empty bytes out), the floor of any gRPC hop
    between two Python processes; yields its address. It exits when the block ends."""
    with _port_printing_process(_NOOP_SERVER) as port:
        yield f"127.0.0.1:{port}"


@contextmanager
def _port_printing_process(script: str, *args: str) -> Iterator[int]:
    """``python -c script *args``, a server that prints its port and exits when its stdin
    closes; yields the port, and closes stdin (killing it if it lingers) when the block ends."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdin is not None
        yield int(process.stdout.readline())
        process.stdin.close()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- a bare app --------------------------------------------------------------------------

#: A keep-alive HTTP/1.1 app (stdlib only): ``GET /dapr/subscribe`` answers argv[1] (JSON),
#: ``GET /count`` the number of ``POST /events`` so far, any other POST echoes its body.
_APP_SERVER = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
subscriptions, lock, count = sys.argv[1].encode(), threading.Lock(), [0]
class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    def log_message(self, *args): pass
    def answer(self, body, kind="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(subscriptions if self.path == "/dapr/subscribe" else str(count[0]).encode())
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/events"):
            with lock:
                count[0] += 1
            body = b""
        self.answer(body, self.headers.get("Content-Type") or "application/octet-stream")
server = ThreadingHTTPServer(("127.0.0.1", 0), App)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdin.read()
"""


@contextmanager
def app_server(subscriptions: Sequence[Mapping[str, object]] = ()) -> Iterator[int]:
    """A bare HTTP app in its own process (see ``_APP_SERVER``); yields its port. It serves
    ``subscriptions`` as its programmatic ones and exits when the block ends."""
    with _port_printing_process(_APP_SERVER, json.dumps(list(subscriptions))) as port:
        yield port

"""Classify latency for food.jpg, measured side by side in one run:

- at several WORKERS x THREADS, the shipped one (dapr.yaml) first: the end-to-end p50 of
  ``BENCH_REQUESTS`` (200) requests, one at a time on a keep-alive connection, through HTTP
  (functions-framework, its runtime's rate-limit calls, events sent to the real events
  service; ``function_stack``), interleaved in blocks of 20 with as many bare in-process
  open + preprocess + invoke + top-5 calls, so both see the same noise; and the throughput of
  4 keep-alive clients. Goal: shipped p50 <= 1.25x bare p50 (bare measured beside it);
- the interpreter pool (one interpreter per call running at once) against one shared
  interpreter behind a lock, two threads (information).
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable

import httpx
from PIL import Image

from bench._harness import (
    SECONDS,
    function_stack,
    http_throughput,
    interleaved,
    load_function_module,
    percentile_ms,
    report,
    seed_file,
    shipped_config,
)

__all__ = ["main"]

_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
_GOAL_RATIO = 1.25
_OTHER_CONFIGS = ((2, 2), (1, 2), (2, 1), (2, 4))  # WORKERS x THREADS, besides the shipped one
_WARMUP = 5
_BLOCK = 20
_CLIENTS = 4


def _bare_call(data: bytes) -> Callable[[], object]:
    """One open + preprocess + invoke + top-5, in-process."""
    function = load_function_module("classify")
    classifier, open_image = function.classifier, function.open_image  # bindings.imaging's
    return lambda: classifier.top(classifier.invoke(classifier.preprocess(open_image(data))), 5)


def _http_call(client: httpx.Client, data: bytes) -> Callable[[], object]:
    """One request on a keep-alive connection."""
    def call() -> None:
        response = client.post("/classify", content=data)
        if response.status_code != 200:
            raise RuntimeError(f"classify answered {response.status_code}: {response.text}")
    return call


def _threaded_rate(work: Callable[[], object], threads: int, seconds: float = 3.0) -> float:
    stop = time.perf_counter() + seconds
    counts: list[int] = []

    def loop() -> None:
        count = 0
        while time.perf_counter() < stop:
            work()
            count += 1
        counts.append(count)
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def _pool_vs_lock(data: bytes) -> tuple[float, float]:
    classifier = load_function_module("classify").classifier
    with classifier.interpreter() as shared:  # held out of the pool: only the lock guards it
        lock = threading.Lock()
        tensor = classifier.preprocess(Image.open(io.BytesIO(data)))

        def locked() -> None:
            with lock:
                shared.set_tensor(classifier.input_index, tensor)
                shared.invoke()
        return (_threaded_rate(lambda: classifier.invoke(tensor), 2),
                _threaded_rate(locked, 2))


def main() -> int:
    data = seed_file("food.jpg")
    bare_call = _bare_call(data)
    pooled, locked = _pool_vs_lock(data)
    print(f"2 threads: interpreter pool {pooled:.0f} invokes/s, "
          f"one shared behind a lock {locked:.0f} invokes/s")
    report("2 threads, interpreter pool", pooled, "invokes/s")
    report("2 threads, one interpreter behind a lock", locked, "invokes/s")
    shipped = shipped_config("classify")
    for workers, threads in (shipped, *(c for c in _OTHER_CONFIGS if c != shipped)):
        with function_stack("classify", workers=workers, threads=threads) as stack:
            with httpx.Client(base_url=stack.url, timeout=30) as client:
                samples = interleaved({"bare": bare_call, "http": _http_call(client, data)},
                                      _REQUESTS, _BLOCK, _WARMUP)
            bare = percentile_ms(samples["bare"], 50)
            end_to_end = percentile_ms(samples["http"], 50)
            rate, bad, ok = http_throughput(stack.url, "/classify", data, SECONDS, _CLIENTS)
            sent = ok + _REQUESTS + _WARMUP
            recorded = stack.recorded_events(sent)
        ratio = end_to_end / bare
        label = f"HTTP {workers}x{threads}" + (" (shipped)" if (workers, threads) == shipped
                                               else "")
        print(f"{label} p50: {end_to_end:.2f} ms -> {ratio:.2f}x bare ({bare:.2f} ms beside "
              f"it); {_CLIENTS} clients: {rate:.0f} answers/s ({bad} not 200); "
              f"{recorded}/{sent} events recorded")
        report(f"{label} p50", end_to_end, "ms")
        report(f"{label}: bare preprocess+invoke p50 beside it", bare, "ms")
        if (workers, threads) == shipped:
            report(f"{label} p50 / bare p50", ratio, "x", f"<= {_GOAL_RATIO:g}x",
                   ratio <= _GOAL_RATIO)
        else:
            report(f"{label} p50 / bare p50", ratio, "x")
        report(f"{label}, {_CLIENTS} clients", rate, "answers/s")
    return 0

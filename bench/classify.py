"""Classify latency for food.jpg: end-to-end p50 through HTTP (functions-framework, its
sidecar's rate-limit calls, events sent to the real events service) against the bare
in-process preprocess + invoke p50. Goal from the brief: end to end <= 1.25x bare. Also: one
interpreter per thread against one shared interpreter behind a lock, with two serving threads.
"""

from __future__ import annotations

import io
import os
import statistics
import threading
import time
from collections.abc import Callable

import httpx
from PIL import Image

__all__ = ["bare_latencies", "http_latencies", "main"]

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bare_latencies(data: bytes, count: int) -> list[float]:
    """Seconds per open + preprocess + invoke + top-5, in-process."""
    from bench.grayscale import load_function_module
    from bindings.imaging import open_image

    classifier = load_function_module("classify").classifier
    samples = []
    for _ in range(count + 5):
        start = time.perf_counter()
        classifier.top(classifier.invoke(classifier.preprocess(open_image(data))), 5)
        samples.append(time.perf_counter() - start)
    return samples[5:]


def http_latencies(url: str, data: bytes, count: int) -> list[float]:
    """Seconds per request, one at a time, on a keep-alive connection."""
    samples = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(count + 5):
            start = time.perf_counter()
            response = client.post("/classify", content=data)
            samples.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"classify answered {response.status_code}: {response.text}")
    return samples[5:]


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


def _per_thread_vs_lock(data: bytes) -> tuple[float, float]:
    from bench.grayscale import load_function_module

    classifier = load_function_module("classify").classifier
    shared = classifier._interpreter()
    lock = threading.Lock()
    tensor = classifier.preprocess(Image.open(io.BytesIO(data)))

    def locked() -> None:
        with lock:
            shared.set_tensor(classifier.input_index, tensor)
            shared.invoke()
    return (_threaded_rate(lambda: classifier.invoke(tensor), 2), _threaded_rate(locked, 2))


def main() -> int:
    from bench.cold_start import function_stack
    from bench.grayscale import seed_file

    data = seed_file("food.jpg")
    bare = _p50_ms(bare_latencies(data, REQUESTS))
    print(f"bare preprocess+invoke p50: {bare:.2f} ms")
    per_thread, locked = _per_thread_vs_lock(data)
    print(f"2 threads: interpreter per thread {per_thread:.0f} invokes/s, "
          f"shared behind a lock {locked:.0f} invokes/s")
    from bench.grayscale import SECONDS, http_throughput

    for workers, threads in ((2, 2), (1, 2), (2, 1), (2, 4)):
        with function_stack("classify", workers=workers, threads=threads) as stack:
            end_to_end = _p50_ms(http_latencies(stack.url, data, REQUESTS))
            rate, bad, ok = http_throughput(stack.url, "/classify", data, SECONDS, 4)
            recorded = stack.recorded_events(ok + REQUESTS + 5)
        print(f"HTTP {workers}x{threads} p50: {end_to_end:.2f} ms -> {end_to_end / bare:.2f}x "
              f"bare (goal <= 1.25x); 4 clients: {rate:.0f} answers/s ({bad} not 200); "
              f"{recorded}/{ok + REQUESTS + 5} events recorded")
    return 0

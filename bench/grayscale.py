"""Grayscale speed for food.jpg: the bare in-process decode -> gray -> encode loop, the same
work end to end through HTTP (functions-framework + gunicorn + sidecar calls + the real events
service recording every answer, see ``bench.cold_start.function_stack``), and the
luminance-only JPEG decode against the naive ``Image.open().convert("L")``.

Goals from the brief: HTTP throughput >= 0.7x the bare loop; luma-only decode >= 2x naive.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from PIL import Image

__all__ = ["Throughput", "bare_loop", "http_throughput", "load_function_module", "main",
           "per_call_ms", "seed_file"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_DATA = Path(os.environ.get("SEED_DATA_DIR", REPO_ROOT.parent / "shared" / "seed-data"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))


def seed_file(name: str) -> bytes:
    return (SEED_DATA / name).read_bytes()


def load_function_module(name: str) -> ModuleType:
    """``functions/<name>/main.py`` as a module, the way functions-framework loads it."""
    directory = REPO_ROOT / "functions" / name
    import sys
    if str(directory) not in sys.path:
        sys.path.append(str(directory))
    spec = importlib.util.spec_from_file_location(f"{name}_main", directory / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_call_ms(work: Callable[[], object], seconds: float = 2.0) -> float:
    """Mean milliseconds per call of ``work`` over about ``seconds``."""
    work()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def bare_loop(data: bytes, seconds: float) -> float:
    """Images per second of the function's own maths, in one thread, no HTTP, no Dapr."""
    grayscale = load_function_module("grayscale")
    from bindings.imaging import open_image

    def once() -> bytes:
        return base64.b64encode(grayscale.encode(grayscale.to_gray(open_image(data)), "PNG"))
    return 1000 / per_call_ms(once, seconds)


class Throughput(NamedTuple):
    rate: float  # answers per second
    failed: int  # answers other than 200
    ok: int      # 200 answers


def http_throughput(url: str, path: str, data: bytes, seconds: float, concurrency: int,
                    headers: dict[str, str] | None = None) -> Throughput:
    """Answers per second and counts, with ``concurrency`` keep-alive clients."""
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


def _luma_vs_naive(data: bytes) -> tuple[float, float]:
    def luma() -> Image.Image:
        image = Image.open(io.BytesIO(data))
        image.draft("L", image.size)
        image.load()
        return image

    def naive() -> Image.Image:
        return Image.open(io.BytesIO(data)).convert("L")
    return per_call_ms(luma), per_call_ms(naive)


def _png_levels(data: bytes) -> list[tuple[int, float, int]]:
    grayscale = load_function_module("grayscale")
    from bindings.imaging import open_image
    gray = grayscale.to_gray(open_image(data))
    rows = []
    for level in (0, 1, 3, 6, 9):
        def encode(level: int = level) -> bytes:
            out = io.BytesIO()
            gray.save(out, "PNG", compress_level=level)
            return out.getvalue()
        rows.append((level, per_call_ms(encode, 1.0), len(encode())))
    return rows


def main() -> int:
    from bench.cold_start import function_stack

    data = seed_file("food.jpg")
    luma_ms, naive_ms = _luma_vs_naive(data)
    print(f"decode food.jpg: luma-only {luma_ms:.3f} ms, naive convert('L') {naive_ms:.3f} ms "
          f"-> {naive_ms / luma_ms:.2f}x (goal >= 2x)")
    for name in ("test.jpg", "grace_hopper.jpg"):
        other_luma, other_naive = _luma_vs_naive(seed_file(name))
        print(f"decode {name}: luma-only {other_luma:.3f} ms, naive {other_naive:.3f} ms "
              f"-> {other_naive / other_luma:.2f}x")
    for level, ms, size in _png_levels(data):
        print(f"PNG compress_level {level}: {ms:.2f} ms, {size} bytes")
    bare = bare_loop(data, SECONDS)
    print(f"bare loop (1 thread): {bare:.1f} images/s")
    for workers, threads in ((2, 4), (2, 2), (3, 2), (2, 1)):
        with function_stack("grayscale", workers=workers, threads=threads) as stack:
            rate, bad, ok = http_throughput(stack.url, "/grayscale", data, SECONDS,
                                            CONCURRENCY)
            recorded = stack.recorded_events(ok)
        print(f"HTTP {workers}x{threads}, {CONCURRENCY} clients: {rate:.1f} answers/s "
              f"({bad} not 200, {recorded}/{ok} events recorded) -> {rate / bare:.2f}x bare "
              f"(goal >= 0.7x)")
    return 0

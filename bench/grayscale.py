"""Grayscale speed for food.jpg, measured side by side in one run:

- the bare in-process loop (decode -> gray -> PNG -> base64, one thread, no HTTP, no Dapr);
- the same work end to end through HTTP (functions-framework + gunicorn, its runtime's
  rate-limit calls, the real events service recording every answer; ``function_stack``),
  ``BENCH_CONCURRENCY`` (4) keep-alive clients for ``BENCH_SECONDS`` (5), at several
  WORKERS x THREADS, the shipped one (dapr.yaml) first. Goal: shipped >= 0.8x the bare loop;
- the luminance-only JPEG decode against the naive ``Image.open().convert("L")``, and PNG
  encode time and size per compress level (information).
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from bench._harness import (
    CONCURRENCY,
    SECONDS,
    function_stack,
    http_throughput,
    load_function_module,
    per_call_ms,
    report,
    seed_file,
    shipped_config,
)

__all__ = ["bare_loop", "main"]

_GOAL_RATIO = 0.8
_OTHER_CONFIGS = ((2, 2), (2, 4), (3, 2), (2, 1))  # WORKERS x THREADS, besides the shipped one


def bare_loop(data: bytes, seconds: float) -> float:
    """Images per second of the function's own maths, in one thread, no HTTP, no Dapr."""
    grayscale = load_function_module("grayscale")

    def once() -> bytes:
        image = grayscale.open_image(data)  # the function's own opener (bindings.imaging)
        return base64.b64encode(grayscale.encode(grayscale.to_gray(image), "PNG"))
    return 1000 / per_call_ms(once, seconds)


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
    gray = grayscale.to_gray(grayscale.open_image(data))
    rows = []
    for level in (0, 1, 3, 6, 9):
        def encode(level: int = level) -> bytes:
            out = io.BytesIO()
            gray.save(out, "PNG", compress_level=level)
            return out.getvalue()
        rows.append((level, per_call_ms(encode, 1.0), len(encode())))
    return rows


def _decoding(data: bytes) -> None:
    for name in ("food.jpg", "test.jpg", "grace_hopper.jpg"):
        luma, naive = _luma_vs_naive(data if name == "food.jpg" else seed_file(name))
        print(f"decode {name}: luma-only {luma:.3f} ms, naive convert('L') {naive:.3f} ms "
              f"-> {naive / luma:.2f}x")
        report(f"luma-only decode speed-up, {name}", naive / luma, "x")
    for level, ms, size in _png_levels(data):
        print(f"PNG compress_level {level}: {ms:.2f} ms, {size} bytes")
        report(f"PNG encode, compress_level {level} ({size // 1000} KB)", ms, "ms")


def main() -> int:
    data = seed_file("food.jpg")
    _decoding(data)
    bare = bare_loop(data, SECONDS)
    print(f"bare loop (1 thread): {bare:.1f} images/s")
    report("bare loop, 1 thread", bare, "images/s")
    shipped = shipped_config("grayscale")
    for workers, threads in (shipped, *(c for c in _OTHER_CONFIGS if c != shipped)):
        with function_stack("grayscale", workers=workers, threads=threads) as stack:
            rate, bad, ok = http_throughput(stack.url, "/grayscale", data, SECONDS,
                                            CONCURRENCY)
            recorded = stack.recorded_events(ok)
        ratio = rate / bare
        label = f"HTTP {workers}x{threads}" + (" (shipped)" if (workers, threads) == shipped
                                               else "")
        print(f"{label}, {CONCURRENCY} clients: {rate:.1f} answers/s ({bad} not 200, "
              f"{recorded}/{ok} events recorded) -> {ratio:.2f}x bare")
        report(f"{label}, {CONCURRENCY} clients", rate, "answers/s")
        if (workers, threads) == shipped:
            report(f"{label} / bare loop", ratio, "x", f">= {_GOAL_RATIO:g}x",
                   ratio >= _GOAL_RATIO and bad == 0)
        else:
            report(f"{label} / bare loop", ratio, "x")
    return 0

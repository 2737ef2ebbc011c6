"""Cold start of classify: process start -> first 200 to ``POST /classify`` (food.jpg), as a
ratio to a bare functions-framework hello function (process start -> first 200 to ``GET /``).

Both run with WORKERS=1, THREADS=2 (hello under ``functions-framework``, classify as shipped);
the median of ``BENCH_ROUNDS`` (default 9) starts each, the two alternating. Classify has its
local runtime already running (state in memory) and no events service, so the first answer
never waits for its event. Goal: classify <= 2x hello.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from bench._harness import (
    APP_IDS,
    REPO_ROOT,
    SERVER,
    report,
    runtime_for,
    seed_file,
    time_to_first_answer,
)
from sidecar.testing import FF, free_port

__all__ = ["main"]

_ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
_GOAL_RATIO = 2.0
_HELLO = '''def hello(request):
    return "hello"
'''


def _start_once(server: Sequence[str], target: str, source: Path, path: str,
                body: bytes | None, env: Mapping[str, str]) -> float:
    port = free_port()
    command = [*server, "--target", target, "--source", str(source), "--host", "127.0.0.1",
               "--port", str(port)]
    return time_to_first_answer(command, env, f"http://127.0.0.1:{port}{path}", body)


def main() -> int:
    food = seed_file("food.jpg")
    bare: list[float] = []
    classify: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp, ExitStack() as stack:
        hello = Path(tmp) / "main.py"
        hello.write_text(_HELLO)
        base_env = {"WORKERS": "1", "THREADS": "2"}
        env = {**base_env, "RATE_LIMIT_REQUESTS": "100000000"}
        env.update(runtime_for(stack, Path(tmp), APP_IDS["classify"])[0])
        source = REPO_ROOT / "functions" / "classify" / "main.py"
        # Alternating, so both see the same drift of a noisy machine. The anchor is a bare
        # functions-framework function; classify runs as shipped.
        for _ in range(_ROUNDS):
            bare.append(_start_once([FF], "hello", hello, "/", None, base_env))
            classify.append(_start_once(SERVER, "classify", source, "/classify", food, env))
    bare_ms, classify_ms = statistics.median(bare) * 1000, statistics.median(classify) * 1000
    ratio = classify_ms / bare_ms
    print(f"cold start, median of {_ROUNDS} alternating rounds: hello {bare_ms:.0f} ms, "
          f"classify first answer {classify_ms:.0f} ms -> {ratio:.2f}x")
    report("hello: start to first answer, median", bare_ms, "ms")
    report("classify: start to first answer, median", classify_ms, "ms")
    report("classify / hello cold start", ratio, "x", f"<= {_GOAL_RATIO:g}x", ratio <= _GOAL_RATIO)
    return 0

"""Memory of the whole stack: the three functions at their shipped WORKERS x THREADS
(dapr.yaml), each with its own local runtime, as ``make run`` runs them.

How it is started: with the harness's pieces (``runtime_for``, ``start_function`` through
``bindings.http.serving``), not ``python -m launcher``: the launcher binds dapr.yaml's fixed
ports (9005-9007, 3503-3505, 50003-50005), which another engineer's ``make run`` on this shared
machine may hold, and writes under the repository's ``.data/``. Here every port is free and
every file is in a temporary folder; the processes, commands and configuration are the same
(the embedded profile's state store, secret store and ``events-db`` on a ``sqlite:`` URL).

Measured, as PSS (``/proc/<pid>/smaps_rollup``: shared pages split between their users, so the
figures add up) of every process (runtimes, gunicorn masters and their workers):

1. idle, after one good request to each image function (clients, interpreters made);
2. a bad-input sample sent to both image functions (decompression bombs in five formats,
   truncated and non-image bodies, and images just under the MAX_IMAGE_PIXELS cap, which are
   decoded), each answered 4xx JSON or 200 (the large ones);
3. ``BENCH_MEMORY_SECONDS`` (60) of ``BENCH_MEMORY_CLIENTS`` (32) keep-alive clients, half on
   grayscale, half on classify, food.jpg, PSS sampled every second.

Goals: the idle total <= 450 MB; after 2 and 3, no process above 1.5x its idle PSS.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
from PIL import Image

from bench._harness import (
    APP_IDS,
    REPO_ROOT,
    SERVER,
    http_throughput,
    report,
    runtime_for,
    seed_file,
    shipped_config,
)
from sidecar.testing import start_function

__all__ = ["bad_inputs", "main", "pss_kb", "tree"]

_SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "60"))
_CLIENTS = int(os.environ.get("BENCH_MEMORY_CLIENTS", "32"))
_IDLE_GOAL_MB = 450
_GROWTH_GOAL = 1.5
_SAMPLE_SECONDS = 1.0
_PIXEL_CAP = 50_000_000  # bindings/settings.py's MAX_IMAGE_PIXELS default
_IMAGE_FUNCTIONS = ("grayscale", "classify")


def pss_kb(pid: int) -> int:
    """The process's proportional set size in kB (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
        found.setdefault(parent, []).append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children, out, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def _png_claiming(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _jpeg_claiming(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_claiming(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4)).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _near_cap(fmt: str, mode: str) -> bytes:
    """A smooth image just under the pixel cap, small enough to upload."""
    side = int(_PIXEL_CAP ** 0.5) - 8
    gradient = Image.linear_gradient("L").resize((side, side))
    image = gradient if mode == "L" else Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 50} if fmt == "JPEG" else {"compress_level": 9}))
    return out.getvalue()


def bad_inputs() -> dict[str, bytes]:
    """Bodies an image function must refuse (4xx) or that are as large as it takes."""
    food = seed_file("food.jpg")
    return {
        "bomb png": _png_claiming(60_000, 60_000),
        "bomb jpeg": _jpeg_claiming(65_000, 65_000),
        "bomb gif": _gif_claiming(65_535, 65_535),
        "truncated jpeg": food[:20_000],
        "random bytes": bytes(range(256)) * 64,
        "pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n",
        "near-cap jpeg (RGB)": _near_cap("JPEG", "RGB"),
        "near-cap png (RGB)": _near_cap("PNG", "RGB"),
    }


class _Stack:
    """The three functions and their runtimes; ``pids()`` names every process by role."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        self.urls: dict[str, str] = {}
        self.roots: dict[str, int] = {}
        for name in ("events", *_IMAGE_FUNCTIONS):
            workers, threads = shipped_config(name)
            env, port = runtime_for(stack, folder, APP_IDS[name])
            self.roots[f"{name} runtime"] = _sidecar_pid(env)
            fn = start_function(name, REPO_ROOT / "functions" / name / "main.py", folder,
                                {**env, "RATE_LIMIT_REQUESTS": "100000000"}, workers=workers,
                                threads=threads, port=port, cwd=REPO_ROOT, server=SERVER,
                                timeout=60)
            stack.callback(fn.stop)
            self.urls[name] = fn.url
            self.roots[name] = fn.process.pid

    def pids(self) -> Iterator[tuple[str, int]]:
        for role, root in self.roots.items():
            for index, pid in enumerate(tree(root)):
                yield (role if index == 0 else f"{role} worker {index}"), pid


def _sidecar_pid(env: dict[str, str]) -> int:
    """The runtime listening on the env's DAPR_HTTP_PORT (found by its command line)."""
    port = env["DAPR_HTTP_PORT"]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sidecar" in b" ".join(argv) and port.encode() in argv:
            return int(entry.name)
    raise RuntimeError(f"no runtime process found for DAPR_HTTP_PORT={port}")


def _snapshot(stack: _Stack) -> dict[str, int]:
    return {role: pss_kb(pid) for role, pid in stack.pids()}


def _load(stack: _Stack, data: bytes, peaks: dict[str, int]) -> int:
    """Run the clients while sampling PSS into ``peaks``; answers other than 200."""
    done = threading.Event()

    def sample() -> None:
        while not done.wait(_SAMPLE_SECONDS):
            for role, kb in _snapshot(stack).items():
                peaks[role] = max(peaks.get(role, 0), kb)
    sampler = threading.Thread(target=sample)
    sampler.start()
    failed: list[int] = []
    share = max(_CLIENTS // len(_IMAGE_FUNCTIONS), 1)
    runs = [threading.Thread(target=lambda name=name: failed.append(http_throughput(
        stack.urls[name], f"/{name}", data, _SECONDS, share).failed)) for name in _IMAGE_FUNCTIONS]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    done.set()
    sampler.join()
    return sum(failed)


def _send_bad_inputs(stack: _Stack) -> int:
    """Each bad input twice to each image function; how many answers were not as expected."""
    wrong = 0
    for name in _IMAGE_FUNCTIONS:
        with httpx.Client(base_url=stack.urls[name], timeout=120) as client:
            for case, body in bad_inputs().items():
                for _ in range(2):
                    response = client.post(f"/{name}", content=body)
                    large = case.startswith("near-cap")
                    ok = (response.status_code == 200 if large else
                          400 <= response.status_code < 500 and "error" in response.json())
                    if not ok:
                        wrong += 1
                        print(f"{name} {case}: unexpected {response.status_code}")
    return wrong


def main() -> int:
    food = seed_file("food.jpg")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, ExitStack() as stack:
        running = _Stack(stack, Path(tmp))
        for name in _IMAGE_FUNCTIONS:
            for _ in range(4):
                httpx.post(f"{running.urls[name]}/{name}", content=food, timeout=30)
        time.sleep(2)
        idle = _snapshot(running)
        peaks = dict(idle)
        wrong = _send_bad_inputs(running)
        after_bad = _snapshot(running)
        for role, kb in after_bad.items():
            peaks[role] = max(peaks[role], kb)
        failed = _load(running, food, peaks)
        time.sleep(2)
        after = _snapshot(running)
    total = sum(idle.values()) / 1024
    print(f"{'process':32s} {'idle MB':>8s} {'after bad':>10s} {'peak':>8s} {'after':>8s} ratio")
    for role, kb in idle.items():
        print(f"{role:32s} {kb / 1024:8.1f} {after_bad.get(role, 0) / 1024:10.1f} "
              f"{peaks.get(role, 0) / 1024:8.1f} {after.get(role, 0) / 1024:8.1f} "
              f"{after.get(role, 0) / max(kb, 1):.2f}x")
    print(f"idle total {total:.0f} MB; bad inputs answered unexpectedly: {wrong}; "
          f"load answers not 200: {failed}")
    worst_role = max(idle, key=lambda role: after.get(role, 0) / max(idle[role], 1))
    worst = after.get(worst_role, 0) / max(idle[worst_role], 1)
    peak_role = max(idle, key=lambda role: peaks.get(role, 0) / max(idle[role], 1))
    peak = peaks.get(peak_role, 0) / max(idle[peak_role], 1)
    report("whole stack idle PSS", total, "MB", f"<= {_IDLE_GOAL_MB} MB", total <= _IDLE_GOAL_MB)
    report(f"largest after/idle PSS ({worst_role})", worst, "x", f"<= {_GROWTH_GOAL:g}x",
           worst <= _GROWTH_GOAL and wrong == 0)
    report(f"largest peak/idle PSS ({peak_role})", peak, "x")
    report("whole stack PSS after load", sum(after.values()) / 1024, "MB")
    return 0

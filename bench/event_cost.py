"""What recording an image request's event costs the request, measured side by side in one run.

Two grayscale stacks (``function_stack``), one recording events by publishing them (the
profiles' way: a SQLite broker file, bulk delivery to events-service) and one by service
invocation of ``create_event`` (the seed's way). One client sends a small PNG to each in turn,
in alternating blocks, over kept-alive connections, and the p50 of each is compared. The event
is recorded after the answer has gone, on a background thread, so the goal is that publishing
adds nothing measurable at p50 (ratio within noise of 1x). Every answer's event is counted
at the end, to show nothing was lost on either path.
"""

from __future__ import annotations

import http.client
import io
import os
import statistics
from collections.abc import Callable

from PIL import Image

from bench._harness import function_stack, interleaved, percentile_ms, report

__all__ = ["main"]

_REQUESTS = int(os.environ.get("BENCH_EVENT_REQUESTS", "400"))
_BLOCK = 20
_WARMUP = 30
_GOAL_RATIO = 1.05  # within noise: p50 with publishing at most 5 % above invocation's


def _small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def _poster(url: str, body: bytes) -> tuple[http.client.HTTPConnection, Callable[[], None]]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post() -> None:
        conn.request("POST", "/grayscale", body=body)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"grayscale answered {response.status}")
    return conn, post


def main() -> int:
    body = _small_png()
    with function_stack("grayscale", workers=1, threads=2, pubsub=True) as published, \
            function_stack("grayscale", workers=1, threads=2) as invoked:
        conn_p, post_p = _poster(published.url, body)
        conn_i, post_i = _poster(invoked.url, body)
        try:
            samples = interleaved({"publish": post_p, "invoke": post_i}, _REQUESTS, _BLOCK,
                                  _WARMUP)
        finally:
            conn_p.close()
            conn_i.close()
        expected = _REQUESTS + _WARMUP
        recorded = {"publish": published.recorded_events(expected, timeout=30),
                    "invoke": invoked.recorded_events(expected, timeout=30)}
    p50 = {name: percentile_ms(values, 50) for name, values in samples.items()}
    ratio = p50["publish"] / p50["invoke"]
    means = {name: statistics.fmean(values) * 1000 for name, values in samples.items()}
    print(f"grayscale p50: event published {p50['publish']:.2f} ms, event invoked "
          f"{p50['invoke']:.2f} ms ({ratio:.3f}x); means {means['publish']:.2f} / "
          f"{means['invoke']:.2f} ms; events recorded {recorded['publish']} / "
          f"{recorded['invoke']} of {expected} each")
    report("grayscale p50, event published", p50["publish"], "ms")
    report("grayscale p50, event invoked (the seed's way)", p50["invoke"], "ms")
    report("p50 publishing / invoking", ratio, "x", f"<= {_GOAL_RATIO:g}x",
           ratio <= _GOAL_RATIO)
    report("events recorded, published path", recorded["publish"], f"of {expected}",
           f"= {expected}", recorded["publish"] == expected)
    return 0

"""What a function process writes to its log (``python -m bindings.http.serving``, real
processes): one access line per request, whoever answered it; a fault repeated 50 times as
one line and a summary with the count; ``LOG_FORMAT=json`` lines that parse.

The functions' runtime is not running (the SDK is aimed at a closed port, conftest.py), which
is the repeated fault: every grayscale request fails open on the rate limit and logs it.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .processes import FunctionProcess, start_function
from .rawhttp import exchange

_REPEAT_SECONDS = 1.0
_ENV = {"LOG_REPEAT_SECONDS": str(_REPEAT_SECONDS), "MAX_HEAD_BYTES": "2048",
        "RATE_LIMIT_REQUESTS": "1000"}
_ACCESS = re.compile(r"scope=access msg=(\S+) (\S+) (\d{3}) (\S+) ms client=(\S+) "
                     r"request_id=(\S+)$")
_RATE_LIMIT = "scope=bindings.dapr.ratelimit msg=rate limit not enforced"
_REPEATED = re.compile(r"\(repeated (\d+) times in the last 1 s\)$")
_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _lines(fn: FunctionProcess) -> list[str]:
    return [line for line in fn.log().splitlines() if line.startswith("time=")]


def _wait_for_lines(fn: FunctionProcess, count: int, needle: str) -> list[str]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [line for line in _lines(fn) if needle in line]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} lines with {needle!r}:\n{fn.log()}")


@pytest.fixture
def grayscale(tmp_path: Path) -> Iterator[FunctionProcess]:
    fn = start_function("grayscale", tmp_path, _ENV, workers=1, threads=4)
    yield fn
    fn.stop()


def test_one_access_line_per_request_with_its_fields(grayscale: FunctionProcess) -> None:
    with httpx.Client(base_url=grayscale.url) as client:
        given = client.get("/", headers={"X-Request-Id": "req-42"})
        traced = client.get("/", headers={
            "traceparent": f"00-{_TRACE_ID}-00f067aa0ba902b7-01"})
        made = client.post("/nowhere", content=b"x")
    too_large = exchange(grayscale.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000
                         + b"\r\n\r\n")
    malformed = exchange(grayscale.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert given.headers["X-Request-Id"] == "req-42"
    assert traced.headers["X-Request-Id"] == _TRACE_ID
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert (too_large.status, malformed.status) == (431, 400)
    answers = [(given.headers["X-Request-Id"], "GET", "/", "200"),
               (traced.headers["X-Request-Id"], "GET", "/", "200"),
               (made.headers["X-Request-Id"], "POST", "/nowhere", "404"),
               (too_large.headers["x-request-id"], "GET", "/", "431"),
               # gunicorn's parser refused the head: method and path are not known
               (malformed.headers["x-request-id"], "-", "-", "400")]
    _wait_for_lines(grayscale, len(answers) + 1, "scope=access")  # + start_function's probe
    access = [line for line in _lines(grayscale) if "scope=access" in line]
    for rid, method, path, status in answers:
        lines = [line for line in access if line.endswith(f"request_id={rid}")]
        assert len(lines) == 1, (rid, access)
        found = _ACCESS.search(lines[0])
        assert found, lines[0]
        assert found.group(1, 2, 3, 5, 6) == (method, path, status, "127.0.0.1", rid), lines[0]
        assert found.group(4) == "-" or float(found.group(4)) >= 0, lines[0]


def test_a_fault_repeated_50_times_is_one_line_and_a_summary(grayscale: FunctionProcess,
                                                              seed_file) -> None:
    image = seed_file("food.jpg")
    with httpx.Client(base_url=grayscale.url, timeout=10) as client:
        statuses = {client.post("/grayscale", content=image).status_code for _ in range(50)}
    assert statuses == {200}
    time.sleep(_REPEAT_SECONDS * 2.5)  # every summary is due
    faults = [line for line in _lines(grayscale) if _RATE_LIMIT in line]
    summaries = [line for line in faults if _REPEATED.search(line)]
    assert len(faults) - len(summaries) == 1, "\n".join(faults)
    assert not _REPEATED.search(faults[0])
    counts = [int(m.group(1)) for m in map(_REPEATED.search, summaries) if m]
    assert len(counts) == len(summaries) and 1 + sum(counts) == 50
    assert "SidecarUnavailable" in faults[0] or "UNAVAILABLE" in faults[0], faults[0]
    # Every line the process wrote through logging is one line: no multi-line reprs.
    assert not [line for line in grayscale.log().splitlines()
                if line and not line.startswith(("time=", "Health check on "))]
    assert len(_lines(grayscale)) < 50 + 10


def test_json_lines_parse(tmp_path: Path) -> None:
    fn = start_function("events", tmp_path, {**_ENV, "LOG_FORMAT": "json"}, workers=1,
                        threads=2)
    try:
        time.sleep(0.2)  # start_function's probe is logged first
        httpx.get(f"{fn.url}/", headers={"X-Request-Id": "json-1"})
        with socket.create_connection(("127.0.0.1", fn.port)) as sock:
            sock.sendall(b"BREW\x01 / HTTP/1.1\r\n\r\n")
            sock.recv(4096)
        _wait_for_lines_json(fn, 3)
        records = [json.loads(line) for line in fn.log().splitlines()
                   if line and not line.startswith("Health check on ")]
    finally:
        fn.stop()
    access = [r for r in records if r["logger"] == "access"][1:]  # after the probe
    assert len(access) == 2, records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    first = access[0]
    assert (first["method"], first["path"], first["status"], first["request_id"],
            first["client"]) == ("GET", "/", 200, "json-1", "127.0.0.1")
    assert first["ms"] >= 0 and first["level"] == "info"
    assert access[1]["status"] == 400


def _wait_for_lines_json(fn: FunctionProcess, count: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if fn.log().count('"logger":"access"') >= count:
            return
        time.sleep(0.05)
    raise AssertionError(fn.log())

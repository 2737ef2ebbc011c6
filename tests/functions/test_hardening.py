"""The stack under bad input, slow clients and early answers: each function as a real process
served by ``python -m bindings.http.serving``, with its real runtime, Redis and MariaDB.

Every malformed request gets a 4xx with the JSON error body (never a 5xx, an HTML page, a hang
or a reset), and the same function answers a normal request right after.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pymysql
import pytest
from PIL import Image

from bindings.dapr import client as dapr_client
from bindings.dapr import results
from tests.conftest import MYSQL, SEED_DATA

from .conftest import image_bytes
from .rawhttp import exchange, read_answer
from .stack import Stack, client_headers, start_stack

READ_TIMEOUT = 2.0
PATHS = {"grayscale": "/grayscale", "classify": "/classify", "events": "/create_event"}
_EVENT = {"event_ts": 1, "op_type": "grayscale", "input_size": 1}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_client, mysql_params) -> Iterator[
        Stack]:
    """The three functions and runtimes, each function run by bindings.http.serving."""
    folder = tmp_path_factory.mktemp("served")
    env = {"READ_TIMEOUT_SECONDS": str(READ_TIMEOUT), "LINGER_SECONDS": "5",
           "RATE_LIMIT_REQUESTS": "1000"}
    with ExitStack() as exits:
        yield start_stack(exits, folder, env=env)


def _port(stack: Stack, name: str) -> int:
    return stack.functions[name].port


def _normal(stack: Stack, name: str) -> httpx.Response:
    headers = client_headers()
    if name == "events":
        return httpx.post(stack.url(name) + PATHS[name], json=_EVENT, headers=headers,
                          timeout=10)
    return httpx.post(stack.url(name) + PATHS[name], content=_FOOD, headers=headers, timeout=10)


_FOOD = (SEED_DATA / "food.jpg").read_bytes()


# -- the corpus ------------------------------------------------------------------------------

def _request(path: str, body: bytes = b"", head: str = "", method: str = "POST",
             length: int | None = None) -> bytes:
    """A raw request; Content-Length is ``len(body)`` unless ``length`` says otherwise."""
    size = len(body) if length is None else length
    xff = client_headers()["X-Forwarded-For"]
    return (f"{method} {path} HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {xff}\r\n{head}"
            f"Content-Length: {size}\r\n\r\n").encode() + body


def _chunked(path: str, chunks: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode() + chunks


def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(image_bytes(Image.new("L", (4, 4)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(image_bytes(Image.new("L", (4, 4)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(image_bytes(Image.new("RGB", (8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    data = bytearray(image_bytes(Image.new("RGB", (8, 8)), "WEBP", lossless=True))
    start = data.index(b"VP8L") + 9  # chunk tag, size, signature byte
    (bits,) = struct.unpack("<I", data[start:start + 4])
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[start:start + 4] = struct.pack("<I", bits)
    return bytes(data)


def _tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 4 + b"\x00" * 16


def _protocol_cases(path: str) -> dict[str, bytes]:
    """Malformed at the HTTP layer: the same for every function."""
    return {
        "bad chunk size": _chunked(path, b"zz\r\nabc\r\n0\r\n\r\n"),
        "chunk shorter than its size": _chunked(path, b"10\r\nabc\r\n0\r\n\r\n"),
        "huge chunk size": _chunked(path, b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
        "content-length more than sent": _request(path, b"abc", length=100),
        "content-length less than sent": _request(path, b"0123456789", length=3),
        "content-length not a number": _request(path, head="", length=None).replace(
            b"Content-Length: 0", b"Content-Length: 12abc"),
        "content-length non-ascii digits": _request(path, length=None).replace(
            b"Content-Length: 0", "Content-Length: ²".encode()),
        "content-length and chunked": _request(path, b"0\r\n\r\n",
                                               head="Transfer-Encoding: chunked\r\n"),
        "two content-lengths": _request(path, b"ab", head="Content-Length: 5\r\n"),
        "gzip transfer coding": _request(path, b"x", head="Transfer-Encoding: gzip\r\n"),
        "non-ascii header name": _request(path, head="X-hôtdög: 1\r\n"),
        "non-ascii header value": _request(path, head="X-Name: 日本\r\n"),
        "100 KB header": _request(path, head=f"X-Big: {'a' * 100_000}\r\n"),
        "150 headers": _request(path, head="".join(f"X-H{i}: {i}\r\n" for i in range(150))),
        "lower-case method": _request(path, method="post"),
        "odd method": _request(path, method="BREW"),
        "bare LF": _request(path, b"x").replace(b"\r\n", b"\n"),
        "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "request line too long": _request(path + "?" + "a" * 20_000),
        "bad HTTP version": _request(path).replace(b"HTTP/1.1", b"HTTP/9.9", 1),
        "header without colon": _request(path, head="NoColonHere\r\n"),
        "body over the cap": _request(path, length=50 * 1024 * 1024),
        "empty body": _request(path),
    }


_NOISE_PNG = image_bytes(Image.frombytes("L", (64, 64), bytes(range(256)) * 16), "PNG",
                        compress_level=0)


def _image_cases(path: str) -> dict[str, bytes]:
    food = _FOOD
    return {
        "truncated jpeg": _request(path, food[:20_000]),
        "truncated png": _request(path, _NOISE_PNG[:len(_NOISE_PNG) // 2]),
        "random bytes": _request(path, bytes(range(256)) * 64),
        "bomb png": _request(path, _png_claiming(60_000, 60_000)),
        "bomb gif": _request(path, _gif_claiming(65_535, 65_535)),
        "bomb tiff": _request(path, _tiff_claiming(100_000, 100_000)),
        "bomb webp": _request(path, _webp_claiming(16_384, 16_384)),
        "bomb jpeg": _request(path, _jpeg_claiming(65_000, 65_000)),
        "pdf": _request(path, b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"),
    }


def _event(**fields: object) -> bytes:
    return json.dumps({**_EVENT, **fields}).encode()


def _events_cases() -> dict[str, bytes]:
    create, events = "/create_event", "/events"
    big = "1" + "0" * 4999
    return {
        "5,000-digit event_ts": _request(create, f'{{"event_ts": {big}, "op_type": "x", '
                                                 f'"input_size": 1}}'.encode()),
        "5,000-digit negative": _request(create, f'{{"event_ts": -{big}, "op_type": "x", '
                                                 f'"input_size": 1}}'.encode()),
        "event_ts 2**63": _request(create, _event(event_ts=2**63)),
        "input_size -1": _request(create, _event(input_size=-1)),
        "event_ts float": _request(create, _event(event_ts=1.5)),
        "event_ts 1e400": _request(create, b'{"event_ts": 1e400, "op_type": "x", '
                                           b'"input_size": 1}'),
        "NaN": _request(create, b'{"event_ts": NaN, "op_type": "x", "input_size": 1}'),
        "op_type 21 chars": _request(create, _event(op_type="é" * 21)),
        "op_type empty": _request(create, _event(op_type="")),
        "op_type lone surrogate": _request(create, b'{"event_ts": 1, "op_type": "\\ud800", '
                                                   b'"input_size": 1}'),
        "deep arrays": _request(create, b"[" * 100_000),
        "deep objects": _request(create, b'{"a":' * 3_000),
        "deep but closed": _request(create, b"[" * 40 + b"]" * 40),
        "1001 events": _request(create, json.dumps([_EVENT] * 1001).encode()),
        "empty array": _request(create, b"[]"),
        "invalid utf-8": _request(create, b'{"op_type": "\xff"}'),
        "not json": _request(create, b"{nope"),
        "limit 5,000 digits": _request(f"{events}?limit={big}", method="GET"),
        "limit superscript two": _request(f"{events}?limit=%C2%B2", method="GET"),
        "limit arabic-indic digit": _request(f"{events}?limit=%D9%A3", method="GET"),
        "limit 0": _request(f"{events}?limit=0", method="GET"),
        "limit 1001": _request(f"{events}?limit=1001", method="GET"),
        "limit -1": _request(f"{events}?limit=-1", method="GET"),
        "after 2**63": _request(f"{events}?after={2**63}", method="GET"),
        "after 20 digits": _request(f"{events}?after={'9' * 20}", method="GET"),
    }


CORPUS = sorted(
    [(name, case, raw) for name in ("grayscale", "classify")
     for case, raw in {**_protocol_cases(PATHS[name]), **_image_cases(PATHS[name])}.items()]
    + [("events", case, raw) for case, raw in {**_protocol_cases(PATHS["events"]),
                                                **_events_cases()}.items()])


@pytest.mark.parametrize(("name", "case", "raw"), CORPUS,
                         ids=[f"{name}-{case}" for name, case, _ in CORPUS])
def test_bad_input_is_a_json_4xx_then_a_normal_answer(served, name, case, raw):
    answer = exchange(_port(served, name), raw, timeout=READ_TIMEOUT + 5)
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.body
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["error"], body
    assert b"debug_error_string" not in answer.body
    assert _normal(served, name).status_code == 200


AT_THE_BOUNDS = {
    "event_ts 2**63-1": ("/create_event", _event(event_ts=2**63 - 1, input_size=2**63 - 1)),
    "op_type 20 chars": ("/create_event", _event(op_type="日" * 20)),
    "1000 events": ("/create_event", json.dumps([_EVENT] * 1000).encode()),
    "depth 32": ("/create_event", b"[" * 31 + _event() + b"]" * 31),
}


@pytest.mark.parametrize("case", sorted(AT_THE_BOUNDS))
def test_numbers_and_sizes_at_the_bounds_are_taken(served, case):
    path, body = AT_THE_BOUNDS[case]
    response = httpx.post(served.url("events") + path, content=body, timeout=10)
    if case == "depth 32":  # deep enough to parse, then refused as not an event: a 400
        assert response.status_code == 400 and "nested" not in response.json()["error"]
        return
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("query", ["limit=1000", "limit=1", "after=9223372036854775807"])
def test_paging_at_the_bounds_is_taken(served, query):
    assert httpx.get(f"{served.url('events')}/events?{query}", timeout=10).status_code == 200


# -- slow clients ----------------------------------------------------------------------------

def _stall(port: int, path: str) -> socket.socket:
    """A connection that sends its headers and a little of a declared body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\nab"
                 .encode())
    return sock


def test_stalled_clients_do_not_starve_others_and_get_408(served):
    stalled = {name: [_stall(_port(served, name), PATHS[name]) for _ in range(16)]
               for name in PATHS}
    started = time.monotonic()
    try:
        time.sleep(0.2)
        for name in PATHS:
            for _ in range(6):
                began = time.monotonic()
                assert _normal(served, name).status_code == 200
                assert time.monotonic() - began < 1.0, name
        for name, socks in stalled.items():
            for sock in socks:
                answer = read_answer(sock, READ_TIMEOUT + 3, started)
                assert answer.status == 408, (name, answer.body)
                assert answer.json()["error"]
                assert answer.seconds < READ_TIMEOUT + 2.0
    finally:
        for socks in stalled.values():
            for sock in socks:
                sock.close()


def test_a_client_that_sends_nothing_is_closed_without_holding_a_thread(served):
    idle = [socket.create_connection(("127.0.0.1", _port(served, "grayscale")))
            for _ in range(16)]
    try:
        began = time.monotonic()
        assert _normal(served, "grayscale").status_code == 200
        assert time.monotonic() - began < 1.0
    finally:
        for sock in idle:
            sock.close()


# -- early answers reach clients still sending -----------------------------------------------

def test_urllib_sending_11_mb_sees_the_413(served):
    request = urllib.request.Request(served.url("grayscale") + "/grayscale",
                                     data=b"\0" * (11 * 1024 * 1024), method="POST",
                                     headers=client_headers())
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=20)
    assert raised.value.code == 413
    assert json.loads(raised.value.read())["detail"]["limit"] == 10 * 1024 * 1024


def test_early_answer_while_a_small_body_is_still_coming(served):
    """A 404 on a body within the cap: the body is read and dropped, the connection reused."""
    port = _port(served, "grayscale")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request("/nowhere", b"x" * 200_000))
        assert read_answer(sock, 5).status == 404
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_answer(sock, 5).status == 200


# -- Unicode op_types on the real MariaDB -------------------------------------------------------

#: Latin-1 and CJK, an emoji (4 bytes in UTF-8), astral letters, combining marks, a ZWJ flag.
UNICODE_OP_TYPES = ["hôtdög-日本", "🌭", "\U0001d518\U0001d52b\U0001d526", "a\u0301e\u0301",
                    "Ω≈ç√∫", "\U0001f3f3\ufe0f\u200d\U0001f308 flag", "'; DROP--"]


def _max_id(mysql_params: dict, database: str | None = None) -> int:
    conn = pymysql.connect(**{**mysql_params, **({"database": database} if database else {})})
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM events")
            (value,) = cursor.fetchone()
            return int(value)
    finally:
        conn.close()


def _round_trip(url: str, after: int) -> list[str]:
    for op_type in UNICODE_OP_TYPES:
        response = httpx.post(f"{url}/create_event", timeout=10,
                              json={"event_ts": 1, "op_type": op_type, "input_size": 7})
        assert response.status_code == 200, response.text
    listed = httpx.get(f"{url}/events?after={after}&limit=1000", timeout=10).json()
    return [e["op_type"] for e in listed if e["input_size"] == 7 and e["event_ts"] == 1]


def test_unicode_op_types_round_trip(served, mysql_params):
    httpx.get(served.url("events") + "/init", timeout=10)
    after = _max_id(mysql_params)
    stored = _round_trip(served.url("events"), after)
    assert [s for s in stored if s in UNICODE_OP_TYPES] == UNICODE_OP_TYPES


@pytest.fixture
def latin1_database(mysql_params: dict) -> Iterator[str]:
    """A database of its own whose events table was created latin1, holding two rows."""
    name = f"hardening_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(**mysql_params, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name} CHARACTER SET latin1")
            cursor.execute(f"CREATE TABLE {name}.events (id INT NOT NULL AUTO_INCREMENT "
                           "PRIMARY KEY, event_ts BIGINT NOT NULL, op_type VARCHAR(20) NOT NULL,"
                           " input_size BIGINT NOT NULL) DEFAULT CHARSET=latin1")
            cursor.execute(f"INSERT INTO {name}.events (event_ts, op_type, input_size) "
                           "VALUES (5, 'café', 1), (6, 'grayscale', 2)")
        yield name
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def test_latin1_table_is_converted_keeping_every_row(latin1_database, mysql_params, tmp_path):
    db_url = "{user}:{password}@tcp({host}:{port})/".format(**MYSQL) + latin1_database
    with ExitStack() as exits:
        stack = start_stack(exits, tmp_path, names=("events",), db_url=db_url)
        url = stack.url("events")
        assert httpx.get(f"{url}/init", timeout=10).status_code == 200
        first = httpx.get(f"{url}/events", timeout=10).json()
        assert [(e["event_ts"], e["op_type"]) for e in first] == [(5, "café"), (6, "grayscale")]
        assert _round_trip(url, 2) == UNICODE_OP_TYPES
    conn = pymysql.connect(**{**mysql_params, "database": latin1_database})
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW CREATE TABLE events")
            assert "utf8mb4" in cursor.fetchone()[1]
    finally:
        conn.close()


# -- retention of stored results -------------------------------------------------------------

def test_retention_sweeps_old_and_oversized_results_through_the_binding(served, monkeypatch):
    sidecar = served.sidecars["grayscale"]
    monkeypatch.setenv("DAPR_HTTP_PORT", str(sidecar.http_port))
    monkeypatch.setenv("DAPR_GRPC_PORT", str(sidecar.grpc_port))
    dapr_client.reset()
    folder = served.folder / "components" / "images"
    for earlier in folder.iterdir():  # results of the tests before this one
        earlier.unlink()
    client = dapr_client.get_client(wait=10)
    now = time.time()
    stored = {}
    for age, size in ((7200, 10), (7100, 10), (50, 400), (40, 400), (30, 400), (5, 400)):
        key = results.result_key(size, "png", now - age)
        client.invoke_binding("images", "create", b"\0" * size,
                              binding_metadata={"fileName": key})
        stored[age] = key
    (folder / "not-ours.txt").write_bytes(b"x" * 5000)
    retention = results.ResultsSettings(results_max_age_seconds=3600, results_max_bytes=1000)
    assert results.sweep("images", retention, now) == 4
    left = {p.name for p in folder.iterdir()}
    assert {stored[30], stored[5], "not-ours.txt"} <= left
    assert not {stored[7200], stored[7100], stored[50], stored[40]} & left


def test_grayscale_results_are_swept_in_the_background(served):
    # Each stored result is named <ms>-<size>-<uuid>.<ext>; the sweeper runs in the function.
    response = _normal(served, "grayscale")
    key = response.headers["X-Result-Key"]
    ms, size, _ = key.split("-", 2)
    assert abs(int(ms) / 1000 - time.time()) < 60 and int(size) > 0


def _image_of(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_concurrent_normal_requests_still_work(served):
    """Many keep-alive clients at once through the buffering worker: all answered 200."""
    errors: list[object] = []

    def run() -> None:
        with httpx.Client(timeout=10, headers=client_headers()) as http:
            for _ in range(5):
                response = http.post(served.url("grayscale") + "/grayscale", content=_FOOD,
                                     headers={"Accept": "image/png"})
                if response.status_code != 200 or _image_of(response.content).size != (483, 358):
                    errors.append(response.status_code)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

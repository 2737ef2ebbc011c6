"""End to end: real functions-framework processes, local Dapr runtimes, real Redis and MariaDB.

The first test is the seed's README session; the rest use their own client addresses
(X-Forwarded-For, trusted in this stack) so the rate limit of one never touches another.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import time
import uuid

import httpx
import numpy as np
import pymysql
import pytest
from PIL import Image

from .conftest import image_bytes
from .stack import RATE_LIMIT, client_headers


def _events(stack) -> list[dict]:
    response = httpx.get(f"{stack.url('events')}/events", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_events(stack, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = _events(stack)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_readme_session(stack, mysql_params, seed_file):
    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS events")
    init = httpx.get(f"{stack.url('events')}/init", timeout=10)
    assert (init.status_code, init.json()) == (200, {"status": True})
    assert _events(stack) == []

    food = seed_file("food.jpg")
    gray = httpx.post(f"{stack.url('grayscale')}/grayscale", content=food, timeout=10)
    assert gray.status_code == 200 and gray.headers["content-type"].startswith("text/plain")
    image = Image.open(io.BytesIO(base64.b64decode(gray.content, validate=True)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (483, 358))
    rgb = np.asarray(Image.open(io.BytesIO(food)).convert("RGB"), dtype=np.float64)
    diff = np.abs(np.asarray(image, dtype=np.float64) - rgb @ [0.299, 0.587, 0.114])
    # The JPEG's own luma plane vs luma recomputed from decoded RGB: equal up to the rounding
    # and clamping of the YCbCr -> RGB conversion (see test_grayscale.py).
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 1.5 and diff.max() <= 8
    assert len(_wait_for_events(stack, 1)) == 1  # keeps the seed's order of events

    classify = httpx.post(f"{stack.url('classify')}/classify", content=food, timeout=10)
    assert classify.status_code == 200
    assert classify.text == "hotdog is detected with 255/255 confidence"

    events = _wait_for_events(stack, 2)
    assert [(e["op_type"], e["input_size"]) for e in events] == [
        ("grayscale", 68016), ("classify", 68016)]
    assert [list(e) for e in events] == [["id", "event_ts", "op_type", "input_size"]] * 2
    assert events[0]["id"] < events[1]["id"]
    now_ms = time.time() * 1000
    assert all(now_ms - 60_000 < e["event_ts"] <= now_ms for e in events)


def test_result_is_stored_in_the_images_binding(stack, seed_file):
    response = httpx.post(f"{stack.url('grayscale')}/grayscale", content=seed_file("food.jpg"),
                          headers={**client_headers(), "Accept": "image/png"}, timeout=10)
    assert response.status_code == 200
    key = response.headers["X-Result-Key"]
    stored = stack.folder / "components" / "images" / key
    assert stored.read_bytes() == response.content


def test_rate_limit_admits_exactly_the_limit_under_concurrency(stack, redis_client):
    headers = client_headers()
    tiny = image_bytes(Image.new("RGB", (8, 8), (1, 2, 3)), "PNG")
    url = f"{stack.url('grayscale')}/grayscale"

    def post(_: int) -> httpx.Response:
        return httpx.post(url, content=tiny, headers=headers, timeout=30)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(4 * RATE_LIMIT)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * RATE_LIMIT + [429] * (3 * RATE_LIMIT)
    refused = [a for a in answers if a.status_code == 429]
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)
    assert refused[0].json()["detail"]["limit"] == RATE_LIMIT
    # The count lives in the state store (Redis), under the app id and the client address.
    key = f"{stack.ids['grayscale']}||{headers['X-Forwarded-For']}"
    stored = json.loads(redis_client.hget(key, "data"))
    assert stored["count"] == RATE_LIMIT and stored["last_request_ms"] > 0
    # Another client is not affected.
    assert httpx.post(url, content=tiny, headers=client_headers(), timeout=10).status_code == 200


BAD_REQUESTS = [
    ("grayscale", "POST", "/grayscale", b"", {}, 400),
    ("grayscale", "POST", "/grayscale", b"not an image", {}, 400),
    ("grayscale", "POST", "/grayscale", b"%PDF-1.7\n", {}, 415),
    ("grayscale", "POST", "/grayscale", "food", {"Accept": "application/xml"}, 406),
    ("grayscale", "POST", "/grayscale", "big", {}, 413),
    ("grayscale", "POST", "/grayscale", "bomb", {}, 413),
    ("grayscale", "GET", "/grayscale", None, {}, 405),
    ("grayscale", "POST", "/nowhere", None, {}, 404),
    ("classify", "POST", "/classify", b"", {}, 400),
    ("classify", "POST", "/classify", b"\x89PNG\r\n\x1a\n broken", {}, 400),
    ("classify", "POST", "/classify", "ppm", {}, 415),
    ("classify", "POST", "/classify", "food", {"Accept": "text/csv"}, 406),
    ("classify", "POST", "/classify", "big", {}, 413),
    ("events", "POST", "/create_event", b'{"event_ts": 1}', {}, 400),
    ("events", "POST", "/create_event", b"{oops", {}, 400),
    ("events", "GET", "/events?limit=5000", None, {}, 400),
    ("events", "PUT", "/init", None, {}, 405),
]


def _body(kind, seed_file):
    if kind == "food":
        return seed_file("food.jpg")
    if kind == "big":
        return b"\xff\xd8" + bytes(11 * 1024 * 1024)
    if kind == "bomb":
        return image_bytes(Image.new("1", (12000, 12000)), "PNG")  # 144 Mpx in a few KB
    if kind == "ppm":
        return image_bytes(Image.new("RGB", (4, 4)), "PPM")
    return kind


@pytest.mark.parametrize("name, method, path, body, headers, status", BAD_REQUESTS,
                         ids=[f"{r[0]}-{r[2]}-{r[5]}-{i}" for i, r in enumerate(BAD_REQUESTS)])
def test_bad_input_end_to_end(stack, seed_file, name, method, path, body, headers, status):
    headers = {**client_headers(), **headers}
    with httpx.Client(base_url=stack.url(name), timeout=30) as client:
        response = client.request(method, path, content=_body(body, seed_file), headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["error"]
        assert response.headers["access-control-allow-origin"] == "*"
        # The same connection, and the service, still answer.
        assert client.get("/", headers=headers).status_code == 200
    if name != "events":
        good = httpx.post(f"{stack.url(name)}/{name}", content=seed_file("food.jpg"),
                          headers=client_headers(), timeout=10)
        assert good.status_code == 200


def test_preflight_end_to_end(stack):
    response = httpx.options(f"{stack.url('classify')}/classify",
                             headers={"Origin": "http://page.example",
                                      "Access-Control-Request-Method": "POST"}, timeout=10)
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "OPTIONS, POST"


def test_events_paging(stack):
    url = stack.url("events")
    op_type = f"paging-{uuid.uuid4().hex[:8]}"  # this run's rows only: the table is shared
    for size in (1, 2, 3):
        event = {"event_ts": 1_700_000_000_000 + size, "op_type": op_type, "input_size": size}
        assert httpx.post(f"{url}/create_event", json=event, timeout=10).json() == {
            "status": True}
    everything: list[dict] = []  # every page: the shared table may hold more than one
    after = 0
    while page := httpx.get(f"{url}/events", params={"after": after, "limit": 1000},
                            timeout=10).json():
        everything, after = everything + page, page[-1]["id"]
    mine = [e for e in everything if e["op_type"] == op_type]
    assert [e["input_size"] for e in mine] == [1, 2, 3]
    first = httpx.get(f"{url}/events", params={"limit": 1, "after": mine[0]["id"] - 1}).json()
    assert first == mine[:1]
    rest = httpx.get(f"{url}/events", params={"after": mine[0]["id"]}).json()
    # Events of earlier requests arrive asynchronously (pub/sub) and may sit between ours.
    assert [e for e in rest if e["op_type"] == op_type][:2] == mine[1:]
    assert all(e["id"] > mine[0]["id"] for e in rest)


@pytest.mark.parametrize("first", ["create_event", "events"])
def test_fresh_events_process_creates_the_table_itself(stack, mysql_params, tmp_path, first):
    """Nobody calls /init: the first insert or select of a new process still works."""
    from .processes import start_function

    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS events")
    fn = start_function("events", tmp_path, stack.sidecars["events"].env, workers=1, threads=2)
    try:
        if first == "events":
            assert httpx.get(f"{fn.url}/events", timeout=10).json() == []
        event = {"event_ts": 1_700_000_000_000, "op_type": "fresh", "input_size": 7}
        answer = httpx.post(f"{fn.url}/create_event", json=event, timeout=10)
        assert (answer.status_code, answer.json()) == (200, {"status": True})
    finally:
        fn.stop()
    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT event_ts, op_type, input_size FROM events")
        assert cursor.fetchall() == ((1_700_000_000_000, "fresh", 7),)

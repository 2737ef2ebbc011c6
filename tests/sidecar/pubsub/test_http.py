"""Publishing and delivery over the HTTP API (httpx) with ``pubsub.in-memory``."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from .conftest import APP_ID, PUBSUB, SCOPED, Stack


def _publish(stack: Stack, topic: str, pubsub: str = PUBSUB, **kwargs: object) -> int:
    response = stack.http.post(f"/v1.0/publish/{pubsub}/{topic}", **kwargs)  # type: ignore[arg-type]
    return response.status_code


def test_publish_delivers_a_cloudevent(stack: Stack) -> None:
    marker = uuid.uuid4().hex
    assert _publish(stack, "orders", json={"marker": marker}) == 204
    stack.app.wait_for("/orders")
    event = next(d for d in stack.app.at("/orders") if d.body.get("data") == {"marker": marker})
    body = event.body
    assert body["data"] == {"marker": marker}
    assert body["source"] == APP_ID and body["type"] == "com.dapr.event.sent"
    assert body["specversion"] == "1.0" and body["datacontenttype"] == "application/json"
    assert body["topic"] == "orders" and body["pubsubname"] == PUBSUB
    assert body["id"] and body["time"] and "traceparent" in body
    assert event.headers["content-type"] == "application/cloudevents+json"


def test_topic_may_contain_slashes(stack: Stack) -> None:
    assert _publish(stack, "a/b", content="x", headers={"content-type": "text/plain"}) == 204
    assert stack.app.wait_for("/slashed")[0].body["data"] == "x"


def test_binary_data_is_base64(stack: Stack) -> None:
    assert _publish(stack, "orders", content=b"\x00\xff-bin",
                    headers={"content-type": "application/octet-stream"}) == 204
    found = [d for d in stack.app.wait_for("/orders") if "data_base64" in d.body]
    deadline = time.monotonic() + 5
    while not found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = [d for d in stack.app.at("/orders") if "data_base64" in d.body]
    assert base64.b64decode(found[0].body["data_base64"]) == b"\x00\xff-bin"


def test_incoming_cloudevent_is_kept(stack: Stack) -> None:
    event = {"id": "my-id", "source": "my-source", "type": "my.type", "specversion": "1.0",
             "datacontenttype": "application/json", "data": {"k": "v"}, "myext": "yes"}
    assert _publish(stack, "orders", json=event,
                    headers={"content-type": "application/cloudevents+json"}) == 204
    got = _wait_id(stack, "/orders", "my-id")
    assert got["source"] == "my-source" and got["type"] == "my.type"
    assert got["myext"] == "yes" and got["data"] == {"k": "v"}
    assert got["topic"] == "orders" and got["pubsubname"] == PUBSUB and got["time"]


def _wait_id(stack: Stack, path: str, event_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for d in stack.app.at(path):
            if d.body.get("id") == event_id:
                return d.body
        time.sleep(0.05)
    raise AssertionError(f"event {event_id} never reached {path}")


def test_cloudevent_overrides_and_ttl(stack: Stack) -> None:
    params = {"metadata.cloudevent.id": "over-id", "metadata.cloudevent.source": "over-src",
              "metadata.cloudevent.type": "over.type", "metadata.ttlInSeconds": "60"}
    assert _publish(stack, "orders", json={"n": 1}, params=params) == 204
    got = _wait_id(stack, "/orders", "over-id")
    assert got["source"] == "over-src" and got["type"] == "over.type"
    assert got["expiration"].endswith("Z")


def test_raw_payload_publish_and_subscribe(stack: Stack) -> None:
    assert _publish(stack, "raw", content=b"plain bytes",
                    params={"metadata.rawPayload": "true"}) == 204
    got = stack.app.wait_for("/raw")[0].body
    assert got["datacontenttype"] == "application/octet-stream"
    assert base64.b64decode(got["data_base64"]) == b"plain bytes"


def test_routing_rules_and_default(stack: Stack) -> None:
    headers = {"content-type": "application/cloudevents+json"}
    widget = {"id": "w1", "type": "widget", "specversion": "1.0",
              "datacontenttype": "application/json", "data": {"size": 1}}
    big = {**widget, "id": "b1", "type": "other", "data": {"size": 10}}
    small = {**widget, "id": "s1", "type": "other", "data": {"size": 1}}
    for event in (widget, big, small):
        assert _publish(stack, "routed", json=event, headers=headers) == 204
    assert stack.app.wait_for("/widgets")[0].body["id"] == "w1"
    assert stack.app.wait_for("/big")[0].body["id"] == "b1"
    assert stack.app.wait_for("/routed-default")[0].body["id"] == "s1"


def test_retry_is_redelivered(stack: Stack) -> None:
    stack.app.replies["/retry"] = [(200, b'{"status":"RETRY"}'), (500, b"boom"),
                                   (200, b'{"status":"SUCCESS"}')]
    assert _publish(stack, "retry", json={"r": 1}) == 204
    got = stack.app.wait_for("/retry", 3)
    assert len({d.body["id"] for d in got}) == 1
    time.sleep(0.4)
    assert len(stack.app.at("/retry")) == 3


def test_drop_goes_to_dead_letter_and_is_not_redelivered(stack: Stack) -> None:
    stack.app.replies["/drop"] = [(200, b'{"status":"DROP"}')]
    assert _publish(stack, "drop", json={"d": 1}) == 204
    dropped = stack.app.wait_for("/drop")[0].body
    dead = stack.app.wait_for("/dead")[0].body
    assert dead["id"] == dropped["id"] and dead["data"] == {"d": 1}
    time.sleep(0.4)
    assert len(stack.app.at("/drop")) == 1


@pytest.mark.parametrize(("reply", "attempts"), [
    ((404, b"gone"), 1), ((200, b""), 1), ((200, b'{"status":"SUCCESS"}'), 1),
    ((200, b'{"status":"WHAT"}'), 2)])
def test_app_status_decides(stack: Stack, reply: tuple[int, bytes], attempts: int) -> None:
    stack.app.replies["/status"] = [reply, (200, b"")] if attempts > 1 else [reply]
    before = len(stack.app.at("/status"))
    assert _publish(stack, "status", json={"s": reply[0]}) == 204
    stack.app.wait_for("/status", before + attempts)
    time.sleep(0.4)
    assert len(stack.app.at("/status")) == before + attempts


def test_declarative_subscriptions(stack: Stack) -> None:
    headers = {"content-type": "application/cloudevents+json"}
    assert _publish(stack, "declared-v1", json={"v": 1}) == 204
    assert stack.app.wait_for("/declared-v1")[0].body["data"] == {"v": 1}
    special = {"id": "sp", "type": "special", "specversion": "1.0", "data": 1}
    assert _publish(stack, "declared-v2", json=special, headers=headers) == 204
    assert _publish(stack, "declared-v2", json={"v": 2}) == 204
    assert stack.app.wait_for("/declared-special")[0].body["id"] == "sp"
    assert stack.app.wait_for("/declared-v2")[0].body["data"] == {"v": 2}
    assert _publish(stack, "not-mine", json={}) == 204
    time.sleep(0.3)
    assert not stack.app.at("/not-mine")


def test_metadata_lists_subscriptions(stack: Stack) -> None:
    subs = {(s["pubsubname"], s["topic"]): s
            for s in stack.http.get("/v1.0/metadata").json()["subscriptions"]}
    assert subs[(PUBSUB, "declared-v1")]["type"] == "DECLARATIVE"
    assert subs[(PUBSUB, "orders")] == {
        "pubsubname": PUBSUB, "topic": "orders", "deadLetterTopic": "",
        "type": "PROGRAMMATIC", "rules": [{"path": "/orders"}]}
    assert subs[(PUBSUB, "routed")]["rules"][0] == {"match": 'event.type == "widget"',
                                                   "path": "/widgets"}
    assert subs[(PUBSUB, "drop")]["deadLetterTopic"] == "dead"
    assert (PUBSUB, "not-mine") not in subs


def test_bulk_publish_and_bulk_subscribe(stack: Stack) -> None:
    entries = [{"entryId": "1", "event": {"n": 1}, "contentType": "application/json"},
               {"entryId": "2", "event": "two", "contentType": "text/plain"}]
    response = stack.http.post(f"/v1.0-alpha1/publish/bulk/{PUBSUB}/orders", json=entries)
    assert response.status_code == 204, response.text
    datas = [d.body.get("data") for d in stack.app.wait_for("/orders", 1)]
    deadline = time.monotonic() + 5
    while not ({"n": 1} in datas and "two" in datas) and time.monotonic() < deadline:
        time.sleep(0.05)
        datas = [d.body.get("data") for d in stack.app.at("/orders")]
    assert {"n": 1} in datas and "two" in datas


def test_bulk_subscribe_envelope(stack: Stack) -> None:
    stack.app.replies.pop("/bulk", None)

    assert _publish(stack, "bulk", json={"b": 1}) == 204
    got = stack.app.wait_for("/bulk")[0].body
    assert got["type"] == "com.dapr.event.sent.bulk" and got["topic"] == "bulk"
    entry = got["entries"][0]
    assert entry["event"]["data"] == {"b": 1} and entry["entryId"]
    assert entry["contentType"] == "application/cloudevents+json"


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/v1.0/publish/nope/t", 404, "ERR_PUBSUB_NOT_FOUND"),
    ("/v1.0/publish//t", 404, "ERR_PUBSUB_EMPTY"),
    (f"/v1.0/publish/{PUBSUB}/", 404, "ERR_TOPIC_EMPTY"),
    (f"/v1.0/publish/{PUBSUB}/t?metadata.rawPayload=maybe", 400, "ERR_PUBSUB_REQUEST_METADATA"),
    (f"/v1.0/publish/{SCOPED}/open", 403, "ERR_PUBSUB_FORBIDDEN"),
    (f"/v1.0/publish/{SCOPED}/unlisted", 403, "ERR_PUBSUB_FORBIDDEN"),
    (f"/v1.0/publish/{PUBSUB}/t", 500, "ERR_PUBSUB_CLOUD_EVENTS_SER"),
])
def test_publish_errors(stack: Stack, url: str, status: int, code: str) -> None:
    headers = {"content-type": "application/cloudevents+json"} \
        if code == "ERR_PUBSUB_CLOUD_EVENTS_SER" else {}
    response = stack.http.post(url, content=b"not json {", headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code


def test_scoped_topics_allowed(stack: Stack) -> None:
    assert _publish(stack, "allowed", pubsub=SCOPED, json={}) == 204
    assert _publish(stack, "protected", pubsub=SCOPED, json={}) == 204


@pytest.mark.parametrize(("body", "code"), [
    (b"{", "ERR_PUBSUB_EVENTS_SER"),
    (b'[{"entryId": "1", "event": 1, "contentType": "application/json"},'
     b' {"entryId": "1", "event": 2, "contentType": "application/json"}]',
     "ERR_PUBSUB_EVENTS_SER"),
    (b'[{"entryId": "1", "event": 1, "contentType": "text/plain"}]',
     "ERR_PUBSUB_CLOUD_EVENTS_SER"),
])
def test_bulk_publish_errors(stack: Stack, body: bytes, code: str) -> None:
    response = stack.http.post(f"/v1.0-alpha1/publish/bulk/{PUBSUB}/orders", content=body)
    assert response.json()["errorCode"] == code
    response = stack.http.post(f"/v1.0-alpha1/publish/bulk/{SCOPED}/open", json=[])
    assert (response.status_code, response.json()["errorCode"]) == (403, "ERR_PUBSUB_FORBIDDEN")

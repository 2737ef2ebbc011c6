"""events in-process: request validation (no database needed to refuse bad input)."""

from __future__ import annotations

import json

import pytest

from .conftest import function_module

GOOD = {"event_ts": 1665358852918, "op_type": "grayscale", "input_size": 68016}


@pytest.mark.parametrize("payload, field", [
    ({**GOOD, "extra": 1}, "extra"),
    ({k: v for k, v in GOOD.items() if k != "op_type"}, "op_type"),
    ({**GOOD, "event_ts": "1665358852918"}, "event_ts"),
    ({**GOOD, "event_ts": 1.5}, "event_ts"),
    ({**GOOD, "event_ts": True}, "event_ts"),
    ({**GOOD, "input_size": -1}, "input_size"),
    ({**GOOD, "input_size": 2**63}, "input_size"),
    ({**GOOD, "op_type": ""}, "op_type"),
    ({**GOOD, "op_type": "x" * 21}, "op_type"),
    ({**GOOD, "op_type": 1}, "op_type"),
])
def test_invalid_event_is_400_naming_the_field(load, payload, field):
    client = load("events")
    response = client.post("/create_event", data=json.dumps(payload),
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid event"
    assert field in response.get_json()["detail"]
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("body, status", [
    (b"", 400), (b"{not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400),
    (b"{" + b" " * 300_000 + b"}", 413),
])
def test_malformed_body(load, body, status):
    response = load("events").post("/create_event", data=body)
    assert response.status_code == status and response.get_json()["error"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "limit=-5",
                                   "after=-1", "after=1.5", "limit="])
def test_bad_paging_is_400(load, query):
    response = load("events").get(f"/events?{query}")
    assert response.status_code == 400 and response.get_json()["error"]


def test_database_unreachable_is_a_json_503_not_a_500(load):
    response = load("events").post("/create_event", data=json.dumps(GOOD))
    assert response.status_code == 503
    assert response.get_json()["detail"]["binding"] == "events-db"


def test_help_and_routes(load):
    client = load("events")
    assert client.get("/").get_data(as_text=True) == (
        "The valid endpoints are /init /create_event /events")
    assert client.get("/create_event").status_code == 405
    assert client.delete("/init").headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert client.get("/nope").status_code == 404


def test_invalid_events_in_an_array_are_400_naming_index_and_field(load):
    bad = [GOOD, {**GOOD, "op_type": ""}, GOOD, {**GOOD, "input_size": -1, "extra": 1}, "x"]
    response = load("events").post("/create_event", json=bad)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid events"
    assert sorted(body["detail"]) == ["1", "3", "4"]
    assert list(body["detail"]["1"]) == ["op_type"]
    assert sorted(body["detail"]["3"]) == ["extra", "input_size"]
    assert body["detail"]["4"]["expected"] == ["event_ts", "op_type", "input_size"]


@pytest.mark.parametrize("count", [0, 1001])
def test_array_of_wrong_length_is_400(load, count):
    response = load("events").post("/create_event", json=[GOOD] * count)
    assert response.status_code == 400
    assert response.get_json()["detail"] == {"count": count}


def test_valid_array_reaches_the_database_step(load):
    """A valid array passes validation: with no sidecar the answer is the binding's 503."""
    response = load("events").post("/create_event", json=[GOOD] * 1000)
    assert response.status_code == 503


@pytest.mark.parametrize("count", [1, 2, 1000])
def test_insert_statement_has_one_placeholder_row_per_event(count):
    sql = function_module("events").insert_statement(count)
    head, values = sql.split(" VALUES ")
    # IGNORE: a row whose event_id is already there (a redelivered event) is skipped.
    assert head == "INSERT IGNORE INTO events (event_id, event_ts, op_type, input_size)"
    assert values.split(", (") == ["(?, ?, ?, ?)"] + ["?, ?, ?, ?)"] * (count - 1)
    assert sql.count("?") == 4 * count


def _cloud_event(event_id: object = "e-1", data: object = GOOD) -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "image-api-grayscale",
            "type": "com.dapr.event.sent", "datacontenttype": "application/json", "data": data}


@pytest.mark.parametrize("cloud_event", [
    _cloud_event(event_id=""), _cloud_event(event_id="x" * 65), _cloud_event(event_id=7),
    _cloud_event(data={**GOOD, "input_size": -1}), _cloud_event(data="text"),
    _cloud_event(data={**GOOD, "event_id": "smuggled"}), ["not", "an", "event"],
])
def test_malformed_delivery_is_dropped_not_retried(load, cloud_event):
    response = load("events").post("/event", json=cloud_event,
                                   content_type="application/cloudevents+json")
    assert response.status_code == 200
    assert response.get_json()["status"] == "DROP" and response.get_json()["error"]


def test_unreadable_delivery_is_dropped(load):
    response = load("events").post("/event", data=b"{not json",
                                   content_type="application/cloudevents+json")
    assert (response.status_code, response.get_json()["status"]) == (200, "DROP")


def test_delivery_is_retried_while_the_database_cannot_be_reached(load):
    # No sidecar here: the insert cannot happen, so Dapr must keep the event and redeliver.
    response = load("events").post("/event", json=_cloud_event(),
                                   content_type="application/cloudevents+json")
    assert (response.status_code, response.get_json()) == (200, {"status": "RETRY"})


def test_bulk_delivery_answers_per_entry(load):
    body = {"id": "b", "type": "com.dapr.event.sent.bulk", "topic": "events", "entries": [
        {"entryId": "a", "event": _cloud_event("e-a"),
         "contentType": "application/cloudevents+json"},
        {"entryId": "b", "event": _cloud_event("e-b", {"op_type": "x"})},
        {"entryId": "c", "event": _cloud_event("e-c")},
    ]}
    response = load("events").post("/event", json=body)
    # "b" is malformed (dropped); the others wait for the database (no sidecar here).
    assert response.get_json() == {"statuses": [
        {"entryId": "a", "status": "RETRY"}, {"entryId": "b", "status": "DROP"},
        {"entryId": "c", "status": "RETRY"}]}


@pytest.mark.parametrize("event_id", ["", "x" * 65, 5])
def test_create_event_checks_an_event_id(load, event_id):
    response = load("events").post("/create_event", json={**GOOD, "event_id": event_id})
    assert response.status_code == 400 and "event_id" in response.get_json()["detail"]

"""State API conformance, modelled on components-contrib's state conformance tests, through
plain HTTP against a real runtime for each store type (see conftest.state_api)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.sidecar.conftest import StateApi
from tests.sidecar.helpers import EXTERNAL_URL


def _key(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _save(api: StateApi, *items: dict) -> int:
    return api.client.post(api.url(), json=list(items)).status_code


def test_set_get_delete_round_trip(state_api: StateApi) -> None:
    key = _key("crud")
    value = {"name": "grayscale", "count": 3, "tags": ["a", "b"]}
    assert _save(state_api, {"key": key, "value": value}) == 204
    got = state_api.client.get(state_api.url(f"/{key}"))
    assert got.status_code == 200
    assert got.json() == value
    assert got.headers["content-type"] == "application/json"
    assert got.headers["etag"]
    assert state_api.client.delete(state_api.url(f"/{key}")).status_code == 204
    assert state_api.client.get(state_api.url(f"/{key}")).status_code == 204


def test_string_value_is_stored_as_json_text(state_api: StateApi) -> None:
    key = _key("str")
    assert _save(state_api, {"key": key, "value": "hello"}) == 204
    assert state_api.client.get(state_api.url(f"/{key}")).content == b'"hello"'


def test_get_missing_key_is_204_without_body(state_api: StateApi) -> None:
    got = state_api.client.get(state_api.url(f"/{_key('missing')}"))
    assert got.status_code == 204
    assert got.content == b""


def test_delete_missing_key_is_not_an_error(state_api: StateApi) -> None:
    assert state_api.client.delete(state_api.url(f"/{_key('nokey')}")).status_code == 204


def test_etag_changes_on_every_write(state_api: StateApi) -> None:
    key = _key("etag")
    _save(state_api, {"key": key, "value": 1})
    first = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    _save(state_api, {"key": key, "value": 2})
    second = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    assert first != second


def test_save_with_matching_etag_succeeds_and_stale_etag_conflicts(state_api: StateApi) -> None:
    key = _key("occ")
    _save(state_api, {"key": key, "value": "v1"})
    etag = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    assert _save(state_api, {"key": key, "value": "v2", "etag": etag}) == 204
    stale = state_api.client.post(state_api.url(), json=[{"key": key, "value": "v3",
                                                          "etag": etag}])
    assert stale.status_code == 409
    assert stale.json()["errorCode"] == "ERR_STATE_SAVE"
    assert state_api.client.get(state_api.url(f"/{key}")).json() == "v2"


def test_invalid_etag_is_400(state_api: StateApi) -> None:
    key = _key("badetag")
    _save(state_api, {"key": key, "value": 1})
    reply = state_api.client.post(state_api.url(), json=[{"key": key, "value": 2,
                                                          "etag": "not-a-number"}])
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "ERR_STATE_SAVE"


def test_delete_with_stale_etag_conflicts_and_keeps_the_item(state_api: StateApi) -> None:
    key = _key("deletag")
    _save(state_api, {"key": key, "value": 1})
    etag = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    _save(state_api, {"key": key, "value": 2})
    reply = state_api.client.delete(state_api.url(f"/{key}"), headers={"If-Match": etag})
    assert reply.status_code == 409
    assert reply.json()["errorCode"] == "ERR_STATE_DELETE"
    fresh = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    assert state_api.client.delete(state_api.url(f"/{key}"),
                                   headers={"If-Match": fresh}).status_code == 204
    assert state_api.client.get(state_api.url(f"/{key}")).status_code == 204


def test_first_write_without_etag_only_creates(state_api: StateApi) -> None:
    key = _key("fw")
    first_write = {"concurrency": "first-write"}
    assert _save(state_api, {"key": key, "value": 1, "options": first_write}) == 204
    assert _save(state_api, {"key": key, "value": 2, "options": first_write}) == 409
    assert state_api.client.get(state_api.url(f"/{key}")).json() == 1


def test_first_write_with_etag_needs_the_current_one(state_api: StateApi) -> None:
    key = _key("fwe")
    first_write = {"concurrency": "first-write"}
    _save(state_api, {"key": key, "value": 1})
    etag = state_api.client.get(state_api.url(f"/{key}")).headers["etag"]
    assert _save(state_api, {"key": key, "value": 2, "etag": etag, "options": first_write}) == 204
    assert _save(state_api, {"key": key, "value": 3, "etag": etag, "options": first_write}) == 409
    assert state_api.client.get(state_api.url(f"/{key}")).json() == 2


def test_bulk_get_returns_every_key_in_order(state_api: StateApi) -> None:
    keys = [_key("bulk") for _ in range(3)]
    _save(state_api, *({"key": k, "value": {"i": i}} for i, k in enumerate(keys[:2])))
    reply = state_api.client.post(state_api.url("/bulk"),
                                  json={"keys": keys, "parallelism": 2})
    assert reply.status_code == 200
    items = reply.json()
    assert [item["key"] for item in items] == keys
    assert [item.get("data") for item in items] == [{"i": 0}, {"i": 1}, None]
    assert items[0]["etag"] and "etag" not in items[2]


def test_ttl_expires_the_item(state_api: StateApi) -> None:
    key = _key("ttl")
    assert _save(state_api, {"key": key, "value": "short",
                             "metadata": {"ttlInSeconds": "1"}}) == 204
    got = state_api.client.get(state_api.url(f"/{key}"))
    assert got.status_code == 200
    assert "metadata.ttlExpireTime" in got.headers
    deadline = time.monotonic() + 5
    while state_api.client.get(state_api.url(f"/{key}")).status_code == 200:
        assert time.monotonic() < deadline, "item did not expire within 5 s of a 1 s TTL"
        time.sleep(0.2)


def test_ttl_minus_one_removes_an_earlier_ttl(state_api: StateApi) -> None:
    key = _key("persist")
    _save(state_api, {"key": key, "value": 1, "metadata": {"ttlInSeconds": "1"}})
    _save(state_api, {"key": key, "value": 2, "metadata": {"ttlInSeconds": "-1"}})
    time.sleep(1.6)
    got = state_api.client.get(state_api.url(f"/{key}"))
    assert got.status_code == 200
    assert got.json() == 2
    assert "metadata.ttlExpireTime" not in got.headers


@pytest.mark.parametrize("ttl", ["abc", "-2", "1.5"])
def test_bad_ttl_is_a_500_naming_the_field(state_api: StateApi, ttl: str) -> None:
    reply = state_api.client.post(state_api.url(), json=[{
        "key": _key("badttl"), "value": 1, "metadata": {"ttlInSeconds": ttl}}])
    assert reply.status_code == 500
    assert "ttlInSeconds" in reply.json()["message"]


def test_transaction_applies_upserts_and_deletes(state_api: StateApi) -> None:
    keep, gone = _key("tx-keep"), _key("tx-gone")
    _save(state_api, {"key": gone, "value": "old"})
    reply = state_api.client.post(state_api.url("/transaction"), json={"operations": [
        {"operation": "upsert", "request": {"key": keep, "value": {"n": 1}}},
        {"operation": "delete", "request": {"key": gone}},
    ]})
    assert reply.status_code == 204
    assert state_api.client.get(state_api.url(f"/{keep}")).json() == {"n": 1}
    assert state_api.client.get(state_api.url(f"/{gone}")).status_code == 204


def test_transaction_with_stale_etag_changes_nothing(state_api: StateApi) -> None:
    a, b = _key("tx-a"), _key("tx-b")
    _save(state_api, {"key": a, "value": 1})
    reply = state_api.client.post(state_api.url("/transaction"), json={"operations": [
        {"operation": "upsert", "request": {"key": b, "value": 2}},
        {"operation": "upsert", "request": {"key": a, "value": 3, "etag": "999999"}},
    ]})
    assert reply.status_code == 409
    assert reply.json()["errorCode"] == "ERR_STATE_TRANSACTION"
    assert state_api.client.get(state_api.url(f"/{a}")).json() == 1
    assert state_api.client.get(state_api.url(f"/{b}")).status_code == 204


def test_transaction_unknown_operation_is_400(state_api: StateApi) -> None:
    reply = state_api.client.post(state_api.url("/transaction"), json={"operations": [
        {"operation": "merge", "request": {"key": "k", "value": 1}}]})
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "ERR_NOT_SUPPORTED_STATE_OPERATION"


def test_malformed_json_is_400(state_api: StateApi) -> None:
    for suffix in ("", "/bulk", "/transaction"):
        reply = state_api.client.post(state_api.url(suffix), content=b"[{not json")
        assert reply.status_code == 400, suffix
        assert reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


@pytest.mark.parametrize("body", [{"key": "k"}, [{"value": 1}], [{"key": "", "value": 1}],
                                  [{"key": "a||b", "value": 1}], [5]])
def test_bad_items_are_400(state_api: StateApi, body: object) -> None:
    reply = state_api.client.post(state_api.url(), json=body)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_unknown_store_is_400(state_api: StateApi) -> None:
    reply = state_api.client.get("/v1.0/state/no-such-store/key")
    assert reply.status_code == 400
    body = reply.json()
    assert (body["errorCode"], body["message"]) == (
        "ERR_STATE_STORE_NOT_FOUND", "state store no-such-store is not found")
    if "details" in body or not EXTERNAL_URL:
        assert body["details"][0]["reason"] == "DAPR_STATE_NOT_FOUND"

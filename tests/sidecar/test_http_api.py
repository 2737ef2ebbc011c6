"""Secrets, bindings errors, metadata and health through a real runtime over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.testing import run_sidecar

from .helpers import EXTERNAL_URL, component_doc, unique_id, write_components

SECRETS: dict[str, Any] = {
    "DB_URL": {"MYSQL": "root:@tcp(127.0.0.1:3306)/test"}, "plain": "text",
    "flags": {"on": True, "n": 3}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A runtime with a file store, an env store (prefix) and a state store."""
    if EXTERNAL_URL:
        with httpx.Client(base_url=EXTERNAL_URL, timeout=10) as client:
            yield client
        return
    folder = tmp_path_factory.mktemp("res")
    (folder / "secrets.json").write_text(json.dumps(SECRETS))
    write_components(
        folder,
        component_doc("local-store", "secretstores.local.file",
                      {"secretsFile": str(folder / "secrets.json")}),
        component_doc("env-store", "secretstores.local.env", {"prefix": "H1TEST_"}),
        component_doc("statestore", "state.in-memory"))
    with run_sidecar(unique_id("api"), [folder], env={"H1TEST_TOKEN": "s3cret"}) as sidecar:
        with httpx.Client(base_url=sidecar.http_url, timeout=10) as client:
            yield client


def test_nested_secret_by_separator_key(api: httpx.Client) -> None:
    reply = api.get("/v1.0/secrets/local-store/DB_URL:MYSQL")
    assert reply.status_code == 200
    assert reply.json() == {"DB_URL:MYSQL": "root:@tcp(127.0.0.1:3306)/test"}


def test_non_string_leaves_are_text(api: httpx.Client) -> None:
    assert api.get("/v1.0/secrets/local-store/flags:on").json() == {"flags:on": "true"}
    assert api.get("/v1.0/secrets/local-store/flags:n").json() == {"flags:n": "3"}


def test_bulk_secrets_hold_every_flattened_key(api: httpx.Client) -> None:
    reply = api.get("/v1.0/secrets/local-store/bulk")
    assert reply.status_code == 200
    assert reply.json() == {
        "DB_URL:MYSQL": {"DB_URL:MYSQL": SECRETS["DB_URL"]["MYSQL"]},
        "plain": {"plain": "text"}, "flags:on": {"flags:on": "true"}, "flags:n": {"flags:n": "3"}}


def test_env_store_strips_its_prefix(api: httpx.Client) -> None:
    assert api.get("/v1.0/secrets/env-store/TOKEN").json() == {"TOKEN": "s3cret"}
    assert api.get("/v1.0/secrets/env-store/bulk").json() == {"TOKEN": {"TOKEN": "s3cret"}}


def test_missing_secret_is_500_err_secret_get(api: httpx.Client) -> None:
    reply = api.get("/v1.0/secrets/local-store/nope")
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_SECRET_GET"
    assert "nope" in reply.json()["message"]


def test_unknown_secret_store_is_401(api: httpx.Client) -> None:
    reply = api.get("/v1.0/secrets/vault/x")
    assert reply.status_code == 401
    assert reply.json() == {"errorCode": "ERR_SECRET_STORE_NOT_FOUND",
                            "message": "failed finding secret store with key vault",
                            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                         "reason": "", "domain": "dapr.io", "metadata": {}}]}


def test_unknown_binding_is_500(api: httpx.Client) -> None:
    reply = api.post("/v1.0/bindings/nothing", json={"operation": "create", "data": "x"})
    assert reply.status_code == 500
    assert reply.json()["details"][0]["reason"] == "DAPR_BINDING_INVOKE_OUTPUT_BINDING"
    assert reply.json()["details"][1]["resource_name"] == "nothing"
    assert reply.json()["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"
    assert "nothing" in reply.json()["message"]


@pytest.mark.parametrize("body", [b"{oops", b'{"operation": 5}', b'{"metadata": {"a": 1}}',
                                  b"[1]"])
def test_malformed_binding_body_is_400(api: httpx.Client, body: bytes) -> None:
    reply = api.post("/v1.0/bindings/nothing", content=body)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_metadata_lists_id_and_components(api: httpx.Client) -> None:
    info = api.get("/v1.0/metadata").json()
    assert info["id"].startswith("api-")
    components = {c["name"]: c for c in info["components"]}
    assert components["statestore"]["type"] == "state.in-memory"
    assert "ETAG" in components["statestore"]["capabilities"]
    assert components["local-store"] == {"name": "local-store", "type": "secretstores.local.file",
                                         "version": "v1",
                                         "capabilities": ["MULTIPLE_KEY_VALUES_PER_SECRET"]}


def test_health_endpoints_are_204(api: httpx.Client) -> None:
    assert api.get("/v1.0/healthz").status_code == 204
    assert api.get("/v1.0/healthz/outbound").status_code == 204


def test_unknown_route_and_wrong_verb_answer_json(api: httpx.Client) -> None:
    missing = api.get("/v1.0/nothing/here")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "ERR_NOT_FOUND"
    wrong = api.delete("/v1.0/metadata")
    assert wrong.status_code == 405 and "GET" in wrong.json()["message"]


def test_body_over_4_mib_is_413(api: httpx.Client) -> None:
    reply = api.post("/v1.0/state/statestore", content=b"[" + b" " * (4 * 1024 * 1024) + b"]")
    assert reply.status_code == 413
    assert reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_no_state_store_configured_is_500_not_configured(tmp_path: Path) -> None:
    folder = write_components(tmp_path, component_doc("env", "secretstores.local.env"))
    with run_sidecar(unique_id("nostate"), [folder]) as sidecar:
        reply = httpx.get(f"{sidecar.http_url}/v1.0/state/statestore/k")
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_STATE_STORES_NOT_CONFIGURED"

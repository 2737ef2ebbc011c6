"""Component loading as daprd's self-hosted loader: kinds and apiVersions, scopes,
secretKeyRef/envRef, keyPrefix, what is skipped with a warning, what is ignored, and every
start-up error naming its file and field (in-process, plus the real exit code and stderr)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sidecar.components.loader import load_components
from sidecar.errors import ComponentConfigError
from tests.conftest import REDIS_URL, REPO_ROOT
from tests.sidecar.helpers import component_doc, write_components

_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]


def _secrets(folder: Path) -> dict:
    (folder / "secrets.json").write_text(json.dumps({"DB": {"HOST": "127.0.0.1:6379"}}))
    return component_doc("local-store", "secretstores.local.file",
                         {"secretsFile": str(folder / "secrets.json")})


def test_multi_document_files_other_kinds_and_scopes(tmp_path: Path) -> None:
    config = {"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration",
              "metadata": {"name": "cfg"}, "spec": {}}
    write_components(tmp_path, config, component_doc("mine", "state.in-memory", scopes=["a"]),
                     component_doc("theirs", "state.in-memory", scopes=["b"]),
                     component_doc("shared", "secretstores.local.env"))
    (tmp_path / "notes.txt").write_text("not a component")
    registry = load_components([tmp_path], "a")
    assert sorted(c.name for c in registry.components) == ["mine", "shared"]
    assert sorted(registry.state_stores) == ["mine"]
    assert sorted(registry.secret_stores) == ["shared"]


def test_secret_key_ref_resolves_through_auth_store(tmp_path: Path) -> None:
    store = component_doc("statestore", "state.redis", raw_metadata=[
        {"name": "redisHost", "secretKeyRef": {"name": "DB:HOST", "key": "DB:HOST"}}],
        secret_store="local-store")
    write_components(tmp_path, store, _secrets(tmp_path))
    registry = load_components([tmp_path], "app")
    assert registry.state_stores["statestore"].metadata["redisHost"] == "127.0.0.1:6379"
    registry.close()


def test_env_ref_and_key_prefix_strategies(tmp_path: Path) -> None:
    write_components(
        tmp_path,
        component_doc("default", "state.in-memory"),
        component_doc("byname", "state.in-memory", {"keyPrefix": "name"}),
        component_doc("none", "state.in-memory", {"keyPrefix": "none"}),
        component_doc("custom", "state.in-memory", {"keyPrefix": "team"}),
        component_doc("env", "secretstores.local.env", raw_metadata=[
            {"name": "prefix", "envRef": "H1_PREFIX"}]))
    registry = load_components([tmp_path], "app", environ={"H1_PREFIX": "X_"})
    assert registry.key_prefixes == {"default": "app||", "byname": "byname||", "none": "",
                                     "custom": "team||"}
    assert registry.secret_stores["env"].metadata == {"prefix": "X_"}
    assert "keyPrefix" not in registry.state_stores["byname"].metadata


@pytest.mark.parametrize(("docs", "expected"), [
    ([component_doc("s", "state.nosuch")], "unknown type 'state.nosuch'"),
    ([component_doc("s", "state.redis")], "metadata 'redisHost': missing required field"),
    ([component_doc("s", "state.in-memory"), component_doc("s", "state.in-memory")],
     "duplicate name"),
    ([{"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": "s"},
       "spec": {"version": "v1"}}], "spec.type: unknown type ''"),
    ([{**component_doc("s", "state.in-memory"),
       "spec": {"type": "state.in-memory", "version": "v2"}}],
     "couldn't find state.in-memory/v2"),
])
def test_bad_files_name_file_and_field(tmp_path: Path, docs: list, expected: str) -> None:
    write_components(tmp_path, *docs, filename="bad.yaml")
    with pytest.raises(ComponentConfigError) as caught:
        load_components([tmp_path], "app")
    assert str(tmp_path / "bad.yaml") in caught.value.message
    assert expected in caught.value.message


def test_unknown_fields_and_metadata_are_ignored_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    doc = component_doc("s", "state.in-memory", {"colour": "red", "Shade": "dark"})
    doc["status"] = {"phase": "whatever"}
    doc["spec"]["extra"] = 1
    write_components(tmp_path, doc)
    with caplog.at_level(logging.WARNING):
        registry = load_components([tmp_path], "app")
    assert list(registry.state_stores) == ["s"]
    warnings = [r.getMessage() for r in caplog.records if "not declared" in r.getMessage()]
    assert len(warnings) == 1
    assert "'Shade', 'colour'" in warnings[0]


def test_metadata_names_match_case_insensitively(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.redis", {"RedisHost": _REDIS_HOST,
                                                                    "KEYPREFIX": "none"}))
    registry = load_components([tmp_path], "app")
    try:
        assert registry.state_stores["s"].metadata["redisHost"] == _REDIS_HOST
        assert registry.key_prefixes["s"] == ""
    finally:
        registry.close()


def test_empty_version_is_the_initial_one(tmp_path: Path) -> None:
    doc = component_doc("s", "state.in-memory")
    del doc["spec"]["version"]
    write_components(tmp_path, doc)
    assert [c.version for c in load_components([tmp_path], "app").components] == [""]


def test_documents_daprd_does_not_read_are_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_components(tmp_path, component_doc("good", "state.in-memory"),
                     {**component_doc("other-api", "state.in-memory"), "apiVersion": "dapr.io/v1"},
                     component_doc("bad/name", "state.in-memory"),
                     {**component_doc("typed", "state.in-memory"), "scopes": "not-a-list"})
    (tmp_path / "broken.yaml").write_text(
        "kind: Component\n  bad: [indent\n---\n" + yaml.safe_dump(
            component_doc("after-broken", "state.in-memory")))
    (tmp_path / "notes.txt").write_text("not yaml")
    with caplog.at_level(logging.WARNING):
        registry = load_components([tmp_path], "app")
    assert sorted(registry.state_stores) == ["after-broken", "good"]
    text = caplog.text
    assert "notes.txt" in text and "broken.yaml" in text
    assert "invalid name 'bad/name'" in text and "scopes" in text


@pytest.mark.parametrize("doc", [
    component_doc("s", "state.redis"),
    component_doc("s", "state.nosuch"),
    component_doc("s", "state.redis", {"redisHost": "127.0.0.1:1", "dialTimeout": "1s"}),
])
def test_ignore_errors_covers_every_failure(tmp_path: Path, doc: dict) -> None:
    doc["spec"]["ignoreErrors"] = True
    write_components(tmp_path, doc, component_doc("fine", "state.in-memory"))
    assert sorted(load_components([tmp_path], "app").state_stores) == ["fine"]


def test_init_timeout_fails_the_component_as_daprd(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        doc = component_doc("slow", "state.redis", {
            "redisHost": f"127.0.0.1:{silent.getsockname()[1]}", "readTimeout": "30s"})
        doc["spec"]["initTimeout"] = "1s"
        write_components(tmp_path, doc)
        started = time.monotonic()
        with pytest.raises(ComponentConfigError,
                           match=r"init timeout for component slow \(state.redis/v1\) exceeded "
                                 r"after 1s"):
            load_components([tmp_path], "app")
        assert time.monotonic() - started < 10
        doc["spec"]["ignoreErrors"] = True
        write_components(tmp_path, doc)
        assert load_components([tmp_path], "app").state_stores == {}


def test_missing_secret_warns_and_leaves_the_value_empty(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env_store = component_doc("env", "secretstores.local.env", raw_metadata=[
        {"name": "prefix", "secretKeyRef": {"name": "NOPE"}}], secret_store="local-store")
    write_components(tmp_path, env_store, _secrets(tmp_path))
    with caplog.at_level(logging.WARNING):
        registry = load_components([tmp_path], "app")
    assert registry.secret_stores["env"].metadata == {"prefix": ""}
    assert "NOPE" in caplog.text


def test_secret_store_not_loaded_leaves_the_component_unloaded(tmp_path: Path) -> None:
    store = component_doc("statestore", "state.redis", raw_metadata=[
        {"name": "redisHost", "secretKeyRef": {"name": "DB:HOST"}}], secret_store="vault")
    write_components(tmp_path, store, component_doc("fine", "state.in-memory"))
    assert sorted(load_components([tmp_path], "app").state_stores) == ["fine"]


@pytest.mark.parametrize(("item", "expected"), [
    ({"name": "prefix", "value": "V_", "envRef": "H1_PREFIX"}, "V_"),
    ({"name": "prefix", "envRef": "H1_PREFIX"}, "X_"),
    ({"name": "prefix", "envRef": "DAPR_API_TOKEN"}, ""),
    ({"name": "prefix", "envRef": "dapr_secret"}, ""),
    ({"name": "prefix", "envRef": "APP_API_TOKEN"}, ""),
])
def test_env_ref_only_without_value_and_never_dapr_names(tmp_path: Path, item: dict,
                                                         expected: str) -> None:
    write_components(tmp_path, component_doc("env", "secretstores.local.env",
                                             raw_metadata=[item]))
    registry = load_components([tmp_path], "app", environ={
        "H1_PREFIX": "X_", "DAPR_API_TOKEN": "t", "DAPR_SECRET": "s", "APP_API_TOKEN": "a"})
    assert registry.secret_stores["env"].metadata == {"prefix": expected}


def test_duplicates_are_found_before_scopes(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.in-memory", scopes=["a"]),
                     component_doc("s", "state.in-memory", scopes=["b"]))
    with pytest.raises(ComponentConfigError, match="duplicate name"):
        load_components([tmp_path], "a")


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ComponentConfigError, match="is not a folder"):
        load_components([tmp_path / "absent"], "app")


def test_redis_unreachable_fails_start_up(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.redis", {
        "redisHost": "127.0.0.1:1", "dialTimeout": "1s"}))
    with pytest.raises(ComponentConfigError, match=r"cannot reach Redis at 127\.0\.0\.1:1"):
        load_components([tmp_path], "app")


def test_runtime_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.redis", {"colour": "red"}),
                     filename="statestore.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--app-id", "x", "--resources-path", str(tmp_path),
         "--dapr-http-port", "0", "--dapr-grpc-port", "0", "--registry-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    errors = [line for line in done.stderr.strip().splitlines()
              if line.startswith("error loading components")]
    assert len(errors) == 1
    assert "statestore.yaml" in errors[0] and "'redisHost'" in errors[0]


def test_repository_profiles_load_for_every_app(tmp_path: Path) -> None:
    for profile in ("config", "config/embedded"):
        docs = [d for f in sorted((REPO_ROOT / profile).glob("*.yaml"))
                for d in yaml.safe_load_all(f.read_text())]
        assert docs, profile
        for app_id in ("image-api-grayscale", "image-api-classify", "events-service"):
            registry = load_components([REPO_ROOT / profile], app_id)
            assert "statestore" in registry.state_stores
            registry.close()


def test_port_in_use_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.in-memory"))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sidecar", "--app-id", "x", "--resources-path",
             str(tmp_path), "--dapr-http-port", str(port), "--dapr-grpc-port", "0",
             "--registry-dir", str(tmp_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"{port}" in done.stderr and "error starting the Dapr API servers" in done.stderr
    assert not (tmp_path / "x.json").exists()

"""Component loading: kinds, scopes, secretKeyRef/envRef, keyPrefix, and every start-up
error naming its file and field (in-process, plus the real exit code and stderr line)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sidecar.components.loader import load_components
from sidecar.errors import ComponentConfigError
from tests.dapr_runtime import REPO_ROOT
from tests.sidecar.helpers import component_doc, write_components


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
    ([component_doc("s", "state.in-memory", {"colour": "red"})],
     "metadata 'colour': unknown field"),
    ([component_doc("s", "state.in-memory"), component_doc("s", "state.in-memory")],
     "duplicate name"),
    ([{"kind": "Component", "metadata": {"name": "s"}, "spec": {"version": "v1"}}],
     "spec.type: missing required field"),
    ([{"kind": "Component", "metadata": {"name": "s"},
       "spec": {"type": "state.in-memory", "version": "v1", "metadata": [], "extra": 1}}],
     "unknown field 'extra'"),
    ([component_doc("s", "state.in-memory", raw_metadata=[{"value": "x"}])],
     "missing required field 'name'"),
    ([component_doc("s", "state.redis", raw_metadata=[
        {"name": "redisHost", "secretKeyRef": {"name": "DB:HOST"}}])],
     "auth.secretStore is missing"),
])
def test_bad_files_name_file_and_field(tmp_path: Path, docs: list, expected: str) -> None:
    write_components(tmp_path, *docs, filename="bad.yaml")
    with pytest.raises(ComponentConfigError) as caught:
        load_components([tmp_path], "app")
    assert str(tmp_path / "bad.yaml") in caught.value.message
    assert expected in caught.value.message


def test_unresolved_secret_names_secret_and_store(tmp_path: Path) -> None:
    store = component_doc("statestore", "state.redis", raw_metadata=[
        {"name": "redisHost", "secretKeyRef": {"name": "NOPE", "key": "NOPE"}}],
        secret_store="local-store")
    write_components(tmp_path, store, _secrets(tmp_path))
    with pytest.raises(ComponentConfigError, match="unresolved secret 'NOPE' in store"):
        load_components([tmp_path], "app")


def test_invalid_yaml_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: Component\n  bad: [indent")
    with pytest.raises(ComponentConfigError, match=r"broken\.yaml: cannot read YAML"):
        load_components([tmp_path], "app")
    with pytest.raises(ComponentConfigError, match="is not a folder"):
        load_components([tmp_path / "absent"], "app")


def test_redis_unreachable_fails_start_up(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.redis", {
        "redisHost": "127.0.0.1:1", "dialTimeout": "1s"}))
    with pytest.raises(ComponentConfigError, match=r"cannot reach Redis at 127\.0\.0\.1:1"):
        load_components([tmp_path], "app")


def test_runtime_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    write_components(tmp_path, component_doc("s", "state.in-memory", {"colour": "red"}),
                     filename="statestore.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--app-id", "x", "--resources-path", str(tmp_path),
         "--dapr-http-port", "0", "--dapr-grpc-port", "0", "--registry-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "statestore.yaml" in lines[0] and "'colour'" in lines[0]


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

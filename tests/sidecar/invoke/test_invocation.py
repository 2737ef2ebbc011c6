"""Service invocation through real runtimes: own app, another app's runtime found in the
shared registry folder, unknown ids, an app that is down, and the dapr-app-id header."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.testing import Sidecar, free_port, run_sidecar
from tests.sidecar.fake_app import FakeApp, run_fake_app
from tests.sidecar.helpers import component_doc, unique_id, write_components


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_components(tmp_path_factory.mktemp("res"),
                            component_doc("statestore", "state.in-memory"))


@pytest.fixture(scope="module")
def pair(resources: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Sidecar, Sidecar, FakeApp]]:
    """Runtime A (no app) and runtime B (with a fake app), sharing one registry folder."""
    registry = tmp_path_factory.mktemp("registry")
    with run_fake_app() as app, \
            run_sidecar(unique_id("caller"), [resources], registry_dir=registry) as caller, \
            run_sidecar(unique_id("callee"), [resources], app_port=app.port,
                        registry_dir=registry) as callee:
        yield caller, callee, app


def test_own_app_gets_verb_path_query_headers_body(pair: tuple[Sidecar, Sidecar, FakeApp]
                                                   ) -> None:
    _, callee, _ = pair
    reply = httpx.put(f"{callee.http_url}/v1.0/invoke/{callee.app_id}/method/orders/7?x=1&y=2",
                      content=b"payload", headers={"x-custom": "abc",
                                                   "content-type": "text/plain"})
    assert reply.status_code == 200
    echo = reply.json()
    assert (echo["method"], echo["path"], echo["query"], echo["body"]) == (
        "PUT", "/orders/7", "x=1&y=2", "payload")
    assert echo["headers"]["x-custom"] == "abc"
    assert echo["headers"]["content-type"] == "text/plain"
    assert reply.headers["x-fake-app"] == "yes"


def test_other_app_is_reached_through_its_runtime(pair: tuple[Sidecar, Sidecar, FakeApp]
                                                  ) -> None:
    caller, callee, _ = pair
    reply = httpx.post(f"{caller.http_url}/v1.0/invoke/{callee.app_id}/method/classify",
                       content=b'{"image": "abc"}', headers={"Content-Type": "application/json"})
    assert reply.status_code == 200
    echo = reply.json()
    assert echo["path"] == "/classify"
    assert json.loads(echo["body"]) == {"image": "abc"}
    assert echo["headers"]["content-type"] == "application/json"  # once, not repeated
    assert echo["headers"]["dapr-caller-app-id"] == caller.app_id
    assert echo["headers"]["dapr-callee-app-id"] == callee.app_id


def test_app_status_and_body_come_back_unchanged(pair: tuple[Sidecar, Sidecar, FakeApp]) -> None:
    caller, callee, _ = pair
    reply = httpx.get(f"{caller.http_url}/v1.0/invoke/{callee.app_id}/method/x?status=418")
    assert reply.status_code == 418
    assert reply.json()["path"] == "/x"


def test_dapr_app_id_header_on_a_plain_path(pair: tuple[Sidecar, Sidecar, FakeApp]) -> None:
    caller, callee, _ = pair
    reply = httpx.delete(f"{caller.http_url}/items/3?force=1",
                         headers={"dapr-app-id": callee.app_id})
    assert reply.status_code == 200
    assert (reply.json()["method"], reply.json()["path"], reply.json()["query"]) == (
        "DELETE", "/items/3", "force=1")
    assert "dapr-app-id" not in reply.json()["headers"]


def test_unknown_app_id_is_err_direct_invoke_naming_it(pair: tuple[Sidecar, Sidecar, FakeApp]
                                                       ) -> None:
    caller, _, _ = pair
    reply = httpx.post(f"{caller.http_url}/v1.0/invoke/nobody-here/method/x")
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "nobody-here" in reply.json()["message"]


def test_own_app_without_app_port_is_err_direct_invoke(pair: tuple[Sidecar, Sidecar, FakeApp]
                                                       ) -> None:
    caller, _, _ = pair
    reply = httpx.get(f"{caller.http_url}/v1.0/invoke/{caller.app_id}/method/x")
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"


def test_app_not_listening_is_err_direct_invoke(resources: Path) -> None:
    with run_sidecar(unique_id("down"), [resources], app_port=free_port()) as sidecar:
        reply = httpx.get(f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/x")
    assert reply.status_code == 500
    assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"


def test_registry_entry_lifecycle_and_dead_pids(resources: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    with run_sidecar(unique_id("reg"), [resources], registry_dir=registry) as sidecar:
        entry = json.loads((registry / f"{sidecar.app_id}.json").read_text())
        assert (entry["http_port"], entry["grpc_port"], entry["pid"]) == (
            sidecar.http_port, sidecar.grpc_port, sidecar.process.pid)
        # A stale entry of a dead process must not resolve.
        dead = dict(entry, app_id="ghost", pid=_dead_pid())
        (registry / "ghost.json").write_text(json.dumps(dead))
        reply = httpx.post(f"{sidecar.http_url}/v1.0/invoke/ghost/method/x")
        assert reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"
        sidecar.process.send_signal(signal.SIGTERM)
        assert sidecar.process.wait(10) == 0
    assert not (registry / f"{sidecar.app_id}.json").exists()


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid

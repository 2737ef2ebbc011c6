"""Fixtures for the runtime tests: one real ``python -m sidecar`` per state store type.

The conformance tests reach the runtime over plain HTTP only. With ``DAPR_TEST_HTTP_URL``
set they use that runtime instead (a real daprd, say) and the store named by
``DAPR_TEST_STATE_STORE`` (default ``statestore``); they never start their own then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from sidecar.testing import free_port, run_sidecar
from tests.conftest import REDIS_URL

from .helpers import EXTERNAL_URL, component_doc, unique_id, wait_until, write_components

__all__ = ["STATE_STORE", "StateApi", "private_redis", "state_api"]

STATE_STORE = "statestore"
_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class StateApi:
    """An HTTP client on a runtime and the state store name to use there."""

    client: httpx.Client
    store: str
    kind: str

    def url(self, suffix: str = "") -> str:
        return f"/v1.0/state/{self.store}{suffix}"


def _state_component(kind: str) -> dict:
    if kind == "redis":
        return component_doc(STATE_STORE, "state.redis", {"redisHost": _REDIS_HOST})
    return component_doc(STATE_STORE, "state.in-memory")


@pytest.fixture(scope="module", params=["in-memory", "redis"])
def state_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[StateApi]:
    """A runtime with one state store of each type in turn (or the external runtime)."""
    if EXTERNAL_URL:
        with httpx.Client(base_url=EXTERNAL_URL, timeout=10) as client:
            yield StateApi(client, os.environ.get("DAPR_TEST_STATE_STORE", STATE_STORE),
                           "external")
        return
    if request.param == "redis":
        request.getfixturevalue("redis_client")  # fails clearly when Redis is down
    folder: Path = write_components(tmp_path_factory.mktemp("res"),
                                    _state_component(request.param))
    with run_sidecar(unique_id("conf"), [folder]) as sidecar:
        with httpx.Client(base_url=sidecar.http_url, timeout=10) as client:
            yield StateApi(client, STATE_STORE, request.param)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts a throw-away redis-server on its own port; the shared one is never touched."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; the fault tests need it (apt-get install "
                    "redis-server), and CI installs it with the other services")
    port, servers = free_port(), []

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        servers.append(server)
        client = redis.Redis(port=port)
        assert wait_until(lambda: _pings(client), timeout=5)
        return server

    start.port = port  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.terminate()
        server.wait()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False

"""The deliberate divergences from daprd that no other test pins down (docs/sidecar.md,
"Known divergences"): each one asserted here so that changing it is a decision, not an
accident."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.components.state.redis import RedisStateStore
from sidecar.errors import ComponentConfigError
from sidecar.testing import run_sidecar
from tests.conftest import REDIS_URL

from .helpers import component_doc, unique_id, write_components

_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = write_components(tmp_path_factory.mktemp("divergences"),
                              component_doc("statestore", "state.in-memory"))
    with run_sidecar(unique_id("divergences"), [folder]) as sidecar, \
            httpx.Client(base_url=sidecar.http_url, timeout=10) as client:
        yield client


def test_metadata_reports_the_local_runtime_version(api: httpx.Client) -> None:
    """Clients can tell this runtime from a daprd release."""
    info = api.get("/v1.0/metadata").json()
    assert info["runtimeVersion"] == "1.15.0-local"
    assert info["extended"]["daprRuntimeVersion"] == "1.15.0-local"


def test_http_state_values_keep_pythons_json_text(api: httpx.Client) -> None:
    """Stored as Python's JSON encoder writes it: 1.0 stays 1.0 (Go writes 1), and <, >, &
    are not escaped."""
    key = unique_id("float")
    saved = api.post("/v1.0/state/statestore", json=[{"key": key,
                                                      "value": {"f": 1.0, "tag": "<b>"}}])
    assert saved.status_code == 204
    assert api.get(f"/v1.0/state/statestore/{key}").text == '{"f":1.0,"tag":"<b>"}'


@pytest.mark.parametrize("kind", ["cluster", "failover"])
def test_redis_is_node_only(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ComponentConfigError, match="redisType': only 'node'"):
        RedisStateStore("s", {"redisHost": _REDIS_HOST, "redisType": kind})

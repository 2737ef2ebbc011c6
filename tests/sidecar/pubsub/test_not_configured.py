"""A runtime without any pub/sub component: ERR_PUBSUB_NOT_CONFIGURED over HTTP and gRPC."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from dapr.clients.exceptions import DaprGrpcError

from sidecar.testing import run_sidecar
from tests.sidecar.helpers import component_doc, unique_id, write_components

from .test_grpc import sdk_client


def test_not_configured(tmp_path: Path) -> None:
    folder = write_components(tmp_path, component_doc("store", "state.in-memory"))
    with run_sidecar(unique_id("no-pubsub"), [folder]) as sidecar:
        response = httpx.post(f"{sidecar.http_url}/v1.0/publish/pubsub/t", content=b"x")
        assert (response.status_code, response.json()["errorCode"]) == (
            400, "ERR_PUBSUB_NOT_CONFIGURED")
        with sdk_client(sidecar.http_url, sidecar.grpc_port) as client, \
                pytest.raises(DaprGrpcError) as info:
            client.publish_event("pubsub", "t", b"x")
        assert info.value.error_code() == "DAPR_PUBSUB_NOT_CONFIGURED"


def test_bad_match_expression_is_a_startup_error(tmp_path: Path) -> None:
    folder = write_components(tmp_path, component_doc("pubsub", "pubsub.in-memory"))
    (folder / "sub.yaml").write_text(
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: broken}\n"
        "spec: {pubsubname: pubsub, topic: t, routes: {rules: [{match: 'event.type ==', "
        "path: /x}]}}\n", encoding="utf-8")
    with pytest.raises(Exception, match="broken") as info, \
            run_sidecar(unique_id("bad-sub"), [folder], timeout=10):
        pass
    assert "does not compile" in str(info.value)

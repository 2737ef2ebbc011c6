"""Fixtures for the gRPC API conformance tests: the unmodified dapr SDK ``DaprClient`` (gRPC)
against one real ``python -m sidecar`` per session, with a tiny HTTP app behind it.

The runtime serves app id ``APP_ID`` with these components (names in helpers.py):
``statestore`` (state.redis on the real Redis), ``memstore`` (state.in-memory),
``localsecretstore`` (secretstores.local.file over ``SECRETS``, nestedSeparator ":") and
``events-db`` (bindings.mysql on the real MariaDB).

To run the suite against a real daprd instead, set ``DAPR_TEST_GRPC_ADDRESS`` (host:port) and
``DAPR_TEST_HTTP_URL``; that daprd must have the components above, app id
``DAPR_TEST_APP_ID`` and app port ``DAPR_TEST_APP_PORT``, where the suite starts its tiny app.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
import redis
from dapr.clients import DaprClient
from dapr.conf import settings as sdk_settings
from dapr.proto import api_service_v1

from sidecar.testing import run_sidecar
from tests.conftest import MYSQL_DSN, REDIS_URL
from tests.sidecar.helpers import component_doc, write_components

from .helpers import (
    APP_ID,
    BINDING,
    EXTERNAL_GRPC,
    EXTERNAL_HTTP,
    MEMORY_STORE,
    REDIS_STORE,
    SECRET_STORE,
    SECRETS,
    TinyApp,
    tiny_app_server,
)

_REDIS_HOST = REDIS_URL.split("://", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class Target:
    """The runtime under test: its gRPC address, HTTP URL and the app behind it."""

    grpc_address: str
    http_url: str
    app: TinyApp


def _components(folder: Path) -> Path:
    secrets_file = folder / "secrets.json"
    secrets_file.write_text(json.dumps(SECRETS), encoding="utf-8")
    return write_components(
        folder / "components",
        component_doc(REDIS_STORE, "state.redis", {"redisHost": _REDIS_HOST}),
        component_doc(MEMORY_STORE, "state.in-memory"),
        component_doc(SECRET_STORE, "secretstores.local.file",
                      {"secretsFile": str(secrets_file), "nestedSeparator": ":"}),
        component_doc(BINDING, "bindings.mysql", {"url": MYSQL_DSN}),
    )


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory, redis_client: redis.Redis,
           mysql_params: dict) -> Iterator[Target]:
    """Our runtime with the components above (or the external one), its app running."""
    if EXTERNAL_GRPC:
        assert EXTERNAL_HTTP, "DAPR_TEST_GRPC_ADDRESS needs DAPR_TEST_HTTP_URL too"
        with tiny_app_server(int(os.environ.get("DAPR_TEST_APP_PORT", "0"))) as app:
            yield Target(EXTERNAL_GRPC, EXTERNAL_HTTP, app)
        return
    folder = _components(tmp_path_factory.mktemp("grpc-conformance"))
    try:
        with tiny_app_server() as app, run_sidecar(APP_ID, [folder],
                                                   app_port=app.port) as sidecar:
            yield Target(f"127.0.0.1:{sidecar.grpc_port}", sidecar.http_url, app)
    finally:
        # Every run has its own app id, so its keys would otherwise pile up in Redis.
        for stale in redis_client.scan_iter(match=f"{APP_ID}||*", count=1000):
            redis_client.delete(stale)


def _client(target: Target, invocation_protocol: str) -> DaprClient:
    """A DaprClient on ``target``; the SDK reads these settings in its constructor."""
    url = urlsplit(target.http_url)
    # DaprClient() first waits for GET <http api>/v1.0/healthz/outbound; point it at target.
    # The SDK's settings object takes its attributes from dapr.conf.global_settings at run time.
    setattr(sdk_settings, "DAPR_HTTP_PORT", url.port or 80)  # noqa: B010
    setattr(sdk_settings, "DAPR_HTTP_ENDPOINT", target.http_url)  # noqa: B010
    setattr(sdk_settings, "DAPR_API_METHOD_INVOCATION_PROTOCOL", invocation_protocol)  # noqa: B010
    return DaprClient(address=target.grpc_address)


@pytest.fixture(scope="session")
def _sdk_settings_restored() -> Iterator[None]:
    """Undo the SDK setting overrides after the session, for other test packages."""
    saved = dict(vars(sdk_settings))
    yield
    vars(sdk_settings).clear()
    vars(sdk_settings).update(saved)


@pytest.fixture(scope="session")
def client(target: Target, _sdk_settings_restored: None) -> Iterator[DaprClient]:
    with _client(target, "http") as dapr:
        yield dapr


@pytest.fixture(scope="session")
def grpc_invoke_client(target: Target, _sdk_settings_restored: None) -> Iterator[DaprClient]:
    """A DaprClient whose ``invoke_method`` goes over gRPC InvokeService."""
    with _client(target, "grpc") as dapr:
        yield dapr


@pytest.fixture(scope="session")
def stub(target: Target) -> Iterator[api_service_v1.DaprStub]:
    """The bare generated stub, for RPCs and fields the SDK does not expose."""
    with grpc.insecure_channel(target.grpc_address) as channel:
        yield api_service_v1.DaprStub(channel)


@pytest.fixture(params=[REDIS_STORE, MEMORY_STORE])
def store(request: pytest.FixtureRequest) -> str:
    """Each state store in turn."""
    return str(request.param)

"""``--app-protocol https``: the runtime reaches its app over TLS and, as daprd's app channel
(``InsecureSkipVerify``), accepts the app's self-signed certificate; an app that answers plain
HTTP on that port is a failed invocation, not a hang."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.testing import Sidecar, run_sidecar
from tests.sidecar.fake_app import FakeApp, run_fake_app
from tests.sidecar.helpers import unique_id


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (no CA will vouch for it)."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=self-signed.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def https_app(server_tls: ssl.SSLContext, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Sidecar, FakeApp]]:
    components = tmp_path_factory.mktemp("components")
    with run_fake_app(tls=server_tls) as app, \
            run_sidecar(unique_id("https-app"), [components], app_port=app.port,
                        env={"APP_PROTOCOL": "https"}) as sidecar:
        yield sidecar, app


def test_invocation_reaches_an_https_app_with_a_self_signed_certificate(
        https_app: tuple[Sidecar, FakeApp]) -> None:
    sidecar, app = https_app
    response = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/orders?x=1",
                          content=b'{"n":1}', headers={"content-type": "application/json"},
                          timeout=10)
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
        "POST", "/orders", "x=1", '{"n":1}')
    assert app.requests[-1].headers["dapr-callee-app-id"] == sidecar.app_id


def test_a_plain_http_app_behind_an_https_channel_is_a_failed_call(
        tmp_path: Path) -> None:
    with run_fake_app() as app, \
            run_sidecar(unique_id("plain-app"), [tmp_path], app_port=app.port,
                        env={"APP_PROTOCOL": "https"}) as sidecar:
        response = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/x",
                              content=b"{}", timeout=30)
    assert response.status_code == 500, response.text
    assert response.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert app.requests == []  # the TLS handshake never became a request

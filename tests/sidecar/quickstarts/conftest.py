"""Two runtimes as the quickstarts run them: ``order-processor`` with its app
(``order_processor.py``, Flask + ``dapr.ext.flask.DaprApp``) and ``checkout`` with no app, the
client program's runtime, started with ``--config`` (the secret scopes of python-sdk
``examples/secret_store/config.yaml``). Both share the name-resolution folder and these
components (``components/``):

- ``statestore``: ``state.in-memory`` (each runtime its own, as the state example needs a
  fresh store)
- ``localsecretstore``: ``secretstores.local.file`` holding ``secretKey`` and ``random``
- ``orderpubsub``: ``pubsub.local.sqlite`` on one file, so ``checkout`` publishes what
  ``order-processor`` delivers
- ``files``: ``bindings.localstorage``

The runtimes are started with ``sidecar.testing.run_sidecar``, the app as a plain
``python order_processor.py <port>``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from sidecar.testing import Sidecar, free_port, run_sidecar
from tests.sidecar.helpers import component_doc, write_components

__all__ = ["HERE", "Quickstart", "quickstart"]

HERE = Path(__file__).parent
#: python-sdk examples/secret_store/config.yaml.
_CONFIG = {"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration",
           "metadata": {"name": "daprConfig"},
           "spec": {"secrets": {"scopes": [{"storeName": "localsecretstore",
                                            "defaultAccess": "deny",
                                            "allowedSecrets": ["secretKey"]}]}}}


@dataclass(frozen=True)
class Quickstart:
    """The checkout runtime (the client's), the order-processor runtime and its app's output."""

    checkout: Sidecar
    order_processor: Sidecar
    app_log: Path

    def run(self, step: str) -> list[str]:
        """Run ``checkout.py <step>`` against the checkout runtime; its output lines."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("DAPR_HTTP_ENDPOINT", "DAPR_GRPC_ENDPOINT", "DAPR_API_TOKEN")}
        done = subprocess.run([sys.executable, str(HERE / "checkout.py"), step],
                              env={**env, **self.checkout.env}, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.splitlines()

    def app_lines(self, count: int, pattern: str, timeout: float = 15.0) -> list[str]:
        """What the app printed matching ``pattern``, once there are ``count`` matches.

        Matched in the whole output, not line by line: ``print`` writes its text and its
        newline in two writes, so two deliveries handled at once (daprd delivers concurrently
        too) can print ``Subscriber received : 2Subscriber received : 1`` and then two newlines.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.app_log.read_text())
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def _resources(folder: Path) -> Path:
    (folder / "secrets.json").write_text(json.dumps({"secretKey": "secretValue",
                                                     "random": "randomValue"}))
    (folder / "config.yaml").write_text(yaml.safe_dump(_CONFIG))
    return write_components(
        folder / "components",
        component_doc("statestore", "state.in-memory"),
        component_doc("localsecretstore", "secretstores.local.file",
                      {"secretsFile": str(folder / "secrets.json")}),
        component_doc("orderpubsub", "pubsub.local.sqlite",
                      {"databasePath": str(folder / "pubsub.db")}),
        component_doc("files", "bindings.localstorage", {"rootPath": str(folder / "files")}))


def _wait_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the app did not answer:\n{log.read_text()}")


@pytest.fixture(scope="package")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quickstart]:
    folder = tmp_path_factory.mktemp("quickstart")
    components = _resources(folder)
    port = free_port()
    app_log = folder / "order-processor.log"
    with open(app_log, "wb") as out:
        app = subprocess.Popen([sys.executable, str(HERE / "order_processor.py"), str(port)],
                               stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_answering(app, f"http://127.0.0.1:{port}/dapr/subscribe", app_log)
        registry = folder / "registry"
        with run_sidecar("order-processor", [components], app_port=port, cwd=folder,
                         registry_dir=registry) as order_processor, \
             run_sidecar("checkout", [components], cwd=folder, registry_dir=registry,
                         env={"DAPR_CONFIG": str(folder / "config.yaml")}) as checkout:
            yield Quickstart(checkout, order_processor, app_log)
    finally:
        app.terminate()
        app.wait(10)

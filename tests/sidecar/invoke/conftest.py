"""A gRPC app (``grpc_app.py``) behind a runtime started with ``--app-protocol grpc``, and a
second runtime without an app in the same registry folder, shared by the gRPC app-channel and
gRPC proxying tests of this folder.

Components of the app's runtime: ``pubsub`` (``pubsub.in-memory``) and ``cron``
(``bindings.cron``, ``@every 1s``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidecar.testing import Sidecar, free_port, run_sidecar
from tests.sidecar.helpers import component_doc, unique_id, write_components

__all__ = ["GrpcStack", "grpc_stack"]

_APP = Path(__file__).with_name("grpc_app.py")


@dataclass(frozen=True)
class GrpcStack:
    """The gRPC app's runtime, a caller runtime and what the app recorded."""

    app: Sidecar
    caller: Sidecar
    app_port: int
    records_path: Path

    def records(self, kind: str) -> list[dict[str, Any]]:
        lines = self.records_path.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.records(kind)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} {kind!r} records expected, got {self.records(kind)}")


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    import socket
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gRPC app exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the gRPC app did not listen")


@pytest.fixture(scope="package")
def grpc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcStack]:
    folder = tmp_path_factory.mktemp("grpc-app")
    write_components(folder / "resources",
                     component_doc("pubsub", "pubsub.in-memory"),
                     component_doc("cron", "bindings.cron", {"schedule": "@every 1s"}))
    (folder / "empty").mkdir()
    records = folder / "records.jsonl"
    port = free_port()
    app = subprocess.Popen([sys.executable, str(_APP), str(port), str(records)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(app, port)
        with run_sidecar(unique_id("grpc-app"), [folder / "resources"], app_port=port,
                         env={"APP_PROTOCOL": "grpc"},
                         registry_dir=folder / "registry") as target, \
                run_sidecar(unique_id("caller"), [folder / "empty"],
                            registry_dir=folder / "registry") as caller:
            yield GrpcStack(target, caller, port, records)
    finally:
        app.terminate()
        app.wait(10)

"""Start a real ``python -m sidecar`` subprocess for a test; the one shared helper.

    from tests.dapr_runtime import run_sidecar

    with run_sidecar("my-app", [resources_dir], app_port=None, env=None, cwd=None,
                     registry_dir=None) as sidecar:
        httpx.get(f"{sidecar.http_url}/v1.0/healthz")      # 204
        DaprClient()  # after os.environ.update(sidecar.env), or pass sidecar.env to a subprocess

``run_sidecar(app_id, resources_paths, app_port=None, env=None, cwd=None, registry_dir=None)``
is a context manager yielding a ``Sidecar`` with:

    .http_port, .grpc_port   free ephemeral ports picked for this runtime
    .http_url                "http://127.0.0.1:<http_port>"
    .env                     {"DAPR_HTTP_PORT": ..., "DAPR_GRPC_PORT": ...} for an SDK client
    .registry_dir            the name-resolution folder it registered in
    .log                     everything the runtime printed so far (a str, read on access)
    .process                 the subprocess.Popen

It waits (up to ``timeout`` seconds, default 20) until ``GET /v1.0/healthz`` answers 204 and
raises ``SidecarStartError`` with the runtime's log when it exits or never gets healthy. On
exit it sends SIGTERM, waits, then kills; when the ``with`` body raised, the log is printed so
pytest shows it. ``registry_dir`` defaults to a fresh temporary folder (never the global
default, so tests never see a dev stack); give sidecars that must find each other the same one.
``env`` is added to the current environment; ``cwd`` defaults to the repository root, which is
where relative paths in component files (``secretsFile``, ``rootPath``) resolve.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["REPO_ROOT", "Sidecar", "SidecarStartError", "free_port", "run_sidecar"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_STOP_TIMEOUT = 10.0


class SidecarStartError(RuntimeError):
    """The runtime exited or never became healthy; the message holds its log."""


def free_port() -> int:
    """An ephemeral port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sidecar:
    app_id: str
    http_port: int
    grpc_port: int
    registry_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _wait_healthy(sidecar: Sidecar, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sidecar.process.poll() is not None:
            raise SidecarStartError(f"runtime {sidecar.app_id} exited with code "
                                    f"{sidecar.process.returncode}:\n{sidecar.log}")
        try:
            if httpx.get(f"{sidecar.http_url}/v1.0/healthz", timeout=1.0).status_code == 204:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SidecarStartError(f"runtime {sidecar.app_id} not healthy after {timeout}s:\n"
                            f"{sidecar.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def run_sidecar(app_id: str, resources_paths: Sequence[str | os.PathLike[str]],
                app_port: int | None = None, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike[str] | None = None,
                registry_dir: str | os.PathLike[str] | None = None, *,
                timeout: float = 20.0, log_level: str = "info") -> Iterator[Sidecar]:
    """Run ``python -m sidecar`` for ``app_id`` on free ports (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="sidecar-test-") as scratch:
        folder = Path(registry_dir) if registry_dir is not None else Path(scratch) / "registry"
        http_port, grpc_port = free_port(), free_port()
        while grpc_port == http_port:
            grpc_port = free_port()
        args = [sys.executable, "-m", "sidecar", "--app-id", app_id,
                "--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port),
                "--registry-dir", str(folder), "--log-level", log_level]
        for path in resources_paths:
            args += ["--resources-path", str(path)]
        if app_port is not None:
            args += ["--app-port", str(app_port)]
        log_path = Path(scratch) / "sidecar.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args, cwd=str(cwd or REPO_ROOT), stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        sidecar = Sidecar(app_id, http_port, grpc_port, folder, process, log_path, env={
            "DAPR_HTTP_PORT": str(http_port), "DAPR_GRPC_PORT": str(grpc_port)})
        try:
            _wait_healthy(sidecar, timeout)
            yield sidecar
        except BaseException:
            _stop(process)
            print(f"--- log of runtime {app_id} ---\n{sidecar.log}", file=sys.stderr)
            raise
        finally:
            _stop(process)

"""Run the local Dapr runtime, and functions-framework functions, as real processes in tests.

A pytest plugin (entry point ``pytest11``, loaded in every pytest run once this package is
installed) and the helpers it is built on; see docs/testing.md.

    def test_save_and_get(dapr_sidecar):           # the fixture: a factory
        dapr_sidecar("tests/resources", app_id="my-app")   # DAPR_*_PORT now point at it
        with DaprClient() as client:
            client.save_state("statestore", "k", "v")

``run_sidecar(app_id, resources_paths, ...)`` is the same without pytest: a context manager
yielding a ``Sidecar`` (``http_port``, ``grpc_port``, ``http_url``, ``grpc_address``, ``env``,
``registry_dir``, ``log``, ``process``). ``start_function(target, source, log_dir, ...)`` starts
``functions-framework`` the way dapr.yaml runs it and waits until ``GET /`` answers 200.

The runtime is only ever run as a subprocess (``python -m sidecar``); this module imports no
part of it, and nothing beyond the standard library and pytest, because pytest imports it in
every test session of anyone who installs the package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import pytest

__all__ = ["FF", "FunctionProcess", "Sidecar", "SidecarFactory", "SidecarStartError",
           "dapr_sidecar", "free_port", "run_sidecar", "start_function"]

#: The functions-framework console script of the running interpreter's environment.
FF = str(Path(sys.executable).with_name("functions-framework"))
_LOOPBACK = "127.0.0.1"
_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
_POLL_INTERVAL = 0.05  # seconds between readiness probes
#: Variables the dapr SDK prefers over DAPR_HTTP_PORT / DAPR_GRPC_PORT; cleared by the fixture.
_SDK_ENDPOINT_VARS = ("DAPR_HTTP_ENDPOINT", "DAPR_GRPC_ENDPOINT")

_PathArg: TypeAlias = str | os.PathLike[str]


class SidecarStartError(RuntimeError):
    """The runtime exited or never became healthy; the message holds its log."""


def free_port(exclude: Sequence[int | None] = ()) -> int:
    """An ephemeral loopback port that was free a moment ago and is not in ``exclude``."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_LOOPBACK, 0))
            port: int = sock.getsockname()[1]
        if port not in exclude:
            return port


def _http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status of ``GET path`` on the loopback ``port``, or None when nothing answers."""
    import http.client  # here, not at the top: ~7 ms, and pytest loads this module every run

    conn = http.client.HTTPConnection(_LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Sidecar:
    """A running ``python -m sidecar`` for one app id."""

    app_id: str
    http_port: int
    grpc_port: int
    registry_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    #: ``DAPR_HTTP_PORT`` / ``DAPR_GRPC_PORT`` for an SDK client (or an app's subprocess).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://{_LOOPBACK}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"{_LOOPBACK}:{self.grpc_port}"

    @property
    def log(self) -> str:
        """Everything the runtime printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _wait_healthy(sidecar: Sidecar, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sidecar.process.poll() is not None:
            raise SidecarStartError(f"runtime {sidecar.app_id} exited with code "
                                    f"{sidecar.process.returncode}:\n{sidecar.log}")
        if _http_status(sidecar.http_port, "/v1.0/healthz") == 204:
            return
        time.sleep(_POLL_INTERVAL)
    raise SidecarStartError(f"runtime {sidecar.app_id} not healthy after {timeout}s:\n"
                            f"{sidecar.log}")


@contextmanager
def run_sidecar(app_id: str, resources_paths: Sequence[_PathArg], app_port: int | None = None,
                env: Mapping[str, str] | None = None, cwd: _PathArg | None = None,
                registry_dir: _PathArg | None = None, *, timeout: float = 20.0,
                log_level: str = "info", http_port: int | None = None,
                grpc_port: int | None = None, flags: Sequence[str] = ()) -> Iterator[Sidecar]:
    """Run ``python -m sidecar`` for ``app_id`` on two free ports until the block ends.

    Args:
        app_id: the app id (``--app-id``).
        resources_paths: component folders (``--resources-path``, repeated).
        app_port: the app's port (``--app-port``); the runtime's own ports avoid it.
        env: added to the current environment of the runtime.
        cwd: the runtime's working directory, where relative paths in component files
            (``secretsFile``, ``rootPath``) resolve; default: the current one.
        registry_dir: the name-resolution folder; default a fresh temporary one (never the
            global default, so a test never sees a dev stack). Runtimes that must invoke
            each other need the same one.
        timeout: seconds to wait for ``GET /v1.0/healthz`` to answer 204.
        log_level: ``--log-level``.
        http_port, grpc_port: the runtime's ports; default free ones. Give a stopped
            runtime's ports to start it again where its app already looks for it.
        flags: more of daprd's flags, as daprd takes them (``["--max-body-size", "16Mi"]``).

    Yields the ``Sidecar``. Raises ``SidecarStartError`` with the runtime's log when it exits or
    never gets healthy. On exit: SIGTERM, wait, SIGKILL; when the block raised, the log is
    printed on stderr first, so pytest shows it.
    """
    with tempfile.TemporaryDirectory(prefix="sidecar-test-") as scratch:
        folder = Path(registry_dir) if registry_dir is not None else Path(scratch) / "registry"
        http_port = http_port or free_port([app_port])
        grpc_port = grpc_port or free_port([app_port, http_port])
        args = [sys.executable, "-m", "sidecar", "--app-id", app_id,
                "--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port),
                "--registry-dir", str(folder), "--log-level", log_level]
        for path in resources_paths:
            args += ["--resources-path", str(path)]
        if app_port is not None:
            args += ["--app-port", str(app_port)]
        args += flags
        log_path = Path(scratch) / "sidecar.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                args, cwd=None if cwd is None else str(cwd), stdout=log,
                stderr=subprocess.STDOUT,
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


@dataclass
class FunctionProcess:
    """A running ``functions-framework`` process serving one target."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{_LOOPBACK}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL (gunicorn's workers go with their master)."""
        _stop(self.process)

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once, as a crash of the whole pod."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_function(target: str, source: _PathArg, log_dir: Path,
                   env: Mapping[str, str] | None = None, *, workers: int = 1, threads: int = 4,
                   timeout: float = 30.0, port: int | None = None,
                   cwd: _PathArg | None = None,
                   server: Sequence[str] = (FF,)) -> FunctionProcess:
    """Start ``functions-framework --target target --source source`` and wait for ``GET /``.

    ``server`` is the command before the flags: any program taking functions-framework's
    ``--target/--source/--host/--port`` (this project serves through
    ``python -m bindings.http.serving``).

    It runs as dapr.yaml runs it: gunicorn with ``WORKERS`` x ``THREADS``, on ``port`` (default
    a free one) on the loopback, output in ``log_dir/<target>-<port>.log``. ``env`` is added to
    the current environment: give it a ``Sidecar.env`` to aim the dapr SDK at that runtime.
    The caller stops it (``stop()``). Raises RuntimeError with the log when it exits or gives
    no 200 on ``GET /`` within ``timeout`` seconds.
    """
    port = port or free_port()
    full_env = {**os.environ, "WORKERS": str(workers), "THREADS": str(threads),
                "PYTHONUNBUFFERED": "1", **(env or {})}
    log_path = log_dir / f"{target}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*server, "--target", target, "--source", str(source),
             "--host", _LOOPBACK, "--port", str(port)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT,
            cwd=None if cwd is None else str(cwd),
            # Its own process group, so ``kill`` reaches the workers too.
            process_group=0)
    fn = FunctionProcess(target, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target} exited with {process.returncode}:\n{fn.log()}")
        if _http_status(port, "/") == 200:
            return fn
        time.sleep(_POLL_INTERVAL)
    fn.stop()
    raise RuntimeError(f"{target} did not answer within {timeout}s:\n{fn.log()}")


#: ``dapr_sidecar(resources, app_id="app", *, app_port=None, env=None, cwd=None,
#: timeout=20.0) -> Sidecar``
SidecarFactory: TypeAlias = Callable[..., Sidecar]


@pytest.fixture
def dapr_sidecar(monkeypatch: pytest.MonkeyPatch,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarFactory]:
    """A factory starting ``python -m sidecar`` runtimes for this test; see docs/testing.md.

    ``dapr_sidecar(resources, app_id="app", *, app_port=None, env=None, cwd=None,
    timeout=20.0, flags=())`` starts a runtime on free ports with the component folder(s)
    ``resources``, waits until it is healthy and sets ``DAPR_HTTP_PORT`` / ``DAPR_GRPC_PORT``
    (and unsets ``DAPR_HTTP_ENDPOINT`` / ``DAPR_GRPC_ENDPOINT``), so a ``DaprClient()``
    created afterwards talks to it. It returns the ``Sidecar``. The runtimes of one test share
    a name-resolution folder (they can invoke each other); the variables point at the last
    one started. After the test every runtime is stopped and the variables are restored.
    """
    registry = tmp_path_factory.mktemp("dapr-registry")
    with ExitStack() as running:
        def start(resources: _PathArg | Sequence[_PathArg], app_id: str = "app", *,
                  app_port: int | None = None, env: Mapping[str, str] | None = None,
                  cwd: _PathArg | None = None, timeout: float = 20.0,
                  flags: Sequence[str] = ()) -> Sidecar:
            paths = [resources] if isinstance(resources, str | os.PathLike) else resources
            sidecar = running.enter_context(run_sidecar(
                app_id, paths, app_port, env, cwd, registry, timeout=timeout, flags=flags))
            for name in _SDK_ENDPOINT_VARS:
                monkeypatch.delenv(name, raising=False)
            for name, value in sidecar.env.items():
                monkeypatch.setenv(name, value)
            return sidecar
        yield start

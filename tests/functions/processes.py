"""Real ``functions-framework`` processes on free ports, for the integration tests and benches.

Each function runs exactly as dapr.yaml runs it (``functions-framework --target ... --source
...``, gunicorn with WORKERS x THREADS), with the dapr SDK aimed at its sidecar through
DAPR_HTTP_PORT / DAPR_GRPC_PORT.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.dapr_runtime import free_port

__all__ = ["FunctionProcess", "free_port", "start_function"]

REPO_ROOT = Path(__file__).resolve().parents[2]
FF = str(Path(sys.executable).with_name("functions-framework"))


@dataclass
class FunctionProcess:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_function(name: str, log_dir: Path, env: Mapping[str, str] | None = None,
                   workers: int = 1, threads: int = 4, timeout: float = 30.0,
                   port: int | None = None, source: Path | None = None) -> FunctionProcess:
    """Start ``functions/<name>/main.py`` (or ``source``) and wait until it answers ``GET /``."""
    port = port or free_port()
    source = source or REPO_ROOT / "functions" / name / "main.py"
    full_env = {**os.environ, "WORKERS": str(workers), "THREADS": str(threads),
                "PYTHONUNBUFFERED": "1", **(env or {})}
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FF, "--target", name, "--source", str(source),
             "--host", "127.0.0.1", "--port", str(port)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    fn = FunctionProcess(name, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{fn.log()}")
        try:
            if httpx.get(fn.url + "/", timeout=1).status_code == 200:
                return fn
        except httpx.TransportError:
            time.sleep(0.05)
    fn.stop()
    raise RuntimeError(f"{name} did not answer within {timeout}s:\n{fn.log()}")

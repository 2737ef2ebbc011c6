"""Real function processes for the integration tests: ``sidecar.testing``'s
``start_function``, with this repository's functions (``functions/<name>/main.py``) by name.

Each function runs exactly as dapr.yaml runs it: ``python -m bindings.http.serving`` (gunicorn
with the project's buffering worker, WORKERS x THREADS), with the dapr SDK aimed at its sidecar
through DAPR_HTTP_PORT / DAPR_GRPC_PORT in ``env``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from sidecar import testing
from sidecar.testing import FunctionProcess, free_port

__all__ = ["SERVER", "FunctionProcess", "free_port", "start_function"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: How the project serves a function (the command dapr.yaml and the image run).
SERVER = (sys.executable, "-m", "bindings.http.serving")


def start_function(name: str, log_dir: Path, env: Mapping[str, str] | None = None,
                   workers: int = 1, threads: int = 4, timeout: float = 30.0,
                   port: int | None = None, source: Path | None = None) -> FunctionProcess:
    """Start ``functions/<name>/main.py`` (or ``source``) and wait until it answers ``GET /``."""
    return testing.start_function(
        name, source or REPO_ROOT / "functions" / name / "main.py", log_dir, env,
        workers=workers, threads=threads, timeout=timeout, port=port, cwd=REPO_ROOT,
        server=SERVER)

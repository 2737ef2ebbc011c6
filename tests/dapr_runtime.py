"""The test suite's way to start a real ``python -m sidecar``: ``sidecar.testing`` (see
docs/testing.md), with component paths resolving from the repository root.

    from tests.dapr_runtime import run_sidecar

    with run_sidecar("my-app", [resources_dir]) as sidecar:
        httpx.get(f"{sidecar.http_url}/v1.0/healthz")      # 204

Kept for the many test modules importing it; new code imports ``sidecar.testing``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sidecar import testing
from sidecar.testing import Sidecar, SidecarStartError, free_port

__all__ = ["REPO_ROOT", "Sidecar", "SidecarStartError", "free_port", "run_sidecar"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def run_sidecar(app_id: str, resources_paths: Sequence[str | os.PathLike[str]],
                app_port: int | None = None, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike[str] | None = None,
                registry_dir: str | os.PathLike[str] | None = None, *,
                timeout: float = 20.0, log_level: str = "info") -> Iterator[Sidecar]:
    """``sidecar.testing.run_sidecar``, run from the repository root unless ``cwd`` is given."""
    with testing.run_sidecar(app_id, resources_paths, app_port, env, cwd or REPO_ROOT,
                             registry_dir, timeout=timeout, log_level=log_level) as sidecar:
        yield sidecar

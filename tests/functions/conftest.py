"""Fixtures for the function tests: functions loaded in-process (no Dapr) and image makers.

In-process tests point the dapr SDK at a closed loopback port, so the functions see "no
sidecar" quickly and predictably (rate limit and event recording fail open, storage is
skipped), whatever else runs on this machine.
"""

from __future__ import annotations

import importlib.util
import io
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import flask.testing
import functions_framework
import pytest
from PIL import Image

import bindings.dapr.client
import bindings.dapr.events
from bindings import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {"grayscale": REPO_ROOT / "functions" / "grayscale" / "main.py",
             "classify": REPO_ROOT / "functions" / "classify" / "main.py",
             "events": REPO_ROOT / "functions" / "events" / "main.py"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def no_sidecar(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh settings and client state, with the SDK aimed at a closed port."""
    port = str(closed_port())
    monkeypatch.setenv("DAPR_HTTP_PORT", port)
    monkeypatch.setenv("DAPR_GRPC_PORT", port)
    monkeypatch.setenv("DAPR_HEALTH_TIMEOUT", "1")
    monkeypatch.setenv("SIDECAR_WAIT_SECONDS", "0.05")
    settings.get.cache_clear()
    bindings.dapr.client.reset()
    yield
    # Events the test queued cannot be sent here (no sidecar): drop them with their sender.
    bindings.dapr.events.reset()
    settings.get.cache_clear()
    bindings.dapr.client.reset()


@pytest.fixture(scope="session")
def seed_file(seed_data: Path) -> Callable[[str], bytes]:
    return lambda name: (seed_data / name).read_bytes()


FunctionClient = flask.testing.FlaskClient


@pytest.fixture
def load() -> Callable[[str], FunctionClient]:
    """``load("grayscale")``: the function's app as functions-framework builds it, as a client."""
    def _load(name: str) -> FunctionClient:
        app = functions_framework.create_app(name, str(FUNCTIONS[name]))
        return app.test_client()
    return _load


def function_module(name: str) -> ModuleType:
    """A fresh copy of ``functions/<name>/main.py`` as a module (its settings read now).

    Its folder goes on ``sys.path`` first, as functions-framework puts it, so the function's
    sibling modules import.
    """
    folder = str(FUNCTIONS[name].parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"{name}_main", FUNCTIONS[name])
    assert spec is not None and spec.loader is not None, FUNCTIONS[name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as functions-framework does; dataclasses look it up
    spec.loader.exec_module(module)
    return module


def image_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_client, mysql_params):
    """The three functions with their runtimes, on real Redis and MariaDB (see stack.py)."""
    from contextlib import ExitStack

    from .stack import start_stack

    with ExitStack() as exits:
        yield start_stack(exits, tmp_path_factory.mktemp("stack"))

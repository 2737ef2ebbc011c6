"""The one model downloader (classify_fetch: classify's first start and deploy/Dockerfile's
build step), against a loopback HTTP server serving files the test makes."""

from __future__ import annotations

import hashlib
import http.server
import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FUNCTIONS

sys.path.insert(0, str(FUNCTIONS["classify"].parent))
import classify_fetch
import classify_settings
from classify_fetch import FetchError, fetch
from classify_model import model_paths


class _Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[_Server, bytes, str]]:
    root = tmp_path / "www"
    root.mkdir()
    payload = bytes(range(256)) * 4096  # 1 MiB: several chunks and progress updates
    (root / "model.tflite").write_bytes(payload)
    server = _Server(root)
    yield server, payload, hashlib.sha256(payload).hexdigest()
    server.httpd.shutdown()
    server.httpd.server_close()


def test_fetch_verifies_and_places_the_file(served, tmp_path):
    server, payload, digest = served
    dest = tmp_path / "cache" / "model.tflite"
    assert fetch(f"{server.url}/model.tflite", digest, dest) == dest
    assert dest.read_bytes() == payload
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left behind


def test_fetch_and_command_refuse_a_wrong_sha256_and_leave_nothing(served, tmp_path, capsys):
    server, _, _ = served
    dest = tmp_path / "cache" / "model.tflite"
    with pytest.raises(FetchError, match="sha256"):
        fetch(f"{server.url}/model.tflite", "0" * 64, dest)
    assert list(dest.parent.iterdir()) == []
    # The command line deploy/Dockerfile runs: exit status 1 fails the image build.
    assert classify_fetch.main([f"{server.url}/model.tflite", "0" * 64, str(dest)]) == 1
    assert "sha256" in capsys.readouterr().err
    assert list(dest.parent.iterdir()) == []


def test_fetch_once_then_reuse(served, tmp_path):
    server, _, digest = served
    dest = tmp_path / "cache" / "model.tflite"
    fetch(f"{server.url}/model.tflite", digest, dest)
    fetch(f"{server.url}/model.tflite", digest, dest)
    assert server.requests == ["/model.tflite"]


def test_fetch_replaces_a_corrupt_cached_file(served, tmp_path):
    server, payload, digest = served
    dest = tmp_path / "model.tflite"
    dest.write_bytes(b"half a model")
    fetch(f"{server.url}/model.tflite", digest, dest)
    assert dest.read_bytes() == payload


def test_fetch_reports_http_errors_and_leaves_nothing(served, tmp_path):
    server, _, digest = served
    with pytest.raises(FetchError, match="404"):
        fetch(f"{server.url}/missing.tflite", digest, tmp_path / "m.tflite")
    dest = tmp_path / "models" / "m.tflite"
    with pytest.raises(FetchError, match="404"):
        fetch(f"{server.url}/absent.tflite", "a" * 64, dest)
    assert list(dest.parent.iterdir()) == []


def test_without_seed_data_the_model_and_labels_are_fetched(served, tmp_path, monkeypatch):
    server, payload, digest = served
    labels = b"background\nhotdog, hot dog, red hot\n"
    (tmp_path / "www" / "labels.txt").write_bytes(labels)
    monkeypatch.setenv("SEED_DATA_DIR", str(tmp_path / "no-seed-data"))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MODEL_URL", f"{server.url}/model.tflite")
    monkeypatch.setenv("MODEL_SHA256", digest)
    monkeypatch.setenv("LABELS_URL", f"{server.url}/labels.txt")
    monkeypatch.setenv("LABELS_SHA256", hashlib.sha256(labels).hexdigest())
    model, label_file = model_paths(classify_settings.load())
    assert model.read_bytes() == payload and label_file.read_bytes() == labels
    assert model.parent == label_file.parent == tmp_path / "cache"


def test_fetch_reports_progress_in_tenths(served, tmp_path):
    server, payload, digest = served
    progress = io.StringIO()
    fetch(f"{server.url}/model.tflite", digest, tmp_path / "m.tflite", progress=progress)
    lines = progress.getvalue().splitlines()
    assert 2 <= len(lines) <= 10
    assert lines[-1] == f"{server.url}/model.tflite: {len(payload)}/{len(payload)} bytes"


# The command line deploy/Dockerfile runs: python classify_fetch.py URL SHA256 DEST


def test_command_writes_the_file_when_the_sha256_matches(served, tmp_path):
    server, payload, digest = served
    dest = tmp_path / "models" / "model.tflite"
    assert classify_fetch.main([f"{server.url}/model.tflite", digest.upper(), str(dest)]) == 0
    assert dest.read_bytes() == payload
    assert dest.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in dest.parent.iterdir()] == ["model.tflite"]


@pytest.mark.parametrize("argv, status", [
    (["", "", "/nonexistent/m.tflite"], 0),          # no model for this function: nothing to do
    (["http://127.0.0.1:9/m", "", "/tmp/m"], 2),     # half a pair is a mistake
    (["http://127.0.0.1:9/m", "xyz", "/tmp/m"], 1),  # not a digest
    (["only-one"], 2),
])
def test_command_arguments(argv: list[str], status: int) -> None:
    assert classify_fetch.main(argv) == status

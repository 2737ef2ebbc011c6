"""deploy/Dockerfile, checked statically (Docker cannot run here), and the build-time fetch.

The Dockerfile parses; every stage is python:3.11-slim; the image runs as a non-root user;
every ARG is used; every file it COPYs exists and survives .dockerignore; the packages it
installs are pinned in requirements.txt and cover what the functions import.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import importlib.metadata
import re
import shlex
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from deploy import fetch_model
from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
BASE_IMAGE = "python:3.11-slim"


@pytest.fixture(scope="module")
def stages() -> list[list[dict[str, Any]]]:
    """Instructions grouped by stage; instructions before the first FROM form stage 0."""
    structure = DockerfileParser(path=str(DOCKERFILE)).structure
    assert structure, "deploy/Dockerfile did not parse"
    groups: list[list[dict[str, Any]]] = [[]]
    for instruction in structure:
        if instruction["instruction"] == "FROM":
            groups.append([])
        groups[-1].append(instruction)
    return groups


def _arg_defaults(instructions: list[dict[str, Any]]) -> dict[str, str]:
    defaults = {}
    for ins in instructions:
        if ins["instruction"] == "ARG":
            name, _, value = ins["value"].partition("=")
            defaults[name] = value.strip('"')
    return defaults


def test_every_stage_is_python_311_slim(stages: list[list[dict[str, Any]]]) -> None:
    globals_ = _arg_defaults(stages[0])
    froms = [stage[0]["value"].split()[0] for stage in stages[1:]]
    assert len(froms) >= 2
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: globals_[m.group(1)], image)
        assert resolved == BASE_IMAGE


def test_image_runs_as_a_non_root_user(stages: list[list[dict[str, Any]]]) -> None:
    final = stages[-1]
    users = [ins["value"] for ins in final if ins["instruction"] == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0", ""}
    index = max(i for i, ins in enumerate(final) if ins["instruction"] == "USER")
    assert [ins for ins in final[index:] if ins["instruction"] == "RUN"] == [], \
        "RUN after USER would need root"
    created = " ".join(ins["value"] for ins in final if ins["instruction"] == "RUN")
    assert f"--uid {user}" in created


def test_every_arg_is_used_in_its_stage(stages: list[list[dict[str, Any]]]) -> None:
    declared = set()
    for number, stage in enumerate(stages):
        for i, ins in enumerate(stage):
            if ins["instruction"] != "ARG":
                continue
            name = ins["value"].partition("=")[0]
            declared.add(name)
            later = stages[number + 1:] if number == 0 else [stage[i + 1:]]
            text = " ".join(x["value"] for group in later for x in group)
            assert re.search(rf"\$\{{{name}\}}|\${name}\b", text), f"ARG {name} unused"
    assert {"FUNCTION_TARGET", "FUNCTION_SOURCE", "MODEL_URL", "MODEL_SHA256"} <= declared


def test_entrypoint_is_functions_framework_configured_by_env(
        stages: list[list[dict[str, Any]]]) -> None:
    final = stages[-1]
    [entrypoint] = [ins["value"] for ins in final if ins["instruction"] == "ENTRYPOINT"]
    assert entrypoint == '["functions-framework"]'
    env = " ".join(ins["value"] for ins in final if ins["instruction"] == "ENV")
    for name in ("FUNCTION_TARGET=${FUNCTION_TARGET}", "FUNCTION_SOURCE=", "PORT=",
                 "PYTHONPATH=", "CLASSIFY_MODEL_PATH=/opt/models/", "CLASSIFY_LABELS_PATH="):
        assert name in env


@functools.cache
def _dockerignore() -> list[tuple[bool, str]]:
    rules = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _in_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for negated, pattern in _dockerignore():
        if any(fnmatch.fnmatch(c, pattern) for c in candidates):
            included = negated
    return included


def _copied_sources(stages: list[list[dict[str, Any]]]) -> Iterator[str]:
    for stage in stages:
        for ins in stage:
            if ins["instruction"] == "COPY" and "--from" not in ins["value"]:
                yield from shlex.split(ins["value"])[:-1]


def test_every_copied_file_exists_and_is_in_the_build_context(
        stages: list[list[dict[str, Any]]]) -> None:
    sources = list(_copied_sources(stages))
    assert {"requirements.txt", "deploy/fetch_model.py", "bindings/", "functions/"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert _in_context(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for secret in ("config/secrets.json", "config/embedded/secrets.json", ".venv/bin/python",
                   ".git/HEAD", "tests/conftest.py"):
        assert not _in_context(secret), f"{secret} would be sent to the Docker daemon"


def test_build_script_passes_only_declared_args_for_real_sources(
        rendered: Any, stages: list[list[dict[str, Any]]], description_data: Any) -> None:
    declared = {ins["value"].partition("=")[0] for stage in stages for ins in stage
                if ins["instruction"] == "ARG"}
    builds = [shlex.split(line) for line in rendered["knative"]["build-images.sh"].splitlines()
              if line.startswith("docker build")]
    assert len(builds) == len(description_data["functions"])
    for command in builds:
        assert command[command.index("-f") + 1] == DOCKERFILE.relative_to(REPO_ROOT).as_posix()
        args = dict(command[i + 1].split("=", 1) for i, word in enumerate(command)
                    if word == "--build-arg")
        assert set(args) <= declared
        assert (REPO_ROOT / args["FUNCTION_SOURCE"]).is_file()
        assert _in_context(args["FUNCTION_SOURCE"])


def _packages(stages: list[list[dict[str, Any]]]) -> list[str]:
    return _arg_defaults(stages[1])["PACKAGES"].split()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^]]*\])?==(\S+)", line)
        if match:
            pins[_norm(match.group(1))] = match.group(3)
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_installed_packages_are_pinned(stages: list[list[dict[str, Any]]]) -> None:
    pins = _pins()
    for package in _packages(stages):
        assert _norm(package) in pins, f"{package} is not pinned in requirements.txt"


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their (non-extra) dependencies."""
    seen: set[str] = set()
    todo = [_norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # a dependency behind a platform marker (colorama on Windows)
        seen.add(name)
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_norm(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return seen


def _optional_imports(tree: ast.AST) -> Iterator[ast.AST]:
    """Imports inside ``try: ... except ImportError`` (fallbacks such as tflite_runtime)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in {"ImportError",
                                                                 "ModuleNotFoundError"}
                for h in node.handlers):
            for handler in node.handlers:
                yield from (n for n in ast.walk(handler) if isinstance(n, (ast.Import,
                                                                           ast.ImportFrom)))


def _third_party_imports() -> set[str]:
    modules = set()
    for path in [*(REPO_ROOT / "functions").rglob("*.py"), *(REPO_ROOT / "bindings").rglob("*.py")]:
        local = {p.stem for p in path.parent.glob("*.py")} | {"bindings"}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = {id(n) for n in _optional_imports(tree)}
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level and
                     node.module else [])
            modules |= {n.split(".")[0] for n in names} - local - set(sys.stdlib_module_names)
    return modules - {"__future__"}


def test_installed_packages_cover_what_the_functions_import(
        stages: list[list[dict[str, Any]]]) -> None:
    imports = _third_party_imports()
    assert {"dapr", "PIL", "numpy"} <= imports
    installed = _closure(_packages(stages))
    distributions = importlib.metadata.packages_distributions()
    for module in imports:
        provided = {_norm(d) for d in distributions.get(module, [])}
        assert provided & installed, f"import {module} ({provided}) is not installed in the image"


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server on a free port serving ``tmp_path / 'www'``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_writes_the_file_when_the_sha256_matches(file_server: Any, tmp_path: Path) -> None:
    base, root = file_server
    payload = bytes(range(256)) * 1000
    (root / "model.tflite").write_bytes(payload)
    dest = tmp_path / "models" / "model.tflite"
    digest = hashlib.sha256(payload).hexdigest()
    assert fetch_model.main([f"{base}/model.tflite", digest.upper(), str(dest)]) == 0
    assert dest.read_bytes() == payload
    assert dest.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in dest.parent.iterdir()] == ["model.tflite"]


def test_fetch_refuses_a_wrong_sha256_and_leaves_nothing(file_server: Any, tmp_path: Path,
                                                         capsys: Any) -> None:
    base, root = file_server
    (root / "model.tflite").write_bytes(b"not the model")
    dest = tmp_path / "models" / "model.tflite"
    assert fetch_model.main([f"{base}/model.tflite", "0" * 64, str(dest)]) == 1
    assert "sha256" in capsys.readouterr().err
    assert list(dest.parent.iterdir()) == []


def test_fetch_reports_a_missing_file(file_server: Any, tmp_path: Path) -> None:
    base, _ = file_server
    dest = tmp_path / "models" / "m.tflite"
    with pytest.raises(fetch_model.FetchError, match="404"):
        fetch_model.fetch(f"{base}/absent.tflite", "a" * 64, dest)
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize("argv, status", [
    (["", "", "/nonexistent/m.tflite"], 0),          # no model for this function: nothing to do
    (["http://127.0.0.1:9/m", "", "/tmp/m"], 2),     # half a pair is a mistake
    (["http://127.0.0.1:9/m", "xyz", "/tmp/m"], 1),  # not a digest
    (["only-one"], 2),
])
def test_fetch_arguments(argv: list[str], status: int) -> None:
    assert fetch_model.main(argv) == status

"""deploy/Dockerfile, checked statically (Docker cannot run here).

The Dockerfile parses; every stage is python:3.11-slim; the image runs as a non-root user;
every ARG is used; every file it COPYs exists and survives .dockerignore; the packages it
installs are pinned in requirements.txt and cover what the functions import; the model it
fetches at build time is classify's own default. The downloader it runs is
functions/classify/classify_fetch.py, tested in tests/functions/test_fetch.py.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import importlib.metadata
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
BASE_IMAGE = "python:3.11-slim"
DOWNLOADER = "functions/classify/classify_fetch.py"
CLASSIFY_SETTINGS = REPO_ROOT / "functions" / "classify" / "classify_settings.py"


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
    assert entrypoint == '["python", "-m", "bindings.http.serving"]'
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
    assert {"requirements.txt", DOWNLOADER, "bindings/", "functions/"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert _in_context(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for secret in ("config/secrets/services.json", "config/secrets/embedded.json",
                   ".venv/bin/python", ".git/HEAD", "tests/conftest.py"):
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
    # Project packages the image gets as source (sidecar/logfmt.py) need no distribution.
    copied = {source.split("/")[0] for source in _copied_sources(stages)}
    for module in imports - copied:
        provided = {_norm(d) for d in distributions.get(module, [])}
        assert provided & installed, f"import {module} ({provided}) is not installed in the image"


def test_build_fetches_each_file_with_the_one_downloader(
        stages: list[list[dict[str, Any]]]) -> None:
    build = stages[1]
    copies = [shlex.split(ins["value"]) for ins in build if ins["instruction"] == "COPY"]
    [target] = [words[-1] for words in copies if words[0] == DOWNLOADER]
    runs = " ".join(ins["value"] for ins in build if ins["instruction"] == "RUN")
    for url, sha256, dest in (("MODEL_URL", "MODEL_SHA256", "/opt/models/model.tflite"),
                              ("LABELS_URL", "LABELS_SHA256", "/opt/models/labels.txt")):
        assert f'python {target} "${{{url}}}" "${{{sha256}}}" {dest}' in runs


def test_classify_build_args_are_classify_s_own_model_source(description_data: Any) -> None:
    """serverless.yaml repeats the model source for the image build; classify_settings.py owns
    it, and SOURCES.md records it. The labels come from a commit, not a branch."""
    spec = importlib.util.spec_from_file_location("classify_settings", CLASSIFY_SETTINGS)
    assert spec is not None and spec.loader is not None
    owner = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, owner)  # its dataclass looks its module up there
    spec.loader.exec_module(owner)
    args = description_data["functions"]["classify"]["build"]["args"]
    assert args == {"MODEL_URL": owner.MODEL_URL, "MODEL_SHA256": owner.MODEL_SHA256,
                    "LABELS_URL": owner.LABELS_URL, "LABELS_SHA256": owner.LABELS_SHA256}
    assert "/raw/master/" not in owner.LABELS_URL
    sources = (REPO_ROOT / "SOURCES.md").read_text(encoding="utf-8")
    for value in args.values():
        assert value in sources


def test_the_code_is_byte_compiled_after_its_last_copy(
        stages: list[list[dict[str, Any]]]) -> None:
    """With PYTHONDONTWRITEBYTECODE set, a pod would compile every module at each start."""
    final = stages[-1]
    env = " ".join(ins["value"] for ins in final if ins["instruction"] == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    last_copy = max(i for i, ins in enumerate(final)
                    if ins["instruction"] == "COPY" and "/app/" in ins["value"])
    compiles = [ins["value"] for ins in final[last_copy:] if ins["instruction"] == "RUN"
                and re.search(r"python -m compileall\b.*\s/app(\s|$)", ins["value"])]
    assert compiles, "no `python -m compileall ... /app` after the code is copied"

"""Fixtures for the renderer tests: the description, everything it renders, the real schemas.

The CRD schemas are kept as data in ../shared/schemas (env SCHEMAS_DIR overrides); a missing
folder fails the tests that need it, it never skips them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deploy import TARGETS, render
from tests.conftest import REPO_ROOT

SCHEMAS_DIR = Path(os.environ.get("SCHEMAS_DIR", REPO_ROOT.parent / "shared" / "schemas")).resolve()
DESCRIPTION = REPO_ROOT / "serverless.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def documents(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def _openapi_to_jsonschema(node: Any) -> Any:
    """Drop the ``x-kubernetes-*`` extensions; int-or-string becomes integer|string.

    The API server prunes fields a structural schema does not declare, silently; here they are
    errors (``additionalProperties: false``), so a misspelt or misplaced field is caught.
    """
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items()
           if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        out["type"] = ["integer", "string"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    assert (SCHEMAS_DIR / "SOURCES.md").is_file(), (
        f"CRD schemas not found at {SCHEMAS_DIR}; set SCHEMAS_DIR to the shared/schemas folder")
    return SCHEMAS_DIR


@pytest.fixture(scope="session")
def crd_validator(schemas_dir: Path) -> Callable[[str, str], jsonschema.Draft7Validator]:
    """``crd_validator(file, version)`` -> a validator for that CRD version's schema."""
    cache: dict[tuple[str, str], jsonschema.Draft7Validator] = {}

    def get(file: str, version: str) -> jsonschema.Draft7Validator:
        if (file, version) not in cache:
            crd = load_yaml(schemas_dir / file)
            [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
            schema = _openapi_to_jsonschema(entry["schema"]["openAPIV3Schema"])
            cache[(file, version)] = jsonschema.Draft7Validator(schema)
        return cache[(file, version)]

    return get


@pytest.fixture(scope="session")
def description_data() -> dict[str, Any]:
    return load_yaml(DESCRIPTION)


@pytest.fixture
def description(description_data: dict[str, Any]) -> dict[str, Any]:
    """A private copy of serverless.yaml's data, free to change in a test."""
    return copy.deepcopy(description_data)


@pytest.fixture(scope="session")
def rendered(description_data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Target -> {path: text} for the committed serverless.yaml."""
    return {target: render(description_data, target) for target in TARGETS}


def all_resources(rendered: dict[str, dict[str, str]]) -> Iterator[tuple[str, str, Any]]:
    """(target, path, resource) for every YAML document rendered."""
    for target, files in rendered.items():
        for path, text in files.items():
            if path.endswith(".yaml"):
                for doc in documents(text):
                    yield target, path, doc

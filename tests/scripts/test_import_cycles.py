"""The import-cycle check (scripts/import_cycles.py): it finds cycles, and the tree has none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "import_cycles", REPO_ROOT / "scripts" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_an_import_inside_a_function_is_found(
        checker: ModuleType, tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": "def thing():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "from . import a\n",
    })
    graph = checker.import_graph(checker.project_roots(tmp_path, ["pkg"]))
    assert graph["pkg.c"] == {"pkg.a"}
    assert checker.find_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_type_checking_imports_and_outside_modules_are_not_edges(
        checker: ModuleType, tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import json\nfrom .b import B\n",
        "pkg/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from .a import A\nelse:\n    import os\nB = 1\n"),
        "functions/f/main.py": "import helper\nfrom pkg import a\n",
        "functions/f/helper.py": "import main\n",
    })
    graph = checker.import_graph(checker.project_roots(tmp_path, ["pkg"]))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == set()
    # A function folder is its own root: its modules' names carry the folder.
    assert checker.find_cycles(graph) == [["f:helper", "f:main"]]


def test_the_project_has_no_import_cycle(checker: ModuleType) -> None:
    graph = checker.import_graph(checker.project_roots())
    assert len(graph) > 100
    assert checker.find_cycles(graph) == []

"""Each module's ``__all__`` names exactly its public names, sorted (httpx's
``tests/test_exported_members.py`` is the model).

Public names are what a module defines at its top level (functions, classes, assignments)
without a leading underscore; a package ``__init__`` also exports what it imports. Read from
the source, so no module (and no driver or model) is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sidecar", "bindings", "deploy", "launcher", "bench", "scripts", "functions")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py"))


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements at module level, looking into if/try blocks (conditional definitions)."""
    for node in body:
        if isinstance(node, ast.If):
            if "__name__" in ast.unparse(node.test):
                continue
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                yield from _top_level(handler.body)
        else:
            yield node


def _names(tree: ast.Module) -> tuple[set[str], set[str], list[str] | None]:
    """(defined public names, imported names, the literal ``__all__`` or None)."""
    defined: set[str] = set()
    imported: set[str] = set()
    exported: list[str] | None = None
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "__all__":
                    exported = list(ast.literal_eval(node.value)) if node.value else []
                elif isinstance(target, ast.Name):
                    defined.add(target.id)
        elif isinstance(node, ast.Import):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name for a in node.names}
    return {n for n in defined if not n.startswith("_")}, imported, exported


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions and variables."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_all_names_exactly_the_public_names_sorted(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    defined, imported, exported = _names(tree)
    if exported is None:
        assert not defined, f"{path.name} defines {sorted(defined)} but has no __all__"
        return
    public = defined | (imported & set(exported) if path.name == "__init__.py" else set())
    assert set(exported) == public, (
        f"missing from __all__: {sorted(public - set(exported))}; "
        f"in __all__ but not public here: {sorted(set(exported) - public)}")
    assert exported == sorted(exported, key=_isort_key), "__all__ is not sorted"


def test_the_check_sees_a_missing_name(tmp_path: Path) -> None:
    tree = ast.parse("import os\n__all__ = ['b']\ndef a(): pass\ndef b(): pass\nX = 1\n_y = 2\n")
    defined, imported, exported = _names(tree)
    assert (defined, imported, exported) == ({"a", "b", "X"}, {"os"}, ["b"])

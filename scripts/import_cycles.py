"""Find import cycles among the project's own modules, reading their source.

Every ``import`` and ``from ... import`` counts, wherever it stands (inside functions too),
except under ``if TYPE_CHECKING:``, which never runs. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. Each function folder is a root of its
own (functions-framework loads ``main.py`` from it with the folder on ``sys.path``).

    python scripts/import_cycles.py          # exit 1 and list the cycles, if any
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["REPO_ROOT", "find_cycles", "import_graph", "main", "project_roots"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_PACKAGES = ("sidecar", "bindings", "deploy", "launcher", "bench", "tests")


_Root = tuple[str, Path, list[Path]]


def project_roots(repo: Path = REPO_ROOT,
                  packages: Iterable[str] = _PACKAGES) -> list[_Root]:
    """(name prefix, root folder, the .py files under it that are modules of that root)."""
    roots: list[_Root] = [("", repo, [p for pkg in packages
                                     for p in sorted((repo / pkg).rglob("*.py"))])]
    for folder in sorted((repo / "functions").glob("*/")):
        roots.append((f"{folder.name}:", folder, sorted(folder.glob("*.py"))))
    return roots


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement except those under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: set[str]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    found = []
    for alias in node.names:
        child = f"{base}.{alias.name}" if base else alias.name
        found.append(child if child in known else base)
    return found


def import_graph(roots: list[_Root]) -> dict[str, set[str]]:
    """Module -> the project modules it imports. Function roots get a ``<folder>:`` prefix."""
    graph: dict[str, set[str]] = {}
    for prefix, root, files in roots:
        names = {_module_name(root, p): p for p in files}
        for name, path in names.items():
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            edges: set[str] = set()
            for node in _runtime_imports(tree):
                for target in _targets(node, name, path.name == "__init__.py", set(names)):
                    while target and target not in names:
                        target = target.rpartition(".")[0]  # a name inside a module
                    if target and target != name:
                        edges.add(prefix + target)
            graph[prefix + name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def main() -> int:
    graph = import_graph(project_roots())
    cycles = find_cycles(graph)
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, "
          f"{len(cycles)} cycle(s)")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())

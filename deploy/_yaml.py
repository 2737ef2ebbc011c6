"""Stable YAML text for rendered files: key order kept, lists indented, a comment header.

The committed config/ and dapr.yaml are compared byte for byte with what the renderer makes,
so the text must depend on the description only (never on dict order of a YAML library, the
time, or the machine).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

import yaml

__all__ = ["FlowList", "document", "documents"]

_WIDTH = 100
_HEADER = "Rendered from serverless.yaml (python -m deploy render --target {target}); edit that."


class FlowList(list[Any]):
    """A list written on one line (``[a, b]``), e.g. a command line."""


class _Dumper(yaml.SafeDumper):
    """Indents block lists under their key, as kubectl and the Dapr docs write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # Manifests are read by people and by kubectl: repeat values, never &anchors.
        return True


def _flow_list(dumper: yaml.SafeDumper, data: FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(FlowList, _flow_list)


def _comment(lines: Iterable[str]) -> str:
    out = []
    for line in lines:
        out += textwrap.wrap(line, _WIDTH - 2) or [""]
    return "".join(f"# {line}\n".replace("# \n", "#\n") for line in out)


def document(data: Any, target: str, comments: Iterable[str] = ()) -> str:
    """One YAML document with the rendered-from header and ``comments`` above it."""
    header = _comment([_HEADER.format(target=target), *[c for c in comments if c]])
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1000)
    return header + body


def documents(items: Iterable[Any], target: str, comments: Iterable[str] = ()) -> str:
    """Several YAML documents in one file, separated by ``---``."""
    header = _comment([_HEADER.format(target=target), *[c for c in comments if c]])
    bodies = [yaml.dump(item, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                        allow_unicode=True, width=1000) for item in items]
    return header + "---\n".join(bodies)

"""``serverless.yaml`` data -> rendered files: a pure function, no I/O.

    render(data, "knative") -> {"grayscale.yaml": "...", ...}

``data`` is the loaded YAML (plain dicts and lists); paths in the result are relative to the
output directory. An invalid description raises ``RenderError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable

from deploy.errors import RenderError
from deploy.model import Description, parse
from deploy.targets import knative, kubernetes, local, openfunction

__all__ = ["TARGETS", "render"]

#: Target name -> the function that renders it from a checked description.
TARGETS: dict[str, Callable[[Description], dict[str, str]]] = {
    "knative": knative.render,
    "kubernetes": kubernetes.render,
    "local": local.render,
    "openfunction": openfunction.render,
}


def render(data: object, target: str) -> dict[str, str]:
    """Render ``target`` from the description ``data``; {relative path: file text}."""
    if target not in TARGETS:
        raise RenderError("target", f"unknown target {target!r} (choose from "
                          f"{', '.join(sorted(TARGETS))})")
    return TARGETS[target](parse(data))

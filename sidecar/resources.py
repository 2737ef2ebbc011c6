"""Reading the resources path: every YAML document in it, whatever its kind.

daprd reads Components, Subscriptions, Resiliency and other resources from the same folders
(``--resources-path``); each consumer (``components/loader.py``, pub/sub subscriptions, ...)
takes the documents of its kind from here. Every ``.yaml``/``.yml`` file directly inside
each folder is read, not recursively, in file-name order; multi-document files are allowed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ComponentConfigError

__all__ = ["Resource", "read_resources"]


@dataclass(frozen=True)
class Resource:
    """One YAML document of the resources path and the file it came from."""

    source: Path
    document: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind") or "")


def _resource_files(paths: Sequence[Path]) -> Iterator[Path]:
    for folder in paths:
        if not folder.is_dir():
            raise ComponentConfigError(f"{folder}: resources path is not a folder")
        yield from sorted(p for p in folder.iterdir()
                          if p.is_file() and p.suffix in (".yaml", ".yml"))


def read_resources(paths: Sequence[Path], kind: str | None = None) -> list[Resource]:
    """Every document under ``paths`` (only those of ``kind``, if given), in file-name order."""
    found: list[Resource] = []
    for source in _resource_files(paths):
        try:
            docs = list(yaml.safe_load_all(source.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ComponentConfigError(f"{source}: cannot read YAML: {err}") from err
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, Mapping):
                raise ComponentConfigError(f"{source}: a document is not a mapping")
            resource = Resource(source, doc)
            if kind is None or resource.kind == kind:
                found.append(resource)
    return found

"""Reading the resources path: every YAML document in it, whatever its kind.

daprd reads Components, Subscriptions, Resiliency and other resources from the same folders
(``--resources-path``); each consumer (``components/loader.py``, pub/sub subscriptions, ...)
takes the documents of its kind from here. Every file directly inside each folder is looked
at, not recursively, in file-name order, as daprd's disk loader
(``pkg/internal/loader/disk/manifest.go``) does:

- a file whose name does not end in ``.yaml``/``.yml`` is skipped with a warning;
- a file is split into documents at lines starting with ``---`` and each document is parsed
  on its own, so one that does not parse (or is not a mapping) is skipped with a warning
  naming the file, and the others in the same file still count;
- a folder that does not exist is an error (daprd cannot read it either).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ComponentConfigError

__all__ = ["Resource", "read_resources"]

_YAML_SUFFIXES = (".yaml", ".yml")
# daprd's splitYamlDoc: a document ends at "\n---" and the rest of that line is dropped.
_SEPARATOR = re.compile(r"\n---[^\n]*(?:\n|$)")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    """One YAML document of the resources path and the file it came from."""

    source: Path
    document: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.document.get("apiVersion") or "")


def _resource_files(paths: Sequence[Path]) -> Iterator[Path]:
    for folder in paths:
        if not folder.is_dir():
            raise ComponentConfigError(f"{folder}: resources path is not a folder")
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.suffix.lower() not in _YAML_SUFFIXES:
                _log.warning("A non-YAML resource file %s was detected, it will not be loaded",
                             path)
                continue
            yield path


def _documents(source: Path) -> Iterator[Mapping[str, Any]]:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        _log.warning("cannot read resource file %s, skipped: %s", source, err)
        return
    for index, chunk in enumerate(_SEPARATOR.split(text)):
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError as err:
            _log.warning("%s: document %d does not parse as YAML and is skipped: %s",
                         source, index + 1, err)
            continue
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            _log.warning("%s: document %d is not a mapping and is skipped", source, index + 1)
            continue
        yield doc


def read_resources(paths: Sequence[Path], kind: str | None = None) -> list[Resource]:
    """Every document under ``paths`` (only those of ``kind``, if given), in file-name order."""
    found: list[Resource] = []
    for source in _resource_files(paths):
        for doc in _documents(source):
            resource = Resource(source, doc)
            if kind is None or resource.kind == kind:
                found.append(resource)
    return found

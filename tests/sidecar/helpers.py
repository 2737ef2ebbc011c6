"""Small builders shared by the sidecar tests: component files and an external-daprd switch."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["EXTERNAL_URL", "component_doc", "unique_id", "wait_until", "write_components"]

#: When set, the conformance tests talk to this runtime (e.g. a real daprd) instead of ours.
EXTERNAL_URL = os.environ.get("DAPR_TEST_HTTP_URL", "").rstrip("/")


def unique_id(prefix: str) -> str:
    """An app id no other test run uses, so Redis keys never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def component_doc(name: str, type_name: str, metadata: Mapping[str, Any] | None = None, *,
                  scopes: Sequence[str] | None = None, secret_store: str | None = None,
                  raw_metadata: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``kind: Component`` document; ``metadata`` values become ``value`` items."""
    items = raw_metadata if raw_metadata is not None else [
        {"name": k, "value": v} for k, v in (metadata or {}).items()]
    doc: dict[str, Any] = {
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name},
        "spec": {"type": type_name, "version": "v1", "metadata": items},
    }
    if scopes is not None:
        doc["scopes"] = list(scopes)
    if secret_store is not None:
        doc["auth"] = {"secretStore": secret_store}
    return doc


def write_components(folder: Path, *docs: dict[str, Any],
                     filename: str = "components.yaml") -> Path:
    """Write ``docs`` as one multi-document YAML file in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return folder


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0,
               interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

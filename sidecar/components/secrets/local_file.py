"""``secretstores.local.file``: secrets from a JSON file, for local development.

As in Dapr, ``secretsFile`` is relative to the runtime's working directory and is read once
at start-up. Nested objects (and arrays, by index) are flattened with ``nestedSeparator``
(default ":"): ``{"DB_URL": {"MYSQL": "..."}}`` gives the secret ``DB_URL:MYSQL``. With
``multiValued: true`` the top-level names are the secrets and each returns its flattened map.
Leaf values become text the way Go prints them (true/false, numbers without a trailing .0).
Metadata: secretsFile (required), nestedSeparator, multiValued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...errors import ComponentConfigError, SecretNotFound
from ..base import is_truthy
from ..go_values import go_text
from .base import SecretStore

__all__ = ["LocalFileSecretStore", "flatten"]

_DEFAULT_SEPARATOR = ":"



def flatten(value: Any, separator: str, prefix: str = "") -> dict[str, str]:
    """Every leaf of ``value`` keyed by its path joined with ``separator``."""
    if isinstance(value, Mapping):
        children: Any = value.items()
    elif isinstance(value, list):
        children = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: go_text(value)}
    flat: dict[str, str] = {}
    for key, child in children:
        flat.update(flatten(child, separator, f"{prefix}{separator}{key}" if prefix else key))
    return flat


class LocalFileSecretStore(SecretStore):
    """Dapr type ``secretstores.local.file``; metadata secretsFile, nestedSeparator,
    multiValued."""

    type_name: ClassVar[str] = "secretstores.local.file"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"secretsFile"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset({"nestedSeparator", "multiValued"})
    features: ClassVar[tuple[str, ...]] = ("MULTIPLE_KEY_VALUES_PER_SECRET",)

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        path = Path(metadata["secretsFile"])
        separator = metadata.get("nestedSeparator") or _DEFAULT_SEPARATOR
        self._multi_valued = is_truthy(metadata.get("multiValued", ""))
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise ComponentConfigError(f"component {name!r}: metadata 'secretsFile': cannot "
                                       f"read JSON from {path.resolve()}: {err}") from err
        if not isinstance(document, dict):
            raise ComponentConfigError(f"component {name!r}: metadata 'secretsFile': "
                                       f"{path} must hold a JSON object")
        if self._multi_valued:
            self._secrets = {key: flatten(value, separator, "" if isinstance(
                value, (dict, list)) else key) for key, value in document.items()}
        else:
            self._secrets = {key: {key: value}
                             for key, value in flatten(document, separator).items()}

    def get(self, key: str, metadata: dict[str, str] | None = None) -> dict[str, str]:
        secret = self._secrets.get(key)
        if secret is None:
            raise SecretNotFound(f"secret {key} not found")
        return dict(secret)

    def bulk_get(self, metadata: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        return {key: dict(value) for key, value in self._secrets.items()}

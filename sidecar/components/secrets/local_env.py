"""``secretstores.local.env``: the runtime's environment variables as secrets.

With ``prefix`` only variables starting with it are visible, and names are given without it
(``prefix: MYAPP_`` makes ``MYAPP_DB`` the secret ``DB``), as in Dapr. The environment is read
at each call, so it reflects the runtime process. Metadata: prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from ...errors import SecretNotFound
from .base import SecretStore

__all__ = ["LocalEnvSecretStore"]


class LocalEnvSecretStore(SecretStore):
    """Dapr type ``secretstores.local.env``; metadata prefix."""

    type_name: ClassVar[str] = "secretstores.local.env"
    optional_metadata: ClassVar[frozenset[str]] = frozenset({"prefix"})

    def __init__(self, name: str, metadata: Mapping[str, str],
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(name, metadata)
        self._prefix = metadata.get("prefix", "")
        self._environ = os.environ if environ is None else environ

    def get(self, key: str, metadata: dict[str, str] | None = None) -> dict[str, str]:
        value = self._environ.get(self._prefix + key)
        if not key or value is None:
            raise SecretNotFound(f"secret {key} not found")
        return {key: value}

    def bulk_get(self, metadata: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        size = len(self._prefix)
        return {name[size:]: {name[size:]: value} for name, value in self._environ.items()
                if name.startswith(self._prefix) and len(name) > size}

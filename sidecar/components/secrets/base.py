"""The secret store interface every ``secretstores.*`` component implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..base import Component

__all__ = ["SecretStore"]


class SecretStore(Component, ABC):
    @abstractmethod
    def get(self, key: str, metadata: dict[str, str] | None = None) -> dict[str, str]:
        """The secret ``key`` as a map (one entry ``{key: value}`` unless multi-valued).

        Raises ``SecretGetError`` when the key does not exist.
        """

    @abstractmethod
    def bulk_get(self, metadata: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        """Every secret, keyed by secret name."""

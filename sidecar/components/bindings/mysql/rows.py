"""Result rows as daprd's MySQL binding shapes them, for both backends (MySQL and sqlite)."""

from __future__ import annotations

from typing import Any

__all__ = ["row_object"]


def row_object(names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A result row as daprd's MySQL binding shapes it: column -> value, NULLs left out."""
    return {name: value for name, value in zip(names, row, strict=True) if value is not None}

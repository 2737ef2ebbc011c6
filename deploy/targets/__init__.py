"""One module per render target; each exposes ``render(description) -> {path: text}``."""

from __future__ import annotations

__all__: list[str] = []

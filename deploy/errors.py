"""The one exception the renderer raises: an invalid ``serverless.yaml`` description.

``RenderError.field`` is the dotted path of the offending field (``functions.grayscale.port``),
so the CLI and the tests can name it; the message always starts with that path.
"""

from __future__ import annotations

__all__ = ["RenderError"]


class RenderError(ValueError):
    """``serverless.yaml`` is not a valid description; ``field`` says where."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)

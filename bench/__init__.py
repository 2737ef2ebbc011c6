"""Benchmarks of the local runtime: one module per measurement, each with a ``main()``.

``python -m bench`` runs them all; ``python -m bench NAME`` runs one (see ``__main__``).
"""

__all__: list[str] = []

"""Run benchmarks: ``python -m bench`` runs every ``bench/*.py`` module's ``main()`` in name
order; ``python -m bench NAME [NAME...]`` runs only those. Exits non-zero if any ``main()``
returns a non-zero status."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["available", "main"]


def available() -> list[str]:
    """Names of the benchmark modules next to this file (private ``_*`` ones excluded)."""
    folder = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if not m.name.startswith("_"))


def main(argv: Sequence[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(names)})")
    chosen = parser.parse_args(argv).names or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(names)}")
    status = 0
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        status = importlib.import_module(f"{__package__}.{name}").main() or status
    return status


if __name__ == "__main__":
    sys.exit(main())

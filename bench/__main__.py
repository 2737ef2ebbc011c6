"""Run benchmarks: ``python -m bench`` runs every ``bench/*.py`` module's ``main()`` in name
order; ``python -m bench NAME [NAME...]`` runs only those. Each prints its details as it goes;
at the end one table lists every figure reported (``_harness.report``), its goal and whether
it is met. Goals are information: the exit status is non-zero only when a benchmark crashed
(raised, or returned a non-zero status)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench import _harness

__all__ = ["available", "main"]


def available() -> list[str]:
    """Names of the benchmark modules next to this file (private ``_*`` ones excluded)."""
    folder = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if not m.name.startswith("_"))


def _run(name: str) -> bool:
    """Run one benchmark; False when it crashed."""
    try:
        status = importlib.import_module(f"{__package__}.{name}").main()
    except Exception:  # noqa: BLE001 - a crash is reported in the table; the others still run
        traceback.print_exc()
        return False
    if status:
        print(f"bench.{name} returned {status}", file=sys.stderr)
    return not status


def main(argv: Sequence[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(names)})")
    chosen = parser.parse_args(argv).names or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(names)}")
    rows: list[tuple[str, _harness.Result]] = []
    crashed: list[str] = []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        before = len(_harness.results())
        if not _run(name):
            crashed.append(name)
        rows += [(name, result) for result in _harness.results()[before:]]
    print(f"\n== results\n{_harness.results_table(rows, crashed)}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())

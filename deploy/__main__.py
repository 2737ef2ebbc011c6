"""Entry point of ``python -m deploy``."""

from __future__ import annotations

import sys

from deploy._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

"""``python -m deploy render --target T --out DIR [--file serverless.yaml]``: parse and hand over.

Reads the description, calls the pure ``render``, writes the files under DIR (creating folders)
and lists them. An invalid description exits with status 2 and the ``RenderError`` message,
which names the field.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from deploy.errors import RenderError
from deploy.render import TARGETS, render

__all__ = ["main"]

_DEFAULT_FILE = "serverless.yaml"
_EXIT_INVALID = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy",
                                     description="Render deployment files from serverless.yaml.")
    commands = parser.add_subparsers(dest="command", required=True)
    render_cmd = commands.add_parser("render", help="write the files of one target")
    render_cmd.add_argument("--target", required=True, choices=sorted(TARGETS))
    render_cmd.add_argument("--out", required=True, type=Path, help="output directory")
    render_cmd.add_argument("--file", default=_DEFAULT_FILE, type=Path,
                            help=f"the description (default: {_DEFAULT_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
        files = render(data, args.target)
    except OSError as err:
        print(f"deploy: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return _EXIT_INVALID
    except yaml.YAMLError as err:
        print(f"deploy: {args.file} is not valid YAML: {err}", file=sys.stderr)
        return _EXIT_INVALID
    except RenderError as err:
        print(f"deploy: {args.file}: {err}", file=sys.stderr)
        return _EXIT_INVALID
    for relative, text in files.items():
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0

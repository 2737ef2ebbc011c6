"""Build-time download of a model file, verified by sha256, written atomically.

Used by deploy/Dockerfile (standard library only: it runs before any package is installed):

    python fetch_model.py URL SHA256 DEST

An empty URL and SHA256 (functions without a model) does nothing. A digest mismatch deletes
the partial file and exits non-zero, so a tampered or changed model fails the image build.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FetchError", "fetch", "main"]

CHUNK = 1 << 16
TIMEOUT_SECONDS = 60.0


class FetchError(RuntimeError):
    """The file could not be fetched, or its sha256 is not the expected one."""


def fetch(url: str, sha256: str, dest: Path, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Download ``url`` to ``dest`` if its sha256 is ``sha256``; return ``dest``."""
    expected = sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise FetchError(f"not a sha256 hex digest: {sha256!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as rsp:
            while chunk := rsp.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise FetchError(f"{url}: sha256 {digest.hexdigest()} != expected {expected}")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except OSError as err:
        raise FetchError(f"{url}: {err}") from err
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: fetch_model.py URL SHA256 DEST", file=sys.stderr)
        return 2
    url, sha256, dest = args
    if not url and not sha256:
        return 0
    if not url or not sha256:
        print("fetch_model: give both URL and SHA256, or neither", file=sys.stderr)
        return 2
    try:
        fetch(url, sha256, Path(dest))
    except FetchError as err:
        print(f"fetch_model: {err}", file=sys.stderr)
        return 1
    print(f"fetch_model: {dest} ({sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fetching a model or labels file once, verified by sha256, into place: the one downloader.

Two users: classify's ``model_paths`` (first start without seed data, into MODEL_CACHE_DIR),
and deploy/Dockerfile at image build, before any package is installed, hence the standard
library only:

    python classify_fetch.py URL SHA256 DEST

An empty URL and SHA256 (functions without a model) does nothing. The download goes to a
temporary file next to DEST and is renamed into place only after its sha256 matched, so a
crash, a bad download or two processes fetching at once never leave a partial or wrong file
under the final name; a mismatch exits non-zero, so a changed model fails the image build.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

__all__ = ["FetchError", "fetch", "main", "sha256_of"]

_log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_TIMEOUT_SECONDS = 60.0
#: Progress is reported each time this much more of the file (in tenths) has arrived.
_PROGRESS_STEPS = 10
_HEX = frozenset("0123456789abcdef")


class FetchError(RuntimeError):
    """The file could not be fetched, or what arrived is not the expected file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, sha256: str, dest: Path, progress: TextIO | None = None,
          timeout: float = _TIMEOUT_SECONDS) -> Path:
    """``dest``, downloaded from ``url`` unless a file with the right sha256 is there already.

    ``sha256`` is a hex digest in either case; ``progress``, when given, gets a line for each
    tenth of the file that arrives (when the server says how long it is).
    """
    expected = sha256.strip().lower()
    if len(expected) != 64 or not set(expected) <= _HEX:
        raise FetchError(f"not a sha256 hex digest: {sha256!r}")
    if dest.is_file() and sha256_of(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                        suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _download(url, out, timeout, progress)
        if digest != expected:
            raise FetchError(f"{url} has sha256 {digest}, expected {expected}; not used")
        tmp.chmod(0o644)  # mkstemp makes it 0600; the image's non-root user must read it
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _log.info("fetched %s into %s", url, dest)
    return dest


def _download(url: str, out: BinaryIO, timeout: float, progress: TextIO | None) -> str:
    """Stream ``url`` into ``out``; the sha256 of what arrived."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done, reported = 0, 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None and total and done * _PROGRESS_STEPS >= (
                        reported + 1) * total:
                    reported = done * _PROGRESS_STEPS // total
                    print(f"{url}: {done}/{total} bytes", file=progress, flush=True)
    except OSError as err:  # URLError and HTTPError are OSErrors, as are socket timeouts
        raise FetchError(f"could not fetch {url}: {err}") from err
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``URL SHA256 DEST``; 0 done, 1 not fetched, 2 wrong arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: classify_fetch.py URL SHA256 DEST", file=sys.stderr)
        return 2
    url, sha256, dest = args
    if not url and not sha256:
        return 0
    if not url or not sha256:
        print("classify_fetch: give both URL and SHA256, or neither", file=sys.stderr)
        return 2
    try:
        fetch(url, sha256, Path(dest), progress=sys.stderr)
    except FetchError as err:
        print(f"classify_fetch: {err}", file=sys.stderr)
        return 1
    print(f"classify_fetch: {dest} ({sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

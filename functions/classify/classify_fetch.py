"""Fetching a model or labels file once, verified by sha256, into a local cache.

The download goes to a temporary file in the cache folder and is renamed into place only
after its sha256 matched, so a crash, a bad download or two processes fetching at once never
leave a partial or wrong file under the final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import httpx
from tqdm import tqdm

__all__ = ["FetchError", "fetch", "sha256_of"]

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_TIMEOUT_SECONDS = 60.0


class FetchError(RuntimeError):
    """The file could not be fetched, or what arrived is not the expected file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, sha256: str, dest: Path, progress: bool = True) -> Path:
    """``dest``, downloaded from ``url`` unless a file with the right sha256 is there already."""
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.",
                                         suffix=".part", delete=False)
    tmp = Path(handle.name)
    try:
        with handle:
            digest = _download(url, handle, dest.name, progress)
        if digest != sha256:
            raise FetchError(f"{url} has sha256 {digest}, expected {sha256}; not used")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("fetched %s into %s", url, dest)
    return dest


def _download(url: str, handle: tempfile._TemporaryFileWrapper, label: str,
              progress: bool) -> str:
    """Stream ``url`` into ``handle``; the sha256 of what arrived."""
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=_TIMEOUT_SECONDS) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("Content-Length", 0)) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=label,
                      disable=not progress) as bar:
                for chunk in resp.iter_bytes(_CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except httpx.HTTPError as err:
        raise FetchError(f"could not fetch {url}: {err}") from err
    return digest.hexdigest()

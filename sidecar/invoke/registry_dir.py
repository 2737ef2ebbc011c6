"""Name resolution between local runtimes: one JSON file per app id in a shared folder.

Each runtime writes ``<registry-dir>/<app-id>.json`` (host, ports, pid) at start and removes it
at exit; ``lookup`` ignores entries whose pid is no longer alive, so a runtime killed with
SIGKILL does not leave a name that resolves to nothing. This plays the part of daprd's mDNS
resolver in self-hosted mode.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..settings import Settings

__all__ = ["RegistryEntry", "entry_path", "lookup", "register", "unregister"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryEntry:
    app_id: str
    host: str
    http_port: int
    grpc_port: int
    app_port: int | None
    pid: int


# path -> (file identity from os.stat, entry read from it): every invocation of another app
# looks its entry up, and a stat is far cheaper than opening and parsing the file again.
# Entries are replaced atomically (os.replace), so a new file always has a new inode.
_read_cache: dict[Path, tuple[tuple[int, int, int], RegistryEntry]] = {}


def entry_path(registry_dir: Path, app_id: str) -> Path:
    if not app_id or "/" in app_id or app_id.startswith("."):
        raise ValueError(f"not a usable app id for the registry: {app_id!r}")
    return registry_dir / f"{app_id}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _connect_host(listen_address: str) -> str:
    # A runtime listening on every interface is reached through the loopback address.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        listen_address, listen_address)


def register(settings: Settings) -> Path | None:
    """Write this runtime's entry (atomically); None when there is no app id to register."""
    if not settings.app_id or settings.registry_dir is None:
        return None
    folder = settings.registry_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = RegistryEntry(settings.app_id, _connect_host(settings.listen_address),
                          settings.http_port, settings.grpc_port, settings.app_port, os.getpid())
    path = entry_path(folder, settings.app_id)
    previous = lookup(folder, settings.app_id)
    if previous is not None and previous.pid != os.getpid():
        # Like two daprd with one app id under mDNS, except that the newest one wins here.
        _log.warning("app id %s was registered by live pid %d in %s; this runtime takes it over",
                     settings.app_id, previous.pid, folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{settings.app_id}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(entry), out)
    os.replace(tmp, path)
    return path


def unregister(settings: Settings) -> None:
    """Remove this runtime's entry, but only if it is still ours (same pid)."""
    if not settings.app_id or settings.registry_dir is None:
        return
    path = entry_path(settings.registry_dir, settings.app_id)
    entry = _read(path)
    if entry is not None and entry.pid == os.getpid():
        path.unlink(missing_ok=True)


def _read(path: Path) -> RegistryEntry | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return RegistryEntry(**raw)
    except (OSError, ValueError, TypeError):
        return None


def lookup(registry_dir: Path, app_id: str) -> RegistryEntry | None:
    """The live runtime serving ``app_id``, or None."""
    try:
        path = entry_path(registry_dir, app_id)
    except ValueError:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _read_cache.get(path)
    if cached is not None and cached[0] == identity:
        entry: RegistryEntry | None = cached[1]
    else:
        entry = _read(path)
        if entry is not None:
            _read_cache[path] = (identity, entry)
    if entry is None or not _alive(entry.pid):
        return None
    return entry

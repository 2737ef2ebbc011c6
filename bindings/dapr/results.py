"""Keeping a function's result in an output binding (localstorage or S3), best effort, bounded.

``store(binding_name, data, extension)`` writes ``data`` under a fresh key with the binding's
``create`` operation and returns the key, or None when the sidecar has no such binding or the
call fails: storage is a side effect, it never fails the answer (a failure is logged).

The data travels base64-encoded: daprd's localstorage decodes any data that is valid base64
(raw bytes could happen to be), and S3 decodes it when asked with ``decodeBase64``; the key
goes in both bindings' metadata names (``fileName`` for localstorage, ``key`` for S3).

Retention: a key is ``<unix ms>-<bytes>-<uuid hex>.<ext>``, so what was stored when, and how
big, is read from the names alone. Once a process has stored a result, a background thread
sweeps the binding every RESULTS_SWEEP_SECONDS through the binding's own ``list`` and
``delete`` operations (never its files: the function does not know the binding's layout):
results older than RESULTS_MAX_AGE_SECONDS go, then the oldest until the rest fit in
RESULTS_MAX_BYTES. A binding whose ``list`` answers something other than a JSON array of
names (S3 answers an object) is left alone: in a cluster, the bucket's lifecycle rule does it
(docs/deploy.md). Names in any other form are never touched.

    name                    default     meaning
    RESULTS_MAX_AGE_SECONDS 3600        results older than this are deleted
    RESULTS_MAX_BYTES       104857600   the newest results kept fit in this (100 MiB)
    RESULTS_SWEEP_SECONDS   30          time between sweeps (the store may exceed its bound
                                        by what is written in that time)
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from .. import settings
from .client import deadline, get_client, has_component

__all__ = ["ResultsSettings", "get_settings", "load_settings", "result_key", "store", "sweep"]

_log = logging.getLogger(__name__)

_CREATE, _LIST, _DELETE = "create", "list", "delete"
_KEY = re.compile(r"(?P<ms>[0-9]{13})-(?P<size>[0-9]{1,12})-[0-9a-f]{32}\.[a-z0-9]{1,8}")


@dataclass(frozen=True)
class ResultsSettings:
    """Retention of stored results; see the module docstring."""

    results_max_age_seconds: float = 3600.0
    results_max_bytes: int = 100 * 1024 * 1024
    results_sweep_seconds: float = 30.0


def load_settings(environ: Mapping[str, str] | None = None) -> ResultsSettings:
    """The retention settings from ``environ`` (default ``os.environ``)."""
    return settings.read(ResultsSettings, environ)


@functools.cache
def get_settings() -> ResultsSettings:
    """The process-wide retention settings, read on first use."""
    return load_settings()


def result_key(size: int, extension: str, now: float | None = None) -> str:
    """A fresh key for a result of ``size`` bytes stored at ``now`` (default: the time)."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:013d}-{size}-{uuid.uuid4().hex}.{extension}"


def store(binding_name: str, data: bytes, extension: str) -> str | None:
    """Keep ``data`` in ``binding_name``, if declared; its key, or None.

    Each call is bounded by BINDING_TIMEOUT_SECONDS.
    """
    if not has_component(binding_name):
        return None
    _sweeper(binding_name).start()
    key = result_key(len(data), extension)
    metadata = {"fileName": key, "key": key, "decodeBase64": "true"}
    try:
        with deadline(settings.get().binding_timeout_seconds):
            get_client().invoke_binding(binding_name, _CREATE, base64.b64encode(data),
                                        binding_metadata=metadata)
    # Storage is a side effect: any failure is logged and never fails the answer.
    except Exception as err:  # noqa: BLE001
        _log.warning("could not store result %s in binding %r: %s", key, binding_name, err)
        return None
    return key


def sweep(binding_name: str, retention: ResultsSettings | None = None,
          now: float | None = None) -> int:
    """Delete what the retention settings no longer keep in ``binding_name``; how many."""
    retention = retention or get_settings()
    now = time.time() if now is None else now
    timeout = settings.get().binding_timeout_seconds
    with deadline(timeout):
        listed = get_client().invoke_binding(binding_name, _LIST, b"").data
    names = json.loads(listed) if listed else []
    if not isinstance(names, list):
        _log.debug("binding %r lists no plain names; its own lifecycle must bound it",
                   binding_name)
        return 0
    results = sorted((int(m["ms"]), int(m["size"]), m.group()) for m in (
        _KEY.fullmatch(PurePosixPath(str(name)).name) for name in names) if m)
    oldest_kept = (now - retention.results_max_age_seconds) * 1000
    total = sum(size for _, size, _ in results)
    doomed: list[str] = []
    for ms, size, key in results:
        if ms >= oldest_kept and total <= retention.results_max_bytes:
            break
        doomed.append(key)
        total -= size
    for key in doomed:
        try:
            with deadline(timeout):
                get_client().invoke_binding(binding_name, _DELETE, b"",
                                            binding_metadata={"fileName": key, "key": key})
        # Another worker may have deleted it first; log and go on.
        except Exception as err:  # noqa: BLE001
            _log.debug("could not delete result %s: %s", key, err)
    return len(doomed)


class _Sweeper:
    """One background thread per process and binding, started on the first store."""

    def __init__(self, binding_name: str) -> None:
        self.binding_name = binding_name
        self.lock = threading.Lock()
        self.pid: int | None = None

    def start(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()  # threads do not survive a fork: one per process
        threading.Thread(target=self._run, name=f"results-sweep-{self.binding_name}",
                         daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                removed = sweep(self.binding_name)
                if removed:
                    _log.info("removed %d stored result(s) from %r", removed, self.binding_name)
            # The sweep is housekeeping: a failure is logged and retried next time.
            except Exception as err:  # noqa: BLE001
                _log.warning("could not sweep binding %r: %s", self.binding_name, err)
            time.sleep(get_settings().results_sweep_seconds)


@functools.cache
def _sweeper(binding_name: str) -> _Sweeper:
    return _Sweeper(binding_name)

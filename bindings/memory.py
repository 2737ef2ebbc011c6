"""How a function process uses the C allocator (glibc malloc): set once when the server
starts, before it forks its workers, and memory given back after a large image.

Why: a large image (up to MAX_IMAGE_PIXELS, 150 MB as RGB) is decoded into Pillow's 16 MB
blocks. glibc serves blocks that size with mmap, but after the first is freed it raises its
mmap threshold to that size, so later ones come from the heap of the thread's arena and stay
there after they are freed: measured (bench/memory.py), a classify worker went from 34 MB to
425 MB PSS after two near-cap images and was still at 2x its idle size a minute later. And
each of a worker's threads (gunicorn's, the rate-limit deciders, gRPC's) may get an arena of
its own (up to 8 per core), each holding its own free memory.

``configure()`` fixes the mmap threshold at MMAP_THRESHOLD (so buffers that large are always
mmapped and unmapped on free, and the threshold no longer moves) and the number of arenas at
ARENA_MAX. glibc's own variables win when set (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``,
or ``GLIBC_TUNABLES``). ``trim()`` gives the free memory of every arena back to the system
(``malloc_trim``); measured, it is not needed after a large image once the threshold is fixed,
so nothing calls it on the request path. Without glibc (e.g. musl) both do nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["ARENA_MAX", "MMAP_THRESHOLD", "configure", "trim"]

#: Largest allocation served from an arena; bigger ones are mmapped and unmapped on free.
MMAP_THRESHOLD = 1024 * 1024
#: Arenas (malloc's per-thread heaps) at most, in each process.
ARENA_MAX = 2
# mallopt parameters, from glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_GLIBC_VARIABLES = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def _libc() -> Any:
    """The process's C library when it has glibc's malloc controls, else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set the mmap threshold and arena count (see the module docstring); False when glibc's
    own variables are set, or there is no glibc."""
    environ = os.environ if environ is None else environ
    if _LIBC is None or any(environ.get(name) for name in _GLIBC_VARIABLES):
        return False
    return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and _LIBC.mallopt(_M_ARENA_MAX, ARENA_MAX))


def trim() -> None:
    """Give the free memory of every malloc arena back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

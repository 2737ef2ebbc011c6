"""``bindings.memory``: glibc's allocator set up once at start, unless glibc's own variables
say otherwise, and trimmed on demand."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bindings import memory

pytestmark = pytest.mark.skipif(memory._LIBC is None, reason="needs glibc's malloc")


@pytest.mark.parametrize("name", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_glibc_variables_win(name: str) -> None:
    assert memory.configure({name: "4"}) is False


_HELD_AFTER_FREE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from bindings import memory

    def rss_kb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    if sys.argv[1] == "configure":
        assert memory.configure({})
    first = b"x" * (20 * 1024 * 1024)  # mmapped; freeing it raises glibc's threshold
    del first
    before = rss_kb()
    block = b"x" * (16 * 1024 * 1024)  # a Pillow-sized block
    pinned = bytearray(b"y" * 200_000)  # allocated after it, so it is not at the heap's top
    del block
    print(rss_kb() - before)
    """)


def _held_after_free_kb(mode: str) -> int:
    # In a fresh interpreter: mallopt changes the whole process.
    result = subprocess.run([sys.executable, "-c", _HELD_AFTER_FREE, mode], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_configured_large_buffers_are_given_back_when_freed() -> None:
    assert _held_after_free_kb("default") > 12_000  # glibc's moving threshold keeps it
    assert _held_after_free_kb("configure") < 4_000


def test_trim_runs() -> None:
    memory.trim()

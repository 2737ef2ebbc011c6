"""Child processes: start each in its own process group, stream its output with a prefix, wait
until it answers, and stop every group it started (SIGTERM, then SIGKILL after a grace period).

Each child gets its own process group so that stopping it reaches what it forked too
(gunicorn's workers under functions-framework), and so a terminal's Ctrl-C reaches only the
launcher, which then stops the children in order instead of all of them racing to exit.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import httpx

from .plan import ProcessSpec

__all__ = ["Child", "StartupError", "Supervisor"]

#: Lines kept per child for the report when it dies.
_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.1


class StartupError(RuntimeError):
    """A child exited or never answered while the stack was starting."""


@dataclass
class Child:
    """A started ``ProcessSpec``: its process, and the last lines it printed."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=_TAIL_LINES))
    pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def last_lines(self) -> str:
        return "\n".join(f"    {line}" for line in self.tail) or "    (no output)"


def _load_prctl() -> Callable[..., int] | None:
    # Looked up once, before any fork: a child between fork and exec must not call dlopen,
    # which could wait forever on a lock another thread of the launcher held at fork time.
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    # The child gets SIGTERM if the launcher itself is killed (even by SIGKILL), so no
    # runtime outlives it holding a port.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Starts ``ProcessSpec`` children and stops them all; ``out`` receives prefixed log lines."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.children: list[Child] = []
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._width = 0

    def emit(self, label: str, line: str) -> None:
        """Print one line as ``[label] line``; lines of concurrent children never interleave."""
        with self._lock:
            self._out.write(f"[{label}]".ljust(self._width + 2) + f" {line}\n")
            self._out.flush()

    def start(self, spec: ProcessSpec) -> Child:
        """Start ``spec`` in a new process group; a missing executable raises StartupError."""
        self._width = max(self._width, len(spec.label))
        try:
            process = subprocess.Popen(
                list(spec.argv), cwd=spec.cwd, env=dict(spec.env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0,
                preexec_fn=_die_with_parent if _PRCTL is not None else None)
        except OSError as err:
            raise StartupError(f"[{spec.label}] cannot start {spec.argv[0]!r} in {spec.cwd}: "
                               f"{err.strerror}") from err
        child = Child(spec, process)
        self.children.append(child)
        child.pump = threading.Thread(target=self._pump, args=(child,), name=f"log-{spec.label}",
                                      daemon=True)
        child.pump.start()
        return child

    def _pump(self, child: Child) -> None:
        assert child.process.stdout is not None
        for raw in child.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            child.tail.append(line)
            self.emit(child.spec.label, line)

    def exited(self) -> Child | None:
        """The first child that is no longer running, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def wait_ready(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Until every child's ``ready_url`` answers below 500; StartupError if one exits first,
        or if ``timeout`` seconds pass. Returns early, quietly, when ``stop()`` turns true."""
        pending = [c for c in self.children if c.spec.ready_url]
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while pending and not stop():
                dead = self.exited()
                if dead is not None:
                    raise StartupError(self._death_report(dead, "while starting"))
                pending = [c for c in pending if not _answers(client, c.spec.ready_url or "")]
                if time.monotonic() > deadline:
                    names = ", ".join(c.spec.label for c in pending)
                    tails = "\n".join(f"  [{c.spec.label}] last lines:\n{c.last_lines()}"
                                      for c in pending)
                    raise StartupError(f"not ready after {timeout:.0f}s: {names}\n{tails}")
                time.sleep(_POLL_SECONDS)

    def _death_report(self, child: Child, when: str) -> str:
        # The pump thread may still be reading the last lines; give it a moment.
        if child.pump is not None:
            child.pump.join(timeout=0.5)
        return (f"{child.spec.label} exited with code {child.process.returncode} {when}; "
                f"its last lines:\n{child.last_lines()}")

    def death_report(self, child: Child) -> str:
        """What to print when ``child`` died after start-up."""
        return self._death_report(child, "")

    def stop_all(self, grace: float) -> None:
        """SIGTERM every group (apps before runtimes, reverse start order), SIGKILL what is left
        after ``grace`` seconds, then reap every child."""
        for child in reversed(self.children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(max(0.0, deadline - time.monotonic()))
        for child in self.children:
            # Also reaches grandchildren whose parent exited first but who still hold the group.
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
        for child in self.children:
            # Every writer of the pipe is gone now, so the pump reaches EOF and prints the rest.
            if child.pump is not None:
                child.pump.join(timeout=2.0)
            if child.process.stdout is not None and not (child.pump and child.pump.is_alive()):
                child.process.stdout.close()


def _signal_group(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code < 500
    except httpx.HTTPError:
        return False


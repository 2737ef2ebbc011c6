"""Child processes: start each in its own process group, stream its output with a prefix, wait
until it answers, restart it when it dies, and stop every group it started (SIGTERM, then
SIGKILL after a grace period).

Each child gets its own process group so that stopping it reaches what it forked too
(gunicorn's workers under functions-framework), and so a terminal's Ctrl-C reaches only the
launcher, which then stops the children in order instead of all of them racing to exit.

Supervision works as a pod's ``restartPolicy: Always``: a child that exits (any code, any
signal) is restarted after a back-off (``restart.py``) while every other child keeps running,
and a child that keeps crashing stops the whole stack (``CrashLoop``). Only the direct children
are watched: a gunicorn worker that dies is its master's business (the master replaces it), so
it is not a crash here. When a child dies, the rest of its group (e.g. workers whose master was
killed, still holding its port) is killed before the restart, as a container's processes die
with it. Everything here runs on the launcher's main thread: ``PR_SET_PDEATHSIG`` fires when
the *thread* that forked a child ends, so children must be started from the one that lives
longest.
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
from .restart import CrashHistory, RestartPolicy

__all__ = ["TAIL_LINES", "Child", "CrashLoop", "StartupError", "Supervisor", "describe_exit"]

#: Lines kept per child (over all its runs) for the report when it fails.
TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.1
#: Seconds one readiness probe may take.
_PROBE_TIMEOUT = 1.0


class StartupError(RuntimeError):
    """A child cannot be started, or did not answer in time while the stack was starting."""


class CrashLoop(RuntimeError):
    """A child kept crashing (see ``RestartPolicy``); the message names it, with its last lines."""


@dataclass
class Child:
    """A ``ProcessSpec`` under supervision: its current process (replaced at each restart), the
    last lines it printed over all its runs, and its restart state."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    history: CrashHistory
    tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    pump: threading.Thread | None = None
    started_at: float = 0.0
    #: How many times it was restarted (Kubernetes' RESTARTS column).
    restarts: int = 0
    #: While dead: when the restart is due, and when it died.
    restart_at: float | None = None
    died_at: float | None = None
    #: Whether its ready URL answered since the current process started.
    ready: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.restart_at is None

    def last_lines(self) -> str:
        return "\n".join(f"    {line}" for line in self.tail) or "    (no output)"


def describe_exit(returncode: int) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL`` for a ``Popen.returncode``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


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


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether ``process`` ended, *without reaping it*: while it is an unreaped zombie its pid,
    which is also its group's id, cannot be reused, so signalling the group stays safe."""
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by someone else already; poll() sets returncode
        return process.poll() is not None


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # Never after the leader was reaped: its pid (the group id) may belong to another by then.
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


class Supervisor:
    """Starts ``ProcessSpec`` children, restarts those that die and stops them all; ``out``
    receives prefixed log lines and the launcher's own ``launcher: ...`` lines."""

    def __init__(self, out: IO[str] | None = None, policy: RestartPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.children: list[Child] = []
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._width = 0
        self._stopped = False
        self._probe = httpx.Client(timeout=_PROBE_TIMEOUT)

    def emit(self, label: str, line: str) -> None:
        """Print one line as ``[label] line``; lines of concurrent children never interleave."""
        with self._lock:
            self._out.write(f"[{label}]".ljust(self._width + 2) + f" {line}\n")
            self._out.flush()

    def say(self, line: str) -> None:
        """Print one line of the launcher's own, ``launcher: line``."""
        with self._lock:
            self._out.write(f"launcher: {line}\n")
            self._out.flush()

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                list(spec.argv), cwd=spec.cwd, env=dict(spec.env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0,
                preexec_fn=_die_with_parent if _PRCTL is not None else None)
        except OSError as err:
            raise StartupError(f"[{spec.label}] cannot start {spec.argv[0]!r} in {spec.cwd}: "
                               f"{err.strerror}") from err

    def _pump_output(self, child: Child) -> None:
        child.pump = threading.Thread(target=self._pump, args=(child, child.process),
                                      name=f"log-{child.spec.label}", daemon=True)
        child.pump.start()

    def start(self, spec: ProcessSpec) -> Child:
        """Start ``spec`` in a new process group; a missing executable raises StartupError."""
        self._width = max(self._width, len(spec.label))
        child = Child(spec, self._spawn(spec), CrashHistory(self.policy),
                      started_at=self._clock())
        self.children.append(child)
        self._pump_output(child)
        return child

    def _pump(self, child: Child, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            child.tail.append(line)
            self.emit(child.spec.label, line)
        process.stdout.close()

    # -- supervision ---------------------------------------------------------------------

    def tend(self) -> None:
        """One round: handle every child that died (kill its group, schedule its restart or
        raise ``CrashLoop``), restart those whose delay is over, probe those not ready yet.
        Does nothing once ``stop_all`` began."""
        if self._stopped:
            return
        for child in self.children:
            if child.running and _has_exited(child.process):
                self._died(child)
        now = self._clock()
        for child in self.children:
            if child.restart_at is not None and now >= child.restart_at:
                self._restart(child)
        for child in self.children:
            if child.running and not child.ready and child.spec.ready_url:
                self._check_ready(child)

    def _died(self, child: Child) -> None:
        process = child.process
        # What it forked may live on (gunicorn workers of a killed master hold its port).
        _signal_group(process, signal.SIGKILL)
        returncode = process.wait()
        now = self._clock()
        ran = now - child.started_at
        how = (f"{child.spec.label} (pid {process.pid}) {describe_exit(returncode)} "
               f"after {ran:.1f} s")
        delay = child.history.record(child.started_at, now)
        if delay is None:
            if child.pump is not None:
                # The pump may still be reading the last lines. The group is dead, so the pipe
                # ends as soon as they are read; the bound only matters if an escaped grandchild
                # holds it open (0.5 s, the bound before, is short on a loaded machine).
                child.pump.join(timeout=5.0)
            policy = self.policy
            raise CrashLoop(
                f"{how}: {child.history.in_window} exits within {policy.crash_window:g} s "
                f"without a run of {policy.healthy_after:g} s, so it keeps crashing; stopping "
                f"the stack. Its last {len(child.tail)} lines:\n{child.last_lines()}")
        child.died_at, child.restart_at, child.ready = now, now + delay, False
        self.say(f"{how}; restart {child.restarts + 1} in {delay:g} s "
                 f"({child.history.in_window} of {self.policy.crash_limit} exits allowed "
                 f"without a healthy run; the rest of the stack keeps running)")

    def _restart(self, child: Child) -> None:
        try:
            child.process = self._spawn(child.spec)
        except StartupError as err:
            raise CrashLoop(f"cannot restart {err}") from None
        child.restarts += 1
        child.started_at, child.restart_at = self._clock(), None
        self._pump_output(child)
        if not child.spec.ready_url:
            self.say(f"{child.spec.label} restarted (pid {child.pid}, restart {child.restarts})")

    def _check_ready(self, child: Child) -> None:
        try:
            child.ready = self._probe.get(child.spec.ready_url or "").status_code < 500
        except httpx.HTTPError:
            return
        if child.ready and child.restarts and child.died_at is not None:
            self.say(f"{child.spec.label} serves again (pid {child.pid}, restart "
                     f"{child.restarts}), {self._clock() - child.died_at:.1f} s after it died")

    def wait_ready(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Supervise until every child's ``ready_url`` answers below 500 (children that die
        meanwhile are restarted). StartupError after ``timeout`` seconds, CrashLoop when one
        keeps crashing. Returns early, quietly, when ``stop()`` turns true."""
        deadline = self._clock() + timeout
        while not stop():
            self.tend()
            pending = [c for c in self.children if c.spec.ready_url and not c.ready]
            if not pending:
                return
            if self._clock() > deadline:
                names = ", ".join(c.spec.label for c in pending)
                tails = "\n".join(f"  [{c.spec.label}] last lines:\n{c.last_lines()}"
                                  for c in pending)
                raise StartupError(f"not ready after {timeout:.0f}s: {names}\n{tails}")
            time.sleep(_POLL_SECONDS)

    def run(self, stop: Callable[[], bool]) -> None:
        """Supervise until ``stop()`` turns true; CrashLoop when a child keeps crashing."""
        while not stop():
            self.tend()
            time.sleep(_POLL_SECONDS)

    # -- shutdown ------------------------------------------------------------------------

    def stop_all(self, grace: float) -> None:
        """SIGTERM every group (apps before runtimes, reverse start order), SIGKILL what is left
        after ``grace`` seconds, then reap every child. Children waiting for a restart are
        already gone (their groups were killed when they died)."""
        self._stopped = True
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while (time.monotonic() < deadline
               and not all(_has_exited(child.process) for child in self.children)):
            time.sleep(0.05)
        for child in self.children:
            # Also reaches grandchildren whose parent exited first but who still hold the group;
            # the leader is still an unreaped zombie here, so the group id is still ours.
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait()
        for child in self.children:
            # Every writer of the pipe is gone now, so the pump reaches EOF and prints the rest.
            if child.pump is not None:
                child.pump.join(timeout=2.0)
        self._probe.close()

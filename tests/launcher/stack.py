"""Run ``python -m launcher`` on a throw-away copy of dapr.yaml, for the launcher and page tests.

``write_run_dir(folder)`` makes ``folder`` a stand-in for the repository root: a dapr.yaml with
free ports, absolute ``--source`` paths and ``appDirPath`` = ``folder``, and a copy of
``config/`` (the repository's own component files). The runtimes then work in ``folder``, so the
embedded profile's ``.data/`` (sqlite events, stored images) lands there, never in the repo.
``LauncherProcess`` starts the launcher on it, collects its output (with arrival times) and
knows its descendants; ``supervised`` names the launcher's children (``events-service:dapr``,
``events-service``, ...) as its log prefixes do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["REPO_ROOT", "LauncherProcess", "alive", "children", "descendants", "environment",
           "free_ports", "processes_mentioning", "supervised", "unique_args", "write_run_dir"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_READY = "launcher: ready"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (each bound to port 0 at once)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_run_dir(folder: Path, workers: str = "1", threads: str = "4") -> tuple[Path, int]:
    """A runnable copy of the repo's dapr.yaml in ``folder``; returns (run file, web port)."""
    document = yaml.safe_load((REPO_ROOT / "dapr.yaml").read_text())
    ports = iter(free_ports(3 * len(document["apps"]) + 1))
    for app in document["apps"]:
        app["appDirPath"] = str(folder)
        app["appPort"], app["daprHTTPPort"], app["daprGRPCPort"] = next(ports), next(ports), next(
            ports)
        command = [str(arg) for arg in app["command"]]
        source = command.index("--source") + 1
        command[source] = str(REPO_ROOT / command[source])
        command[command.index("--port") + 1] = str(app["appPort"])
        app["command"] = [*command, "--host", "127.0.0.1"]
        # One small worker each: start-up speed matters more than throughput here.
        app["env"] = {**app.get("env", {}), "WORKERS": workers, "THREADS": threads}
    shutil.copytree(REPO_ROOT / "config", folder / "config")
    run_file = folder / "dapr.yaml"
    run_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_file, next(ports)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # Field 3 is the state, 4 the parent pid; the command name (field 2) may hold spaces
        # and parentheses.
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    return parents


def children(pid: int) -> set[int]:
    """The live direct children of ``pid``."""
    return {child for child, parent in _parents().items() if parent == pid}


def _read_args(pid: int, name: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def environment(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with."""
    return dict(item.split("=", 1) for item in _read_args(pid, "environ") if "=" in item)


def supervised(launcher_pid: int) -> dict[str, int]:
    """The launcher's live children by log label: ``<app id>:dapr`` for a runtime (its
    ``--app-id``), ``<app id>`` for an app (its ``APP_ID``)."""
    found: dict[str, int] = {}
    for pid in children(launcher_pid):
        args = _read_args(pid, "cmdline")
        if "sidecar" in args and "--app-id" in args:
            found[f"{args[args.index('--app-id') + 1]}:dapr"] = pid
            continue
        env = environment(pid)
        if "APP_ID" in env:
            found[env["APP_ID"]] = pid
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_mentioning(needles: list[str]) -> list[str]:
    """Command lines of live processes containing any of ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(f"{entry.name}: {cmdline}")
    return found


def unique_args(run_file: Path) -> list[str]:
    """Strings only this run's processes carry on their command line."""
    apps = yaml.safe_load(run_file.read_text())["apps"]
    return [f"--port {app['appPort']} " for app in apps] + [str(run_file.parent / "registry")]


@dataclass
class LauncherProcess:
    """A running ``python -m launcher``; ``output`` is everything it printed so far."""

    process: subprocess.Popen[bytes]
    web_port: int
    args: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    #: ``time.monotonic()`` at which each of ``lines`` arrived.
    times: list[float] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, args: list[str], web_port: int, cwd: Path,
              env: dict[str, str] | None = None) -> LauncherProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher", "--web-port", str(web_port), *args], cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # A token of the test run's own would stand in for the launcher's random one.
            env={**{k: v for k, v in os.environ.items() if k != "DAPR_API_TOKEN"},
                 "PYTHONUNBUFFERED": "1", **(env or {})})
        launcher = cls(process, web_port, list(args))
        threading.Thread(target=launcher._read, daemon=True).start()
        return launcher

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.times.append(time.monotonic())
            self.lines.append(line)
            if line.startswith(_READY):
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def option(self, name: str) -> str:
        """The value given to the launcher's option ``name`` (``--file`` ...)."""
        return self.args[self.args.index(name) + 1]

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30.0,
                      start: int = 0) -> int:
        """Index of the first line from ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        index = start
        while True:
            # Read before checking the exit: the reader thread may still add the last lines.
            finished = time.monotonic() > deadline or self.process.poll() is not None
            time.sleep(0.05)
            while index < len(self.lines):
                if predicate(self.lines[index]):
                    return index
                index += 1
            if finished:
                raise AssertionError(f"no such line after {timeout} s (exit code "
                                     f"{self.process.poll()}):\n{self.output}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"launcher not ready (exit code {self.process.poll()}):\n"
                                     f"{self.output}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        time.sleep(0.1)  # let the reader thread take the last lines
        return code

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` to the launcher alone (as a terminal's Ctrl-C would reach it)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.wait_exit()
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise

    def kill_all(self) -> None:
        """Last resort for a failed test: SIGKILL the launcher and all it started."""
        if self.process.poll() is not None:
            return  # its pid may belong to another process by now
        for pid in descendants(self.process.pid) | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)


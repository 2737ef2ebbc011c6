"""The supervisor on small real processes (plain Python children, no stack): a dead child is
restarted after its delay with its whole group gone first, the others untouched; a child that
keeps crashing raises CrashLoop with its last lines; a stop during a back-off restarts nothing."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from launcher.plan import ProcessSpec
from launcher.restart import RestartPolicy
from launcher.supervisor import TAIL_LINES, Child, CrashLoop, Supervisor, describe_exit

from .stack import alive, free_ports

SLEEPER = "import time; print('up', flush=True); time.sleep(120)"
# Forks a grandchild, which stays in its process group, as gunicorn's workers do.
FORKER = ("import subprocess, sys, time; "
          "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
          "print('grandchild', p.pid, flush=True); time.sleep(120)")


def spec(label: str, code: str, ready_url: str | None = None, *args: str) -> ProcessSpec:
    return ProcessSpec(label, (sys.executable, "-c", code, *args), Path.cwd(),
                       {**os.environ, "PYTHONUNBUFFERED": "1"}, ready_url)


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def supervisor(out: io.StringIO) -> Iterator[Supervisor]:
    sup = Supervisor(out=out, policy=RestartPolicy(initial_delay=0.4, max_delay=0.4))
    try:
        yield sup
    finally:
        sup.stop_all(grace=2)


def tend_until(sup: Supervisor, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached"
        sup.tend()
        time.sleep(0.02)


def launcher_lines(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line.startswith("launcher: ")]


def printed(child: Child, prefix: str) -> Callable[[], bool]:
    return lambda: any(line.startswith(prefix) for line in child.tail)


def test_describe_exit() -> None:
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(-15) == "was killed by SIGTERM"


def test_a_killed_child_and_its_group_go_then_it_alone_comes_back(
        supervisor: Supervisor, out: io.StringIO) -> None:
    forker = supervisor.start(spec("forker", FORKER))
    other = supervisor.start(spec("other", SLEEPER))
    tend_until(supervisor, printed(forker, "grandchild"))
    tend_until(supervisor, printed(other, "up"))
    grandchild = int(next(line for line in forker.tail if line.startswith("grandchild")).split()[1])
    first_pid, other_pid = forker.pid, other.pid

    os.kill(first_pid, signal.SIGKILL)
    tend_until(supervisor, lambda: not forker.running)
    died = time.monotonic()
    # The rest of its group is killed with it, before any restart (it held what the new one
    # needs, like gunicorn workers holding the master's port).
    deadline = time.monotonic() + 5
    while alive(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived its group leader"
        time.sleep(0.02)
    tend_until(supervisor, lambda: forker.running)
    assert time.monotonic() - died >= 0.35  # the 0.4 s back-off, give or take a tick

    assert forker.pid != first_pid and forker.restarts == 1
    assert (other.pid, other.restarts) == (other_pid, 0) and alive(other_pid)
    lines = launcher_lines(out)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"launcher: forker (pid {first_pid}) was killed by SIGKILL after ")
    assert "; restart 1 in 0.4 s (1 of 5 exits allowed" in lines[0]
    # No ready URL to wait for: the restart itself is reported.
    assert lines[1] == f"launcher: forker restarted (pid {forker.pid}, restart 1)"
    # The new run forked its own grandchild (the tail keeps the lines of both runs).
    tend_until(supervisor, lambda: sum(line.startswith("grandchild") for line in forker.tail) == 2)


def test_a_child_that_keeps_crashing_raises_with_its_last_lines(out: io.StringIO) -> None:
    sup = Supervisor(out=out, policy=RestartPolicy(initial_delay=0.05, max_delay=0.1,
                                                   crash_limit=3))
    crasher = sup.start(spec(
        "crasher", "import sys\nfor i in range(30): print('line', i)\nsys.exit(3)"))
    other = sup.start(spec("other", SLEEPER))
    try:
        with pytest.raises(CrashLoop) as caught:
            sup.run(lambda: False)
        assert crasher.restarts == 2
        assert other.restarts == 0 and alive(other.pid)
    finally:
        sup.stop_all(grace=2)
    message = str(caught.value)
    assert message.startswith("crasher (pid ")
    assert "exited with code 3" in message
    assert "3 exits within 300 s without a run of 60 s" in message
    assert message.endswith("\n".join(f"    line {i}" for i in range(30 - TAIL_LINES, 30)))
    assert "    line 9\n" not in message
    deaths = [line for line in launcher_lines(out) if "; restart " in line]
    assert [line.split(";")[1].split("(")[0].strip() for line in deaths] == [
        "restart 1 in 0.05 s", "restart 2 in 0.1 s"]


def test_a_ready_child_that_died_says_when_it_serves_again(
        supervisor: Supervisor, out: io.StringIO) -> None:
    port = free_ports(1)[0]
    server = supervisor.start(spec(
        "server", "import runpy, sys; sys.argv = ['http.server', '--bind', '127.0.0.1', "
        f"'{port}']; runpy.run_module('http.server', run_name='__main__')",
        f"http://127.0.0.1:{port}/"))
    supervisor.wait_ready(15)
    assert server.ready and launcher_lines(out) == []
    os.kill(server.pid, signal.SIGTERM)
    tend_until(supervisor, lambda: server.restarts == 1 and server.ready)
    lines = launcher_lines(out)
    assert len(lines) == 2, lines
    assert "was killed by SIGTERM" in lines[0]
    assert lines[1].startswith(f"launcher: server serves again (pid {server.pid}, restart 1), ")
    assert lines[1].endswith(" s after it died")


def test_a_stop_during_the_back_off_restarts_nothing(out: io.StringIO) -> None:
    sup = Supervisor(out=out, policy=RestartPolicy(initial_delay=30, max_delay=30))
    child = sup.start(spec("quitter", "print('bye')"))
    tend_until(sup, lambda: child.restart_at is not None)
    started = time.monotonic()
    sup.stop_all(grace=5)
    assert time.monotonic() - started < 2
    sup.tend()  # nothing is due any more
    assert child.restarts == 0 and child.process.returncode == 0
    assert "exited with code 0" in launcher_lines(out)[0]

"""Supervision end to end on a real stack: kill -9 a runtime, a function's master or a gunicorn
worker and the stack serves again (a grayscale request through the proxy answers 200 and its
event reaches events-service through both runtimes) within 10 s, with nothing else restarted;
a process that keeps crashing stops the stack with its last lines; Ctrl-C, also in the middle
of a back-off, leaves no process behind."""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from itertools import count, pairwise
from pathlib import Path

import httpx
import pytest
import yaml
from PIL import Image

from .stack import (
    LauncherProcess,
    alive,
    children,
    descendants,
    processes_mentioning,
    supervised,
    unique_args,
    write_run_dir,
)

#: The issue's bound on the time from a kill to a working stack.
SERVE_AGAIN_SECONDS = 10.0
LABELS = {"image-api-grayscale", "image-api-grayscale:dapr", "image-api-classify",
          "image-api-classify:dapr", "events-service", "events-service:dapr"}
_widths = count(101)


def start(folder: Path, *flags: str, workers: str = "1",
          crashing_events: str | None = None) -> tuple[LauncherProcess, Path]:
    """A launcher on a copy of dapr.yaml; ``crashing_events`` replaces events' command by this
    Python code."""
    run_file, web_port = write_run_dir(folder, workers=workers)
    if crashing_events is not None:
        document = yaml.safe_load(run_file.read_text())
        events = document["apps"][2]
        events["command"] = ["python", "-c", crashing_events, "--port", str(events["appPort"])]
        run_file.write_text(json.dumps(document))
    launcher = LauncherProcess.start(
        ["--file", str(run_file), "--registry-dir", str(folder / "registry"), *flags],
        web_port, cwd=folder)
    return launcher, run_file


def fresh_image() -> bytes:
    """A PNG no other request of this module sent, so its size identifies its event."""
    width = next(_widths)
    out = io.BytesIO()
    Image.new("RGB", (width, 41), (width % 256, 80, 120)).save(out, "PNG")
    return out.getvalue()


def last_event_id(launcher: LauncherProcess) -> int:
    rows = httpx.get(f"{launcher.url}/api/events/events?limit=1000", timeout=10).json()
    assert isinstance(rows, list), rows
    return max((row["id"] for row in rows), default=0)


def seconds_to_serve_again(launcher: LauncherProcess, killed_at: float, after_id: int) -> float:
    """Seconds from ``killed_at`` until a grayscale request answered 200 and the event it
    records went grayscale -> its runtime -> events' runtime -> events -> the database."""
    sent: set[int] = set()
    answers: list[str] = []
    while time.monotonic() - killed_at < SERVE_AGAIN_SECONDS + 20:
        body = fresh_image()
        try:
            answer = httpx.post(f"{launcher.url}/api/grayscale/grayscale", content=body,
                                timeout=10)
            answers.append(str(answer.status_code))
            if answer.status_code == 200:
                sent.add(len(body))
            rows = httpx.get(f"{launcher.url}/api/events/events?after={after_id}&limit=1000",
                             timeout=10).json()
        except httpx.HTTPError as err:
            answers.append(type(err).__name__)
            rows = []
        if isinstance(rows, list) and any(row["op_type"] == "grayscale"
                                          and row["input_size"] in sent for row in rows):
            return time.monotonic() - killed_at
        time.sleep(0.1)
    raise AssertionError(f"never served again; answers {answers}:\n{launcher.output}")


def death_lines(launcher: LauncherProcess, start: int = 0) -> list[str]:
    return [line for line in launcher.lines[start:]
            if line.startswith("launcher: ") and "; restart " in line]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherProcess]:
    # Two workers per function, so that a killed worker leaves one serving meanwhile; the
    # default back-off (1 s before a first restart), as `make run` has it.
    launcher, _ = start(tmp_path_factory.mktemp("supervised"), workers="2")
    try:
        launcher.wait_ready()
        yield launcher
    finally:
        launcher.stop(signal.SIGTERM)


def kill_and_time(stack: LauncherProcess, pid: int) -> tuple[float, int]:
    """SIGKILL ``pid``; seconds until the stack serves again, and the first output line after."""
    after_id = last_event_id(stack)
    first_line = len(stack.lines)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    took = seconds_to_serve_again(stack, killed_at, after_id)
    print(f"served again {took:.2f} s after kill -9 of pid {pid}")
    assert took < SERVE_AGAIN_SECONDS
    return took, first_line


@pytest.mark.parametrize("label", ["events-service:dapr", "image-api-grayscale:dapr",
                                   "image-api-grayscale"])
def test_a_killed_process_alone_is_restarted_and_the_stack_serves_again(
        stack: LauncherProcess, label: str) -> None:
    before = supervised(stack.process.pid)
    assert set(before) == LABELS, before
    _, first_line = kill_and_time(stack, before[label])
    stack.wait_for_line(lambda line: line.startswith(f"launcher: {label} serves again"),
                        start=first_line, timeout=SERVE_AGAIN_SECONDS)
    after = supervised(stack.process.pid)
    assert {k: v for k, v in after.items() if k != label} == {
        k: v for k, v in before.items() if k != label}
    assert after[label] != before[label]
    deaths = death_lines(stack, first_line)
    assert len(deaths) == 1, stack.output
    assert deaths[0].startswith(f"launcher: {label} (pid {before[label]}) was killed by SIGKILL "
                                "after ")
    assert "; restart 1 in 1 s (1 of 5 exits allowed" in deaths[0]
    if label.endswith(":dapr"):
        # Registered again under its new pid, the key other runtimes' channels are cached by.
        entry = Path(stack.option("--registry-dir")) / f"{label.split(':')[0]}.json"
        assert json.loads(entry.read_text())["pid"] == after[label]


def test_a_killed_worker_is_gunicorns_business_not_a_crash(stack: LauncherProcess) -> None:
    before = supervised(stack.process.pid)
    # A master restarted by an earlier test may still be starting its second worker.
    deadline = time.monotonic() + SERVE_AGAIN_SECONDS
    while len(workers := children(before["image-api-grayscale"])) < 2:
        assert time.monotonic() < deadline, workers
        time.sleep(0.1)
    assert len(workers) == 2, workers
    victim = min(workers)
    _, first_line = kill_and_time(stack, victim)
    # gunicorn's master replaces it; the launcher restarts nothing and says nothing.
    deadline = time.monotonic() + SERVE_AGAIN_SECONDS
    while len(children(before["image-api-grayscale"]) - {victim}) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace its worker"
        time.sleep(0.1)
    assert supervised(stack.process.pid) == before
    assert [line for line in stack.lines[first_line:] if line.startswith("launcher: ")] == []


def test_ctrl_c_after_restarts_leaves_no_process(stack: LauncherProcess) -> None:
    # Last in this module: stops its stack, restarted processes included.
    assert len(death_lines(stack)) == 3, stack.output
    everything = descendants(stack.process.pid)
    assert stack.stop(signal.SIGINT) == 0, stack.output
    assert "launcher: stopped" in stack.output
    time.sleep(0.2)
    assert [pid for pid in everything if alive(pid)] == []
    assert processes_mentioning(unique_args(Path(stack.option("--file")))) == []
    assert list(Path(stack.option("--registry-dir")).glob("*.json")) == []


CRASHER = ("import sys\nfor i in range(25): print('starting, step', i)\n"
           "print('boom: no such table')\nsys.exit(3)")


def test_a_process_that_keeps_crashing_stops_the_stack_with_its_last_lines(
        tmp_path: Path) -> None:
    launcher, run_file = start(tmp_path, "--restart-delay", "0.2", "--max-restart-delay", "0.8",
                               crashing_events=CRASHER)
    try:
        assert launcher.wait_exit(60) == 1
    finally:
        launcher.kill_all()
    output = launcher.output
    deaths = death_lines(launcher)
    # Four restarts, each delay twice the last up to the cap; the fifth exit ends it.
    assert [line.split("; ")[1].split(" (")[0] for line in deaths] == [
        "restart 1 in 0.2 s", "restart 2 in 0.4 s", "restart 3 in 0.8 s", "restart 4 in 0.8 s"]
    assert all(line.startswith("launcher: events-service (pid ")
               and " exited with code 3 after " in line for line in deaths), deaths
    # The launcher really waited: from one exit to the next at least the announced delay.
    times = [launcher.times[launcher.lines.index(line)] for line in deaths]
    for (first, second), delay in zip(pairwise(times), (0.2, 0.4, 0.8), strict=True):
        assert second - first >= delay * 0.9, (times, output)
    stop = next(line for line in launcher.lines if "keeps crashing" in line)
    assert stop.startswith("launcher: events-service (pid ")
    assert ("exited with code 3 after " in stop and "5 exits within 300 s without a run of 60 s"
            in stop and stop.endswith("stopping the stack. Its last 20 lines:")), stop
    tail = launcher.lines[launcher.lines.index(stop) + 1:][:20]
    assert tail == [f"    starting, step {i}" for i in range(6, 25)] + [
        "    boom: no such table"], output
    assert any(line.startswith("[events-service]") and line.endswith(" boom: no such table")
               for line in launcher.lines), output
    # Nobody else was restarted, and nothing is left.
    assert not any(line.startswith("launcher: ") and "serves again" in line
                   for line in launcher.lines), output
    assert processes_mentioning(unique_args(run_file)) == []


def test_ctrl_c_during_a_back_off_stops_at_once_and_leaves_no_process(tmp_path: Path) -> None:
    launcher, run_file = start(tmp_path, "--restart-delay", "60", "--max-restart-delay", "60",
                               crashing_events=CRASHER)
    try:
        launcher.wait_for_line(lambda line: "; restart 1 in 60 s" in line)
        stopped_at = time.monotonic()
        assert launcher.stop(signal.SIGINT) == 0, launcher.output
        assert time.monotonic() - stopped_at < 15
    finally:
        launcher.kill_all()
    assert "launcher: stopped" in launcher.output
    assert len(death_lines(launcher)) == 1, launcher.output
    assert processes_mentioning(unique_args(run_file)) == []

"""The launcher end to end: a real stack (three runtimes, three functions-framework apps) on a
temporary copy of dapr.yaml with free ports, reached through the launcher's proxy, and stopped
by a signal with no process left behind."""

from __future__ import annotations

import io
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest
import yaml
from PIL import Image

from .stack import (
    LauncherProcess,
    alive,
    descendants,
    environment,
    processes_mentioning,
    supervised,
    unique_args,
    write_run_dir,
)


def start(tmp: Path, profile: str = "embedded") -> tuple[LauncherProcess, Path]:
    run_file, web_port = write_run_dir(tmp)
    launcher = LauncherProcess.start(
        ["--file", str(run_file), "--profile", profile, "--registry-dir", str(tmp / "registry")],
        web_port, cwd=tmp)
    return launcher, run_file


def grayscale_events(mysql_params: dict, size: int) -> int:
    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW TABLES LIKE 'events'")
        if cursor.fetchone() is None:
            return 0
        cursor.execute("SELECT COUNT(*) FROM events WHERE op_type='grayscale' AND input_size=%s",
                       (size,))
        return int(cursor.fetchone()[0])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherProcess]:
    launcher, _ = start(tmp_path_factory.mktemp("embedded"))
    try:
        launcher.wait_ready()
        yield launcher
    finally:
        launcher.stop(signal.SIGTERM)


def test_table_lists_every_app_and_the_page(stack: LauncherProcess) -> None:
    table = stack.output.split("[", 1)[0]
    for app_id, function in [("image-api-grayscale", "grayscale"),
                             ("image-api-classify", "classify"), ("events-service", "events")]:
        assert any(line.startswith(app_id) and f" {function} " in line
                   for line in table.splitlines()), table
    assert f"web page  {stack.url}/" in table


def test_one_ready_line_names_every_url(stack: LauncherProcess) -> None:
    ready = [line for line in stack.lines if line.startswith("launcher: ready")]
    assert len(ready) == 1, stack.output
    apps = yaml.safe_load(Path(stack.option("--file")).read_text())["apps"]
    expected = [f"web page {stack.url}/ "]
    for app in apps:
        target = app["command"][app["command"].index("--target") + 1]
        expected += [f"{target} http://127.0.0.1:{app['appPort']}",
                     f"{app['appID']} http://127.0.0.1:{app['daprHTTPPort']}"]
    for text in expected:
        assert text in ready[0], (text, ready[0])
    assert "runtimes require an API token (a random one made for this run;" in ready[0]
    # Every URL it names answers.
    for app in apps:
        for port, path in ((app["appPort"], "/"), (app["daprHTTPPort"], "/v1.0/healthz")):
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code < 300


def test_launched_runtimes_refuse_calls_without_the_runs_token(stack: LauncherProcess) -> None:
    apps = {app["appID"]: app for app in
            yaml.safe_load(Path(stack.option("--file")).read_text())["apps"]}
    children = supervised(stack.process.pid)
    tokens = {environment(children[label]).get("DAPR_API_TOKEN")
              for app_id in apps for label in (app_id, f"{app_id}:dapr")}
    [token] = tokens
    assert token and len(token) >= 43
    assert token not in stack.output
    for app in apps.values():
        url = f"http://127.0.0.1:{app['daprHTTPPort']}/v1.0/metadata"
        refused = httpx.get(url)
        # daprd's APITokenAuthMiddleware: 401, plain-text body.
        assert (refused.status_code, refused.text) == (401, "invalid api token\n")
        assert httpx.get(url, headers={"dapr-api-token": "wrong"}).status_code == 401
        answer = httpx.get(url, headers={"dapr-api-token": token})
        assert answer.status_code == 200 and answer.json()["id"] == app["appID"]


def test_grayscale_through_the_proxy(stack: LauncherProcess, seed_data: Path) -> None:
    answer = httpx.post(f"{stack.url}/api/grayscale/grayscale", headers={"Accept": "image/png"},
                        content=(seed_data / "food.jpg").read_bytes(), timeout=30)
    assert answer.status_code == 200, answer.text
    image = Image.open(io.BytesIO(answer.content))
    assert (image.format, image.mode) == ("PNG", "L")
    assert image.size == Image.open(seed_data / "food.jpg").size


def test_classify_and_events_through_the_proxy(stack: LauncherProcess, seed_data: Path) -> None:
    food = (seed_data / "food.jpg").read_bytes()
    answer = httpx.post(f"{stack.url}/api/classify/classify", content=food, timeout=30)
    assert answer.status_code == 200
    assert answer.text.startswith("hotdog is detected with ")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = httpx.get(f"{stack.url}/api/events/events?limit=1000").json()
        if any(r["op_type"] == "classify" and r["input_size"] == len(food) for r in rows):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no classify event recorded: {rows}")


def test_function_errors_pass_through_unchanged(stack: LauncherProcess) -> None:
    for body, status in ((b"not an image", 400), (b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", 415)):
        answer = httpx.post(f"{stack.url}/api/classify/classify", content=body)
        assert answer.status_code == status
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["error"]


def test_logs_are_prefixed_and_data_stays_in_the_run_folder(stack: LauncherProcess) -> None:
    lines = stack.lines
    # The apps say little on their own; the start-up failure test checks an app's prefix.
    for label in ("events-service:dapr", "image-api-classify:dapr", "image-api-grayscale:dapr"):
        assert any(line.startswith(f"[{label}]") for line in lines), label
    # The secrets files live outside the resources folders: no runtime warns about them.
    assert not [line for line in lines if "non-YAML" in line], stack.output
    # cwd of the launcher is the run folder; the embedded profile wrote its sqlite file there.
    registry = {p.name for p in Path(stack.option("--registry-dir")).glob("*.json")}
    assert registry == {"image-api-grayscale.json", "image-api-classify.json",
                        "events-service.json"}
    run_dir = Path(stack.option("--file")).parent
    assert (run_dir / ".data" / "events.db").is_file()


def test_services_profile_then_sigint_leaves_nothing(tmp_path: Path, seed_data: Path,
                                                     mysql_params: dict,
                                                     redis_client: object) -> None:
    launcher, run_file = start(tmp_path, profile="services")
    food = (seed_data / "food.jpg").read_bytes()
    try:
        launcher.wait_ready()
        before = grayscale_events(mysql_params, len(food))
        answer = httpx.post(f"{launcher.url}/api/grayscale/grayscale", content=food, timeout=30)
        assert answer.status_code == 200
        # The event is sent after the answer; the services profile writes it to MariaDB.
        deadline = time.monotonic() + 10
        while grayscale_events(mysql_params, len(food)) == before:
            assert time.monotonic() < deadline, "no grayscale event reached MariaDB"
            time.sleep(0.2)
        children = descendants(launcher.process.pid)
        # three runtimes, three functions-framework masters, and their gunicorn workers
        assert len(children) >= 6, children
    finally:
        code = launcher.stop(signal.SIGINT)
    assert code == 0, launcher.output
    assert "launcher: stopped" in launcher.output
    time.sleep(0.2)
    assert [pid for pid in children if alive(pid)] == []
    assert processes_mentioning(unique_args(run_file)) == []
    assert list((tmp_path / "registry").glob("*.json")) == []
    assert not (tmp_path / ".data" / "events.db").exists()


def test_a_taken_port_is_named_and_nothing_starts(tmp_path: Path) -> None:
    run_file, web_port = write_run_dir(tmp_path)
    taken = yaml.safe_load(run_file.read_text())["apps"][1]["appPort"]
    with socket.create_server(("127.0.0.1", taken)):
        launcher = LauncherProcess.start(["--file", str(run_file),
                                          "--registry-dir", str(tmp_path / "registry")],
                                         web_port, cwd=tmp_path)
        assert launcher.wait_exit() == 1
    assert f"port {taken} (appPort of image-api-classify)" in launcher.output
    assert not any(line.startswith("[") for line in launcher.lines), launcher.output

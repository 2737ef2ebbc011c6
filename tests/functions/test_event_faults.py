"""Events survive what stops under load: the database for 10 s, and the events function with its
runtime killed (SIGKILL) and started again. Every successful image request must become exactly
one row: none lost, none twice.

Each test runs its own MariaDB (a private ``mariadbd`` on a free port, its data in the test's
folder), so stopping it never touches the shared server. Events go as in the services profile:
published to Redis Streams, delivered to events-service under an inbound retry policy.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pymysql
import pytest
from PIL import Image

from sidecar.testing import free_port, run_sidecar

from .conftest import image_bytes
from .processes import start_function
from .stack import Stack, client_headers, start_stack

#: Requests per second of the load (light: the point is the faults, not the throughput).
_RATE = 15
_OUTAGE_SECONDS = 10


@dataclass
class PrivateMariaDB:
    """A throw-away MariaDB server: ``start``, ``stop`` (SIGTERM, as an operator would)."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"root:@tcp(127.0.0.1:{self.port})/test"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", f"--datadir={self.folder / 'data'}",
             "--user=root", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.folder / 'mysqld.sock'}", "--skip-grant-tables",
             f"--pid-file={self.folder / 'mysqld.pid'}", f"--log-error={self.folder / 'err.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root").close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        raise AssertionError(f"private MariaDB did not start:\n{self._log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)

    def query(self, sql: str) -> tuple:
        with pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                             database="test") as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()

    def _log(self) -> str:
        path = self.folder / "err.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _binary(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin"):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: the fault tests run a private MariaDB "
                    "(apt-get install mariadb-server)")
    return found


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    install = subprocess.run(
        [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={tmp_path / 'data'}",
         "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
        capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    server = PrivateMariaDB(tmp_path, free_port())
    server.start()
    with pymysql.connect(host="127.0.0.1", port=server.port, user="root") as conn, \
            conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE test")
    try:
        yield server
    finally:
        server.stop()


class _Load:
    """Grayscale requests at ``_RATE`` a second from a background thread, each from a client
    of its own (no rate limit), counting the answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._body = image_bytes(Image.new("RGB", (16, 16)), "PNG")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(1 / _RATE):
                try:
                    answer = client.post(f"{self.url}/grayscale", content=self._body,
                                         headers=client_headers())
                    self.statuses.append(answer.status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)

    @property
    def ok(self) -> int:
        return self.statuses.count(200)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def _start_events_again(exits: ExitStack, stack: Stack, folder: Path, workers: int) -> None:
    """events-service's runtime and function, started again where the other processes look for
    them (same ports, same app id, same registry); both stop when ``exits`` closes."""
    function, runtime = stack.functions["events"], stack.sidecars["events"]
    started = exits.enter_context(run_sidecar(
        stack.ids["events"], [folder / "components"], app_port=function.port,
        registry_dir=folder / "registry", http_port=runtime.http_port,
        grpc_port=runtime.grpc_port))
    restarted = start_function("events", folder, started.env, workers=workers, threads=4,
                               port=function.port)
    exits.callback(restarted.stop)


def _rows(db: PrivateMariaDB) -> tuple[int, int]:
    """(rows, distinct event ids) of the grayscale events."""
    try:
        found = db.query("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events "
                         "WHERE op_type = 'grayscale'")
    except pymysql.err.ProgrammingError:  # the table does not exist yet
        return 0, 0
    return int(found[0]), int(found[1])


def test_a_database_outage_under_load_loses_no_event_and_doubles_none(
        mariadb: PrivateMariaDB, tmp_path: Path, redis_client) -> None:
    with ExitStack() as exits:
        stack = start_stack(exits, tmp_path / "stack", names=("events", "grayscale"),
                            db_url=mariadb.url)
        with _Load(stack.url("grayscale")) as load:
            time.sleep(3)
            mariadb.stop()
            time.sleep(_OUTAGE_SECONDS)
            mariadb.start()
            time.sleep(3)
        assert load.ok > 100 and set(load.statuses) == {200}
        # The events of the outage arrive once the database is back (retries at most 1 s apart).
        _wait_for(lambda: _rows(mariadb)[0] >= load.ok, timeout=60)
        time.sleep(1)  # a duplicate would come about as fast
        rows, distinct = _rows(mariadb)
    print(f"\ndatabase outage of {_OUTAGE_SECONDS} s: {load.ok} answers, {rows} rows, "
          f"{distinct} distinct event ids")
    assert (rows, distinct) == (load.ok, load.ok)


def test_killing_the_events_function_and_its_runtime_loses_no_event(
        mariadb: PrivateMariaDB, tmp_path: Path, redis_client) -> None:
    folder = tmp_path / "stack"
    with ExitStack() as exits:
        stack = start_stack(exits, folder, names=("events", "grayscale"), db_url=mariadb.url)
        events_fn, events_rt = stack.functions["events"], stack.sidecars["events"]
        with _Load(stack.url("grayscale")) as load:
            time.sleep(3)
            events_fn.kill()
            events_rt.process.kill()
            events_rt.process.wait()
            time.sleep(3)
            _start_events_again(exits, stack, folder, workers=2)
            time.sleep(4)
        assert load.ok > 100 and set(load.statuses) == {200}
        # Events the killed runtime had read but not acknowledged are claimed again after the
        # stream's processingTimeout (3 s in the test stack).
        _wait_for(lambda: _rows(mariadb)[0] >= load.ok, timeout=60)
        time.sleep(1)
        rows, distinct = _rows(mariadb)
    print(f"\nevents function and runtime killed: {load.ok} answers, {rows} rows, "
          f"{distinct} distinct event ids")
    assert (rows, distinct) == (load.ok, load.ok)


def test_embedded_profile_events_service_down_10s_loses_nothing(tmp_path: Path) -> None:
    """The embedded profile's way: the broker is a SQLite file the runtimes share, the table a
    sqlite: URL. events-service and its runtime stop (SIGTERM, as a person would) for 10 s."""
    folder = tmp_path / "stack"
    db = folder / "events.db"
    with ExitStack() as exits:
        stack = start_stack(exits, folder, names=("events", "grayscale"),
                            db_url=f"sqlite:{db}", broker="sqlite")
        events_fn, events_rt = stack.functions["events"], stack.sidecars["events"]
        with _Load(stack.url("grayscale")) as load:
            time.sleep(2)
            events_fn.stop()
            events_rt.process.terminate()
            events_rt.process.wait(20)
            time.sleep(_OUTAGE_SECONDS)
            _start_events_again(exits, stack, folder, workers=1)
            time.sleep(2)
        assert load.ok > 100 and set(load.statuses) == {200}

        def rows() -> tuple[int, int]:
            with sqlite3.connect(db) as conn:
                found = conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events "
                                     "WHERE op_type = 'grayscale'").fetchone()
            return int(found[0]), int(found[1])
        _wait_for(lambda: rows()[0] >= load.ok, timeout=60)
        time.sleep(1)
        count, distinct = rows()
    print(f"\nembedded profile, events service down {_OUTAGE_SECONDS} s: {load.ok} answers, "
          f"{count} rows, {distinct} distinct event ids")
    assert (count, distinct) == (load.ok, load.ok)

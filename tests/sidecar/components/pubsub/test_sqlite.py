"""pubsub.local.sqlite: delivery, fan-out, load-balancing, redelivery, a SIGKILLed subscriber,
an outage, concurrent publishers and the retention sweep, on a real file shared by real
processes (``sqlite_peer.py`` is the second process)."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar.components.pubsub.base import Message, PublishRequest
from sidecar.components.pubsub.sqlite import SQLitePubSub
from sidecar.errors import ComponentConfigError, PubSubPublishError
from tests.conftest import REPO_ROOT

PEER = "tests.sidecar.components.pubsub.sqlite_peer"
TOPIC = "events"
Factory = Callable[..., SQLitePubSub]


class Inbox:
    """A handler that records every delivery; ``fail`` decides which ones raise."""

    def __init__(self, fail: Callable[[Message, int], bool] = lambda m, n: False) -> None:
        self.fail = fail
        self.messages: list[Message] = []
        self.times: dict[bytes, list[float]] = {}
        self.cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self.cond:
            self.messages.append(message)
            self.times.setdefault(message.data, []).append(time.monotonic())
            seen = len(self.times[message.data])
            self.cond.notify_all()
        if self.fail(message, seen):
            raise RuntimeError("handler failed")

    @property
    def data(self) -> list[bytes]:
        with self.cond:
            return [m.data for m in self.messages]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.data


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "broker.db"


@pytest.fixture
def broker(db: Path) -> Iterator[Factory]:
    made: list[SQLitePubSub] = []

    def make(group: str = "events-service", **metadata: str) -> SQLitePubSub:
        made.append(SQLitePubSub("pubsub", {"databasePath": str(db), "consumerID": group,
                                            **metadata}))
        return made[-1]

    yield make
    for component in made:
        component.close()


def _publish(component: SQLitePubSub, count: int, topic: str = TOPIC, prefix: str = "m") -> set:
    failed = component.bulk_publish([PublishRequest(topic, f"{prefix}-{i}".encode())
                                     for i in range(count)])
    assert not failed
    return {f"{prefix}-{i}".encode() for i in range(count)}


def _peer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", PEER, *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)


def _lines(path: Path, kind: str) -> list[str]:
    if not path.exists():
        return []
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines()
            if line.startswith(kind + " ")]


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _start_subscriber(db: Path, out: Path, *options: str) -> subprocess.Popen[str]:
    proc = _peer("subscribe", str(db), TOPIC, "events-service", str(out), *options)
    _wait(lambda: out.exists() and "ready" in out.read_text())
    return proc


def test_round_trip_keeps_data_content_type_and_metadata(broker: Factory, db: Path) -> None:
    component, inbox = broker(), Inbox()
    component.subscribe(TOPIC, inbox, {})
    component.publish(PublishRequest(TOPIC, b'{"a":1}', "application/cloudevents+json",
                                     {"traceparent": "00-1", "k": "v"}))
    assert inbox.wait_for(1) == [b'{"a":1}']
    message = inbox.messages[0]
    assert (message.topic, message.content_type, message.metadata) == (
        TOPIC, "application/cloudevents+json", {"traceparent": "00-1", "k": "v"})
    assert db.is_file()


def test_every_group_gets_every_message(broker: Factory) -> None:
    first, second = Inbox(), Inbox()
    broker("group-a").subscribe(TOPIC, first, {})
    broker("group-b").subscribe(TOPIC, second, {})
    sent = _publish(broker("publisher"), 50)
    assert sorted(first.wait_for(50)) == sorted(sent) == sorted(second.wait_for(50))


def test_processes_of_one_group_share_the_messages(broker: Factory, db: Path,
                                                   tmp_path: Path) -> None:
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    procs = [_start_subscriber(db, out, "--delay", "0.002") for out in outs]
    try:
        sent = _publish(broker("publisher"), 200)
        _wait(lambda: sum(len(_lines(o, "done")) for o in outs) >= 200)
        time.sleep(0.3)  # any duplicate would show up now
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    got = [set(_lines(out, "done")) for out in outs]
    assert got[0] and got[1], "both processes take a share"
    assert not got[0] & got[1], "each message goes to exactly one process of the group"
    assert {x.encode() for x in got[0] | got[1]} == sent


def test_raising_handler_gets_the_message_again_after_redeliver_interval(
        broker: Factory) -> None:
    inbox = Inbox(fail=lambda message, seen: seen == 1)
    broker(redeliverInterval="300ms", processingTimeout="500ms").subscribe(TOPIC, inbox, {})
    sent = _publish(broker("publisher"), 3)
    inbox.wait_for(6)
    time.sleep(1.2)  # past processingTimeout: an acknowledged message must not come back
    assert sorted(inbox.data) == sorted([*sent, *sent])
    for first, second in inbox.times.values():
        assert second - first >= 0.25


def test_killed_subscriber_loses_nothing(broker: Factory, db: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL mid-stream: one handler blocked, three others busy. A new subscriber of the
    group gets every message the dead one had not finished."""
    sent = {x.decode() for x in _publish(broker("publisher"), 400)}
    out = tmp_path / "killed.txt"
    proc = _start_subscriber(db, out, "--concurrency", "4", "--processing-timeout", "1s",
                             "--delay", "0.01", "--block-at", "100")
    _wait(lambda: len(_lines(out, "done")) >= 150)
    proc.kill()
    proc.wait(10)
    started, done = set(_lines(out, "start")), set(_lines(out, "done"))
    assert len(done) < len(sent), "killed before the end"
    inbox = Inbox()
    broker(processingTimeout="1s").subscribe(TOPIC, inbox, {})
    _wait(lambda: done | {x.decode() for x in inbox.data} >= sent, timeout=15)
    time.sleep(0.3)
    handled = [x.decode() for x in inbox.data]
    lost = sent - done - set(handled)
    duplicates = done & set(handled)
    in_flight = started - done
    with capsys.disabled():
        print(f"\n[crash] published={len(sent)} done-before-kill={len(done)} "
              f"in-flight-at-kill={len(in_flight)} handled-after={len(handled)} "
              f"lost={len(lost)} duplicates={len(duplicates)}")
    assert not lost
    assert len(handled) == len(set(handled))
    assert in_flight <= set(handled), "blocked messages are redelivered"
    # Only leased, unacknowledged messages come again: at most one per handler thread.
    assert len(duplicates | in_flight) <= 4


def test_outage_messages_wait_for_the_subscriber(broker: Factory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """events-service is down: 200 messages wait, for its group and for a group that never
    subscribed before (created at the beginning of what is retained)."""
    broker().subscribe(TOPIC, Inbox(), {}).close()
    sent = _publish(broker("publisher"), 200)
    time.sleep(1.0)
    back, late = Inbox(), Inbox()
    broker().subscribe(TOPIC, back, {})
    broker("late-group").subscribe(TOPIC, late, {})
    back.wait_for(200)
    late.wait_for(200)
    time.sleep(0.2)
    lost, duplicates = sent - set(back.data), len(back.data) - len(set(back.data))
    with capsys.disabled():
        print(f"\n[outage] published={len(sent)} handled={len(back.data)} "
              f"lost={len(lost)} duplicates={duplicates}")
    assert sorted(back.data) == sorted(sent) == sorted(late.data)


def test_two_publisher_processes_lose_nothing(broker: Factory, db: Path,
                                              tmp_path: Path) -> None:
    inbox = Inbox()
    broker().subscribe(TOPIC, inbox, {})
    go = tmp_path / "go"
    procs = [_peer("publish", str(db), TOPIC, prefix, "300", str(go)) for prefix in "pq"]
    time.sleep(0.3)
    go.touch()
    for proc in procs:
        stdout, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "published 300" in stdout
    expected = {f"{p}-{i}".encode() for p in "pq" for i in range(300)}
    assert sorted(inbox.wait_for(600)) == sorted(expected)


def test_sweep_deletes_only_old_acknowledged_messages(broker: Factory, db: Path) -> None:
    def odd(message: Message, seen: int) -> bool:
        return message.data.endswith((b"1", b"3", b"5", b"7", b"9"))

    broker("idle-group").subscribe("other", Inbox(), {}).close()  # a group that never reads
    inbox = Inbox(fail=odd)
    component = broker(retention="2s", redeliverInterval="1h")
    component.subscribe(TOPIC, inbox, {})
    component.subscribe("other", Inbox(), {})
    publisher = broker("publisher")
    _publish(publisher, 10)
    _publish(publisher, 2, topic="other")
    _publish(publisher, 2, topic="no-group")
    inbox.wait_for(10)

    def remaining() -> set[str]:
        with sqlite3.connect(db) as conn:
            return {f"{t}/{d.decode()}" for t, d in conn.execute(
                "SELECT topic, data FROM pubsub_messages")}

    _wait(lambda: "events/m-0" not in remaining(), timeout=10)
    young = _publish(publisher, 2, prefix="young")
    inbox.wait_for(12)
    time.sleep(1.1)  # one more sweep, the young ones still inside retention
    assert remaining() == {f"events/m-{i}" for i in range(1, 10, 2)} | {
        f"events/{y.decode()}" for y in young} | {"other/m-0", "other/m-1",
                                                  "no-group/m-0", "no-group/m-1"}


def test_max_len_keeps_the_newest(broker: Factory) -> None:
    _publish(broker("publisher", maxLen="5"), 12)
    inbox = Inbox()
    broker().subscribe(TOPIC, inbox, {})
    assert sorted(inbox.wait_for(5)) == sorted(f"m-{i}".encode() for i in range(7, 12))


def test_locked_database_is_logged_once_and_retried(broker: Factory, db: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    publisher = broker("publisher")
    publisher.publish(PublishRequest(TOPIC, b"waiting"))
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    inbox = Inbox()
    with caplog.at_level(logging.WARNING, "sidecar.components.pubsub.sqlite"):
        subscription = broker().subscribe(TOPIC, inbox, {})
        time.sleep(2.5)
        assert not inbox.data
        locker.execute("COMMIT")
        locker.close()
        assert inbox.wait_for(1) == [b"waiting"]
    warnings = [r for r in caplog.records if "locked" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    publisher.publish(PublishRequest(TOPIC, b"after"))
    assert inbox.wait_for(2) == [b"waiting", b"after"]
    subscription.close()


def test_publish_after_close_is_a_publish_error(broker: Factory) -> None:
    component = broker()
    component.close()
    with pytest.raises(PubSubPublishError) as caught:
        component.publish(PublishRequest(TOPIC, b"x"))
    assert (caught.value.code, caught.value.http_status, caught.value.grpc_status.name) == (
        "ERR_PUBSUB_PUBLISH_MESSAGE", 500, "INTERNAL")
    assert component.bulk_publish([PublishRequest(TOPIC, b"x")] * 2)[1][0] == 1


@pytest.mark.parametrize(("metadata", "message"), [
    ({"consumerID": ""}, "missing consumerID"),
    ({"processingTimeout": "soon"}, "'processingTimeout' must be a duration"),
    ({"concurrency": "0"}, "'concurrency' must be above 0"),
    ({"databasePath": ":memory:"}, "'databasePath' must name a file"),
])
def test_bad_metadata_is_a_config_error(broker: Factory, metadata: dict[str, str],
                                        message: str) -> None:
    with pytest.raises(ComponentConfigError, match=message):
        broker(**metadata)


def test_a_file_that_is_no_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(ComponentConfigError, match="cannot open the database"):
        SQLitePubSub("pubsub", {"databasePath": str(path), "consumerID": "g"})

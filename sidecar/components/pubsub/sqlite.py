"""``pubsub.local.sqlite`` (local-only, not in components-contrib): a durable broker in one
SQLite file that several runtime processes share, with Redis Streams' semantics.

Tables: ``pubsub_messages`` (the stream of every topic, ids increase in commit order),
``pubsub_groups`` (one row per topic and consumer group: the last id handed out, Redis'
last-delivered-id) and ``pubsub_pending`` (leased, not yet acknowledged messages, Redis' PEL).

- publish appends a row; every group of the topic gets every message (fan-out), and within a
  group each message is leased to one consumer at a time (load-balancing across processes).
- A group is created at the first subscription with its cursor at 0, so it starts at the
  beginning of what is retained (components-contrib creates its Redis group at "0").
- Claims run in ``BEGIN IMMEDIATE`` transactions, atomic across processes: first leases that
  expired, then new messages after the cursor, at most one per free handler thread.
- A handler returning deletes the lease (acknowledged); raising makes the message due again
  after ``redeliverInterval``; a consumer that dies leaves leases that expire after
  ``processingTimeout`` and go to whichever consumer of the group claims next.
- A message is deleted by the periodic sweep once it is older than ``retention`` and every group
  of its topic has acknowledged it; ``maxLen`` trims a topic's oldest messages, acknowledged or
  not, as XADD MAXLEN does.

Metadata: databasePath (required; relative to the working directory), consumerID (the group;
daprd's default is the app id), processingTimeout (60s), redeliverInterval (2s), concurrency
(10 handler threads per subscription), pollInterval (50ms), retention (24h), maxLen (none).
Durations are Go durations, or whole milliseconds as pubsub.redis reads them.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ...errors import ComponentConfigError, PubSubPublishError
from ..go_values import parse_go_duration
from .base import Handler, Message, PublishRequest, PubSub, Subscription

__all__ = ["SQLitePubSub"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pubsub_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, data BLOB NOT NULL,
  content_type TEXT NOT NULL, metadata TEXT NOT NULL, published_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS pubsub_messages_topic ON pubsub_messages (topic, id);
CREATE INDEX IF NOT EXISTS pubsub_messages_age ON pubsub_messages (published_at);
CREATE TABLE IF NOT EXISTS pubsub_groups (
  topic TEXT NOT NULL, grp TEXT NOT NULL, cursor INTEGER NOT NULL, PRIMARY KEY (topic, grp));
CREATE TABLE IF NOT EXISTS pubsub_pending (
  topic TEXT NOT NULL, grp TEXT NOT NULL, message_id INTEGER NOT NULL, consumer TEXT NOT NULL,
  lease_until REAL NOT NULL, deliveries INTEGER NOT NULL, PRIMARY KEY (grp, message_id));
CREATE INDEX IF NOT EXISTS pubsub_pending_due ON pubsub_pending (topic, grp, lease_until);
"""
_INSERT = ("INSERT INTO pubsub_messages (topic, data, content_type, metadata, published_at) "
           "VALUES (?, ?, ?, ?, ?)")
_TRIM = ("DELETE FROM pubsub_messages WHERE topic = ? AND id <= (SELECT id FROM pubsub_messages "
         "WHERE topic = ? ORDER BY id DESC LIMIT 1 OFFSET ?)")
_HAS_WORK = """
SELECT EXISTS (SELECT 1 FROM pubsub_groups g JOIN pubsub_messages m
               ON m.topic = g.topic AND m.id > g.cursor WHERE g.topic = ? AND g.grp = ?)
    OR EXISTS (SELECT 1 FROM pubsub_pending WHERE topic = ? AND grp = ? AND lease_until <= ?)
"""
_DUE = """
SELECT p.message_id, m.id, m.data, m.content_type, m.metadata FROM pubsub_pending p
LEFT JOIN pubsub_messages m ON m.id = p.message_id
WHERE p.topic = ? AND p.grp = ? AND p.lease_until <= ? ORDER BY p.message_id LIMIT ?
"""
_NEW = """
SELECT m.id, m.id, m.data, m.content_type, m.metadata FROM pubsub_messages m
JOIN pubsub_groups g ON g.topic = m.topic AND g.grp = ?
WHERE m.topic = ? AND m.id > g.cursor ORDER BY m.id LIMIT ?
"""
# Old enough, and every group of the topic got past it and holds no lease on it.
_SWEEP = """
DELETE FROM pubsub_messages WHERE published_at < ?
  AND EXISTS (SELECT 1 FROM pubsub_groups g WHERE g.topic = pubsub_messages.topic)
  AND NOT EXISTS (SELECT 1 FROM pubsub_groups g
                  WHERE g.topic = pubsub_messages.topic AND g.cursor < pubsub_messages.id)
  AND NOT EXISTS (SELECT 1 FROM pubsub_pending p WHERE p.message_id = pubsub_messages.id)
"""
#: Seconds a publish waits for another process's write transaction (busy timeout).
_PUBLISH_BUSY_TIMEOUT = 5.0
#: Seconds a subscriber waits for the lock before it logs and retries.
_POLL_BUSY_TIMEOUT = 1.0
#: While the database keeps failing, a subscriber logs at most once per this many seconds.
_ERROR_LOG_INTERVAL = 10.0
#: Longest pause between retries of a failing subscriber.
_MAX_BACKOFF = 1.0
#: At close, how long in-flight handlers may finish so that their results are recorded.
_CLOSE_GRACE = 1.0
_MAX_SWEEP_INTERVAL = 60.0


@dataclass(frozen=True)
class _Options:
    path: Path
    consumer_id: str
    processing_timeout: float
    redeliver_interval: float
    concurrency: int
    poll_interval: float
    retention: float
    max_len: int


def _duration(name: str, metadata: Mapping[str, str], key: str, default: float) -> float:
    """Seconds: a Go duration ("30s") or whole milliseconds, as pubsub.redis parses them."""
    value = (metadata.get(key) or "").strip()
    if not value:
        return default
    if value.isdigit():
        return int(value) / 1000
    try:
        seconds = parse_go_duration(value) / 1e9
    except ValueError:
        raise ComponentConfigError(f"component {name!r}: metadata {key!r} must be a duration "
                                   f"such as '30s' (or milliseconds), got {value!r}") from None
    if seconds < 0:
        raise ComponentConfigError(f"component {name!r}: metadata {key!r} must not be negative")
    return seconds


def _count(name: str, metadata: Mapping[str, str], key: str, default: int) -> int:
    value = (metadata.get(key) or "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ComponentConfigError(f"component {name!r}: metadata {key!r} must be a whole "
                                   f"number, got {value!r}")
    return int(value)


def _options(name: str, metadata: Mapping[str, str]) -> _Options:
    raw_path = (metadata.get("databasePath") or "").strip()
    if not raw_path or raw_path == ":memory:":
        raise ComponentConfigError(f"component {name!r}: metadata 'databasePath' must name a "
                                   f"file that the runtimes share, got {raw_path!r}")
    consumer_id = (metadata.get("consumerID") or "").strip()
    if not consumer_id:
        raise ComponentConfigError(f"component {name!r}: missing consumerID (the consumer "
                                   "group; daprd fills it with the app id)")
    options = _Options(
        path=Path(raw_path).expanduser().absolute(), consumer_id=consumer_id,
        processing_timeout=_duration(name, metadata, "processingTimeout", 60.0),
        redeliver_interval=_duration(name, metadata, "redeliverInterval", 2.0),
        concurrency=_count(name, metadata, "concurrency", 10),
        poll_interval=_duration(name, metadata, "pollInterval", 0.05),
        retention=_duration(name, metadata, "retention", 24 * 3600.0),
        max_len=_count(name, metadata, "maxLen", 0))
    for key, value in (("processingTimeout", options.processing_timeout),
                       ("concurrency", options.concurrency),
                       ("pollInterval", options.poll_interval)):
        if not value:
            raise ComponentConfigError(f"component {name!r}: metadata {key!r} must be above 0")
    return options


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit) in WAL mode."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the database's write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLitePubSub(PubSub):
    """Dapr type ``pubsub.local.sqlite`` (local-only; see the module docstring for metadata)."""

    type_name: ClassVar[str] = "pubsub.local.sqlite"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"databasePath"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset({
        "consumerID", "processingTimeout", "redeliverInterval", "concurrency", "pollInterval",
        "retention", "maxLen",
    })

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self.options = _options(name, metadata)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._subscriptions: list[_SQLiteSubscription] = []
        self._next_sweep = 0.0
        try:
            self.options.path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(self.options.path, _PUBLISH_BUSY_TIMEOUT)
            try:
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as err:
            raise ComponentConfigError(f"component {name!r}: cannot open the database "
                                       f"{self.options.path}: {err}") from err

    def publish(self, request: PublishRequest) -> None:
        failed = self.bulk_publish([request])
        if failed:
            raise PubSubPublishError(failed[0][1])

    def bulk_publish(self, requests: Sequence[PublishRequest]) -> list[tuple[int, str]]:
        """All in one transaction: every entry is stored, or every entry fails."""
        try:
            with self._connection() as conn, _immediate(conn):
                now = time.time()
                for request in requests:
                    conn.execute(_INSERT, (request.topic, request.data, request.content_type,
                                           json.dumps(request.metadata), now))
                if self.options.max_len:
                    for topic in {r.topic for r in requests}:
                        conn.execute(_TRIM, (topic, topic, self.options.max_len))
        except (sqlite3.Error, OSError, PubSubPublishError) as err:
            message = (err.message if isinstance(err, PubSubPublishError) else
                       f"pubsub {self.name!r}: error from publish to {self.options.path}: {err}")
            return [(index, message) for index in range(len(requests))]
        return []

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A pooled publishing connection; one that failed is closed, not reused."""
        if self._closed:
            raise PubSubPublishError(f"pubsub {self.name!r}: component is closed")
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = _connect(self.options.path, _PUBLISH_BUSY_TIMEOUT)
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        if self._closed:
            conn.close()
        else:
            self._idle.put(conn)

    def subscribe(self, topic: str, handler: Handler,
                  metadata: Mapping[str, str]) -> Subscription:
        """Deliver ``topic`` to ``handler``; subscription metadata is accepted and unused."""
        with self._lock:
            if self._closed:
                raise PubSubPublishError(f"pubsub {self.name!r}: component is closed")
            subscription = _SQLiteSubscription(self, topic, handler)
            self._subscriptions.append(subscription)
        return subscription

    def maybe_sweep(self, conn: sqlite3.Connection) -> None:
        """Delete old acknowledged messages when the sweep is due (from a subscriber loop)."""
        now = time.time()
        with self._lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + min(max(self.options.retention / 2,
                                             self.options.poll_interval), _MAX_SWEEP_INTERVAL)
        with _immediate(conn):
            deleted = conn.execute(_SWEEP, (now - self.options.retention,)).rowcount
        if deleted:
            _log.debug("pubsub %s: swept %d acknowledged messages", self.name, deleted)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break


@dataclass(frozen=True)
class _Delivery:
    message_id: int
    message: Message


class _FailureLog:
    """Logs a failing database once, then at most once per ``_ERROR_LOG_INTERVAL``."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self.next_log = 0.0

    def failed(self, err: BaseException) -> float:
        """Record one failure; returns the pause before the next attempt."""
        self.failures += 1
        now = time.monotonic()
        if now >= self.next_log:
            _log.warning("%s: %s: %s (retrying; %d failures so far)", self.what,
                         type(err).__name__, err, self.failures)
            self.next_log = now + _ERROR_LOG_INTERVAL
        return min(_MAX_BACKOFF, 0.05 * 2 ** min(self.failures, 5))

    def succeeded(self) -> None:
        if self.failures:
            _log.info("%s: database usable again after %d failures", self.what, self.failures)
        self.failures, self.next_log = 0, 0.0


class _SQLiteSubscription(Subscription):
    """One topic for one consumer group: a claiming thread plus ``concurrency`` handler threads.

    Only the claiming thread writes: handler threads queue (message id, ok) and the next claim
    transaction records those acknowledgements, so a busy subscriber commits once per batch.
    """

    def __init__(self, component: SQLitePubSub, topic: str, handler: Handler) -> None:
        self.component, self.options, self.topic = component, component.options, topic
        self.handler = handler
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()
        self.work: queue.Queue[_Delivery | None] = queue.Queue()
        self.results: queue.Queue[tuple[int, bool]] = queue.Queue()
        self.unsettled: list[tuple[int, bool]] = []
        self.in_flight = 0
        self.conn: sqlite3.Connection | None = None
        self.failures = _FailureLog(f"pubsub {component.name!r} topic {topic!r}")
        self.threads = [threading.Thread(target=self._handle_loop, daemon=True,
                                         name=f"pubsub-{topic}-handler-{i}")
                        for i in range(self.options.concurrency)]
        self.poller = threading.Thread(target=self._poll_loop, daemon=True,
                                       name=f"pubsub-{topic}-claims")
        try:  # the group exists once subscribe returns; if not yet, the claiming thread retries
            self._connection()
        except (sqlite3.Error, OSError) as err:
            self._drop_connection()
            self.failures.failed(err)
        for thread in [*self.threads, self.poller]:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.poller is not threading.current_thread():
            self.poller.join(_CLOSE_GRACE + _POLL_BUSY_TIMEOUT + 1)

    def _handle_loop(self) -> None:
        while (delivery := self.work.get()) is not None:
            try:
                self.handler(delivery.message)
                ok = True
            except Exception as err:  # noqa: BLE001 - any failure means: deliver it again
                _log.warning("pubsub %s: handler failed for message %d on %s, redelivering "
                             "in %.1fs: %s", self.component.name, delivery.message_id,
                             self.topic, self.options.redeliver_interval, err)
                ok = False
            self.results.put((delivery.message_id, ok))

    def _poll_loop(self) -> None:
        """Never ends before ``close``: database errors are logged and retried."""
        busy = True
        while not self.stop.is_set():
            try:
                busy = self._step(wait=not busy)
                self.failures.succeeded()
            except Exception as err:  # noqa: BLE001 - the subscriber must outlive any error
                self._drop_connection()
                self.stop.wait(self.failures.failed(err))
        self._finish()

    def _connection(self) -> sqlite3.Connection:
        """The claiming connection; opening it creates the group at cursor 0 if missing: the
        beginning of what is retained, as components-contrib's XGROUP CREATE ... 0."""
        if self.conn is None:
            conn = _connect(self.options.path, _POLL_BUSY_TIMEOUT)
            try:  # the file may have been replaced since start-up
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO pubsub_groups (topic, grp, cursor) "
                             "VALUES (?, ?, 0)", (self.topic, self.options.consumer_id))
            except BaseException:
                conn.close()
                raise
            self.conn = conn
        return self.conn

    def _drop_connection(self) -> None:
        if self.conn is not None:
            with suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def _collect(self, timeout: float) -> None:
        """Move finished handlers' results to ``unsettled``, waiting up to ``timeout``."""
        try:
            self.unsettled.append(self.results.get(timeout=timeout) if timeout > 0
                                  else self.results.get_nowait())
        except queue.Empty:
            return
        while True:
            try:
                self.unsettled.append(self.results.get_nowait())
            except queue.Empty:
                return

    def _step(self, wait: bool) -> bool:
        """Record results and claim what free threads can take; True when it claimed a full
        batch (more may be waiting)."""
        self._collect(self.options.poll_interval if wait else 0)
        free = self.options.concurrency - self.in_flight + len(self.unsettled)
        conn = self._connection()
        group = (self.topic, self.options.consumer_id)
        if not self.unsettled and not (
                free and conn.execute(_HAS_WORK, (*group, *group, time.time())).fetchone()[0]):
            self.component.maybe_sweep(conn)
            return False
        with _immediate(conn):
            self._settle(conn)
            claimed = self._claim(conn, free) if free and not self.stop.is_set() else []
        self.in_flight -= len(self.unsettled)
        self.unsettled.clear()
        self.in_flight += len(claimed)
        for delivery in claimed:
            self.work.put(delivery)
        return bool(claimed) and len(claimed) == free

    def _settle(self, conn: sqlite3.Connection) -> None:
        group = self.options.consumer_id
        acked = [(group, mid) for mid, ok in self.unsettled if ok]
        conn.executemany("DELETE FROM pubsub_pending WHERE grp = ? AND message_id = ?", acked)
        due = time.time() + self.options.redeliver_interval
        conn.executemany(
            "UPDATE pubsub_pending SET lease_until = ? WHERE grp = ? AND message_id = ? "
            "AND consumer = ?",
            [(due, group, mid, self.consumer) for mid, ok in self.unsettled if not ok])

    def _claim(self, conn: sqlite3.Connection, limit: int) -> list[_Delivery]:
        now, group = time.time(), self.options.consumer_id
        lease_until = now + self.options.processing_timeout
        rows = conn.execute(_DUE, (self.topic, group, now, limit)).fetchall()
        gone = [(group, row[0]) for row in rows if row[1] is None]
        conn.executemany("DELETE FROM pubsub_pending WHERE grp = ? AND message_id = ?", gone)
        rows = [row for row in rows if row[1] is not None]
        conn.executemany(
            "UPDATE pubsub_pending SET consumer = ?, lease_until = ?, deliveries = deliveries + 1 "
            "WHERE grp = ? AND message_id = ?",
            [(self.consumer, lease_until, group, row[0]) for row in rows])
        new = conn.execute(_NEW, (group, self.topic, limit - len(rows))).fetchall()
        if new:
            conn.executemany(
                "INSERT INTO pubsub_pending (topic, grp, message_id, consumer, lease_until, "
                "deliveries) VALUES (?, ?, ?, ?, ?, 1)",
                [(self.topic, group, row[0], self.consumer, lease_until) for row in new])
            conn.execute("UPDATE pubsub_groups SET cursor = ? WHERE topic = ? AND grp = ?",
                         (new[-1][0], self.topic, group))
        return [_Delivery(row[0], Message(topic=self.topic, data=bytes(row[2]),
                                          content_type=row[3], metadata=json.loads(row[4])))
                for row in [*rows, *new]]

    def _finish(self) -> None:
        """Give in-flight handlers a moment, record their results, stop the threads."""
        deadline = time.monotonic() + _CLOSE_GRACE
        while self.in_flight > len(self.unsettled) and time.monotonic() < deadline:
            self._collect(0.05)
        if self.unsettled:
            try:
                conn = self._connection()
                with _immediate(conn):
                    self._settle(conn)
            except (sqlite3.Error, OSError) as err:
                _log.warning("pubsub %s: results of %d messages not recorded at close, they "
                             "will be redelivered: %s", self.component.name,
                             len(self.unsettled), err)
        self._drop_connection()
        for _ in self.threads:
            self.work.put(None)

"""Recording each successful image request as an event, without ever delaying the answer and
without losing the event when something downstream is down.

Each event gets a unique id when it is recorded (``event_id``, a UUID). A background thread
sends events in batches: it waits for one; if it sent less than SEND_INTERVAL_SECONDS ago, it
waits until that much time has passed (or BATCH_SIZE are queued); then it takes whatever else is
queued (up to BATCH_SIZE). After a quiet spell an event goes at once; under load events go
about ten batches a second instead of one call per event or two.

When the sidecar has the pub/sub component EVENTS_PUBSUB, the batch is published to topic
EVENTS_TOPIC in one bulk publish, each event's id as its CloudEvent id; the broker keeps it
until events-service has stored it, and events-service stores an id once, so a redelivery
never makes a second row. Without that component (the seed's own components) the batch goes
to ``create_event`` on EVENTS_APP_ID by service invocation, the ids in the events.

A batch that could not be sent (the sidecar, the broker or events-service down) is sent again,
with back-off up to RETRY_MAX_SECONDS, until it goes: nothing is dropped for a failure. One
warning line says so when it starts failing and one line when it recovers; in between, one
line per RETRY_LOG_SECONDS with the count. Events wait in a bounded queue (EVENT_QUEUE_SIZE);
only when it is full, after a long outage, is an event dropped and counted. What is lost on a
crash of this process is the queue (under load, at most about SEND_INTERVAL_SECONDS of events).

The worker thread starts on first use, in the serving process (threads do not survive
gunicorn's fork).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from typing import Any

import flask

from .. import settings
from ._sdk import BulkPublishEntry
from .client import SidecarUnavailable, component_names, deadline, get_client

__all__ = ["BATCH_SIZE", "RETRY_LOG_SECONDS", "RETRY_MAX_SECONDS", "SEND_INTERVAL_SECONDS",
           "Recorder", "record", "record_after", "recorder", "reset"]

_log = logging.getLogger(__name__)

#: Most events sent at once (the events service takes up to 1000 per request).
BATCH_SIZE = 100
#: Longest wait between two tries of a batch that could not be sent.
RETRY_MAX_SECONDS = 5.0
#: How often a failure that goes on is logged (one line with the count).
RETRY_LOG_SECONDS = 30.0
_RETRY_FIRST_SECONDS = 0.2
#: How often an idle sender checks whether it is stopping.
_STOP_POLL_SECONDS = 0.5
#: Least time from one send to the next: under load, what arrives meanwhile goes as one batch
#: instead of one call per event or two; an event after a quiet spell still goes at once.
SEND_INTERVAL_SECONDS = 0.1


class Recorder:
    """A bounded queue of events and the one thread that sends them."""

    def __init__(self, queue_size: int) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self.submitted = 0
        self.sent = 0
        self.dropped = 0
        #: Tries that failed (each is tried again).
        self.failures = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_send = -SEND_INTERVAL_SECONDS

    def submit(self, event: dict[str, Any]) -> None:
        self.submitted += 1
        self._ensure_thread()
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            _log.warning("events queue full (%d waiting while events cannot be sent): "
                         "dropped event %s", self.queue.maxsize, event.get("event_id"))

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop the sending thread (what is still queued or being retried stays unsent)."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self._send_until_sent(batch)
                for _ in batch:
                    self.queue.task_done()

    def _send_until_sent(self, batch: list[dict[str, Any]]) -> None:
        """Send ``batch``; what fails is tried again with back-off until it is sent."""
        pending, delay = batch, _RETRY_FIRST_SECONDS
        failing_since: float | None = None
        last_log = 0.0
        while True:
            try:
                pending = self._send(pending)
                error: object = "some events were refused"
            # Any failure (sidecar, broker, events service): the batch is kept and tried again.
            except Exception as err:  # noqa: BLE001
                error = err
            if not pending:
                break
            self.failures += 1
            now = time.monotonic()
            if failing_since is None:
                failing_since = now
                _log.warning("could not record %d event(s), trying again until they go: %s",
                             len(pending), error)
                last_log = now
            elif now - last_log >= RETRY_LOG_SECONDS:
                _log.warning("still cannot record %d event(s) after %.0f s (%d more waiting): "
                             "%s", len(pending), now - failing_since, self.queue.qsize(), error)
                last_log = now
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RETRY_MAX_SECONDS)
        self.sent += len(batch)
        if failing_since is not None:
            _log.warning("recorded %d event(s) after %.1f s of failures", len(batch),
                         time.monotonic() - failing_since)

    def _next_batch(self) -> list[dict[str, Any]]:
        """Wait for one event, then add what is already queued, up to BATCH_SIZE in all;
        empty when stopping."""
        while True:
            try:
                batch = [self.queue.get(timeout=_STOP_POLL_SECONDS)]
                break
            except queue.Empty:
                if self._stopping.is_set():
                    return []
        wait = self._last_send + SEND_INTERVAL_SECONDS - time.monotonic()
        if wait > 0 and self.queue.qsize() < BATCH_SIZE - 1 and self._stopping.wait(wait):
            return batch
        self._last_send = time.monotonic()
        while len(batch) < BATCH_SIZE:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _send(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``batch`` once; the events that did not go (an exception: none went)."""
        config = settings.get()
        client = get_client()
        names = component_names()
        if names is None:  # not known yet: the way events go is not decided, so wait
            raise SidecarUnavailable("the sidecar's components are not known yet")
        # Bounded through the channel's deadline, as every other sidecar call is (the SDK's
        # own ``timeout`` argument is typed as whole seconds).
        with deadline(config.event_timeout_seconds):
            if config.events_pubsub in names:
                return _publish(client, config, batch)
            client.invoke_method(config.events_app_id, "create_event",
                                 data=json.dumps(batch), content_type="application/json",
                                 http_verb="POST")
        return []


def _publish(client: Any, config: settings.Settings,
             batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk-publish ``batch``, each event's id as its CloudEvent id; the events not taken."""
    entries = [BulkPublishEntry(
        event=json.dumps({k: v for k, v in event.items() if k != "event_id"}),
        entry_id=str(index), content_type="application/json",
        metadata={"cloudevent.id": event["event_id"]}) for index, event in enumerate(batch)]
    response = client.publish_events(config.events_pubsub, config.events_topic, entries,
                                     data_content_type="application/json")
    failed = {entry.entry_id for entry in response.failed_entries}
    return [event for index, event in enumerate(batch) if str(index) in failed]


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def recorder() -> Recorder:
    """The process's recorder, created on first use."""
    global _recorder
    with _recorder_lock:
        if _recorder is None:
            _recorder = Recorder(settings.get().event_queue_size)
        return _recorder


def _event(op_type: str, input_size: int) -> dict[str, Any]:
    """A new event: its unique id, the time (ms), what was done and to how many bytes."""
    return {"event_id": uuid.uuid4().hex, "event_ts": int(time.time() * 1000),
            "op_type": op_type, "input_size": input_size}


def record(op_type: str, input_size: int) -> None:
    """Queue ``{event_id, event_ts, op_type, input_size}`` to be sent; returns at once."""
    recorder().submit(_event(op_type, input_size))


def record_after(response: flask.Response, op_type: str, input_size: int) -> flask.Response:
    """Record the event once ``response`` has been sent (its timestamp: the request's end).

    Why after: the sender thread then does not compete with sending the answer.
    """
    event = _event(op_type, input_size)
    response.call_on_close(lambda: recorder().submit(event))
    return response


def reset() -> None:
    """Stop and forget the process's recorder (between tests; the next event makes a new one)."""
    global _recorder
    with _recorder_lock:
        if _recorder is not None:
            _recorder.stop()
        _recorder = None


def _forget_after_fork() -> None:
    global _recorder
    _recorder = None  # its thread did not survive the fork


os.register_at_fork(after_in_child=_forget_after_fork)

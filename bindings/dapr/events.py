"""Best-effort event recording: each successful image request is reported to the events
service (``invoke_method(EVENTS_APP_ID, "create_event")``) from a background thread.

The thread sends in batches: it waits for one event, then takes whatever else is already
queued (up to BATCH_SIZE) and sends them all as one JSON array in one invocation, which the
events service inserts with one statement. Under load that turns N invocations, N HTTP
requests to the events app and N binding calls into one of each; when idle, an event still
goes out alone and at once (nothing waits to fill a batch).

The answer never waits for it. Events wait in a bounded queue (EVENT_QUEUE_SIZE); when it is
full the event is dropped and logged rather than letting memory grow while the events service
is slow. Each call is bounded by EVENT_TIMEOUT_SECONDS. The worker thread starts on first use,
in the serving process (threads do not survive gunicorn's fork).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Any

import flask

from .. import settings
from .client import deadline, get_client

__all__ = ["BATCH_SIZE", "Recorder", "record", "record_after", "recorder"]

_log = logging.getLogger(__name__)

#: Most events sent in one invocation (the events service takes up to 1000 per request).
BATCH_SIZE = 100


class Recorder:
    """A bounded queue of events and the one thread that sends them."""

    def __init__(self, queue_size: int) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, event: dict[str, Any]) -> None:
        self._ensure_thread()
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            _log.warning("events queue full, dropped event %s", event)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._send(batch)
                self.sent += len(batch)
            # Any failure: log it and move on to the next events (the thread must live on).
            except Exception as err:  # noqa: BLE001
                self.failed += len(batch)
                _log.warning("could not record %d event(s), the first %s: %s", len(batch),
                            batch[0], err)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _next_batch(self) -> list[dict[str, Any]]:
        """Block for one event, then add what is already queued, up to BATCH_SIZE in all."""
        batch = [self.queue.get()]
        while len(batch) < BATCH_SIZE:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _send(self, batch: list[dict[str, Any]]) -> None:
        config = settings.get()
        client = get_client()
        # Bounded through the channel's deadline, as every other sidecar call is (the SDK's
        # own ``timeout`` argument is typed as whole seconds).
        with deadline(config.event_timeout_seconds):
            client.invoke_method(config.events_app_id, "create_event",
                                 data=json.dumps(batch), content_type="application/json",
                                 http_verb="POST")


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def recorder() -> Recorder:
    """The process's recorder, created on first use."""
    global _recorder
    with _recorder_lock:
        if _recorder is None:
            _recorder = Recorder(settings.get().event_queue_size)
        return _recorder


def record(op_type: str, input_size: int) -> None:
    """Queue ``{event_ts, op_type, input_size}`` for the events service; returns at once."""
    recorder().submit({"event_ts": int(time.time() * 1000), "op_type": op_type,
                       "input_size": input_size})


def record_after(response: flask.Response, op_type: str, input_size: int) -> flask.Response:
    """Record the event once ``response`` has been sent (its timestamp: the request's end).

    Why after: the sender thread then does not compete with sending the answer.
    """
    event_ts = int(time.time() * 1000)
    event = {"event_ts": event_ts, "op_type": op_type, "input_size": input_size}
    response.call_on_close(lambda: recorder().submit(event))
    return response


def _forget_after_fork() -> None:
    global _recorder
    _recorder = None


os.register_at_fork(after_in_child=_forget_after_fork)

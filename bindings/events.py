"""Best-effort event recording: each successful image request is reported to the events
service (``invoke_method(EVENTS_APP_ID, "create_event")``) from a background thread.

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

from . import settings
from .client import get_client

__all__ = ["Recorder", "record", "record_after", "recorder"]

log = logging.getLogger(__name__)


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
            log.warning("events queue full, dropped event %s", event)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                self._send(event)
                self.sent += 1
            except Exception as err:  # any failure: log and move on to the next event
                self.failed += 1
                log.warning("could not record event %s: %s", event, err)
            finally:
                self.queue.task_done()

    def _send(self, event: dict[str, Any]) -> None:
        config = settings.get()
        client = get_client()
        client.invoke_method(config.events_app_id, "create_event",
                             data=json.dumps(event), content_type="application/json",
                             http_verb="POST", timeout=config.event_timeout_seconds)


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

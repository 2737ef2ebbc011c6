"""The event recorder's draining: bounded batches under load, a lone event at once when idle."""

from __future__ import annotations

import threading
import time
from typing import Any

from bindings.dapr.events import BATCH_SIZE, SEND_INTERVAL_SECONDS, Recorder


class _RecordingRecorder(Recorder):
    """A recorder whose sends are kept in memory (the first ``failures`` raise, as a send to a
    service that is down does), to see how events are grouped and retried."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(queue_size=1000)
        self.batches: list[list[dict[str, Any]]] = []
        self.failures_left = failures
        self.refuse: set[int] = set()  # event_ts values the "broker" refuses once
        self.gate = threading.Event()
        self.gate.set()

    def _send(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(batch)
        assert self.gate.wait(10)
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("events service down")
        refused = [e for e in batch if e["event_ts"] in self.refuse]
        self.refuse -= {e["event_ts"] for e in refused}
        return refused


def test_recorder_drains_the_queue_in_bounded_batches():
    recorder = _RecordingRecorder()
    events = [{"event_ts": n, "op_type": "t", "input_size": n} for n in range(2 * BATCH_SIZE + 8)]
    recorder.gate.clear()
    recorder.submit(events[0])
    while not recorder.batches:  # the sender holds the first event alone, and is stuck on it
        time.sleep(0.001)
    for event in events[1:]:
        recorder.submit(event)
    recorder.gate.set()
    recorder.queue.join()
    assert [len(b) for b in recorder.batches] == [1, BATCH_SIZE, BATCH_SIZE, 7]
    assert [e for b in recorder.batches for e in b] == events
    assert (recorder.sent, recorder.failures, recorder.dropped) == (len(events), 0, 0)


def test_a_failed_batch_is_sent_again_until_it_goes_nothing_dropped():
    recorder = _RecordingRecorder(failures=2)
    events = [{"event_ts": n, "op_type": "t", "input_size": n} for n in range(3)]
    recorder.gate.clear()
    recorder.submit(events[0])
    while not recorder.batches:
        time.sleep(0.001)
    for event in events[1:]:
        recorder.submit(event)
    recorder.gate.set()
    recorder.queue.join()
    # The lone first event failed twice and went on the third try; the rest followed.
    assert recorder.batches == [[events[0]], [events[0]], [events[0]], events[1:]]
    assert (recorder.sent, recorder.failures, recorder.dropped) == (3, 2, 0)


def test_only_the_events_a_bulk_publish_refused_are_sent_again():
    recorder = _RecordingRecorder()
    recorder.refuse = {1}
    events = [{"event_ts": n, "op_type": "t", "input_size": n} for n in range(3)]
    recorder.gate.clear()
    for event in events:
        recorder.submit(event)
    recorder.gate.set()
    recorder.queue.join()
    assert [e["event_ts"] for b in recorder.batches for e in b] in ([0, 1, 2, 1], [0, 1, 2, 1])
    assert recorder.batches[-1] == [events[1]] and recorder.sent == 3


def test_idle_recorder_sends_a_lone_event_at_once():
    recorder = _RecordingRecorder()
    recorder.submit({"event_ts": 1, "op_type": "t", "input_size": 1})
    recorder.queue.join()
    assert [len(b) for b in recorder.batches] == [1]


def test_events_arriving_soon_after_a_send_wait_for_the_interval_and_go_together():
    recorder = _RecordingRecorder()
    events = [{"event_ts": n, "op_type": "t", "input_size": n} for n in range(6)]
    recorder.submit(events[0])
    recorder.queue.join()  # sent at once
    sent_first = time.monotonic()
    for event in events[1:]:
        recorder.submit(event)
        time.sleep(0.005)
    recorder.queue.join()
    assert time.monotonic() - sent_first >= SEND_INTERVAL_SECONDS * 0.9
    assert [len(b) for b in recorder.batches] == [1, 5]
    time.sleep(SEND_INTERVAL_SECONDS)  # quiet: the next one goes at once
    start = time.monotonic()
    recorder.submit(events[0])
    recorder.queue.join()
    assert time.monotonic() - start < SEND_INTERVAL_SECONDS / 2

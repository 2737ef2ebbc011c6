"""The event recorder's draining: bounded batches under load, a lone event at once when idle."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bindings.dapr.events import BATCH_SIZE, Recorder


class _RecordingRecorder(Recorder):
    """A recorder whose sends are kept in memory (or fail), to see how events are grouped."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(queue_size=1000)
        self.batches: list[list[dict[str, Any]]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        self.batches.append(batch)
        assert self.gate.wait(10)
        if self.fail:
            raise ConnectionError("events service down")


@pytest.mark.parametrize("fail", [False, True])
def test_recorder_drains_the_queue_in_bounded_batches(fail):
    recorder = _RecordingRecorder(fail)
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
    assert (recorder.sent, recorder.failed) == ((0, len(events)) if fail
                                                else (len(events), 0))


def test_idle_recorder_sends_a_lone_event_at_once():
    recorder = _RecordingRecorder()
    recorder.submit({"event_ts": 1, "op_type": "t", "input_size": 1})
    recorder.queue.join()
    assert [len(b) for b in recorder.batches] == [1]

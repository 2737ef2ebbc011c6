"""What the broker tests share: a thread-safe collector, waiting, a free port, the crash child."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sidecar.components.pubsub.base import Message

#: Child process for the crash tests: builds the component named on the command line,
#: subscribes, appends each message's data to a file, and hangs (never returns, never acks)
#: from the ``hang_after``-th message on, until it is killed.
CRASH_CHILD = """
import importlib, json, sys, threading
module, cls, topic, out, hang_after, metadata = sys.argv[1:7]
component = getattr(importlib.import_module(module), cls)("crash", json.loads(metadata))
lock, seen, hang = threading.Lock(), [0], threading.Event()
def handler(message):
    with lock:
        with open(out, "a", encoding="utf-8") as f:
            f.write(message.data.decode() + "\\n")
        seen[0] += 1
        stuck = seen[0] >= int(hang_after)
    if stuck:
        hang.wait()
component.subscribe(topic, handler, {})
print("subscribed", flush=True)
hang.wait()
"""


class Collector:
    """A handler that records every message; ``fail`` decides per message whether to raise."""

    def __init__(self, fail: Callable[[Message, int], bool] | None = None,
                 delay: float = 0.0) -> None:
        self.messages: list[Message] = []
        self.attempts: dict[bytes, int] = {}
        self.fail, self.delay = fail, delay
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            attempt = self.attempts[message.data] = self.attempts.get(message.data, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None and self.fail(message, attempt):
            raise RuntimeError(f"handler refuses {message.data!r} (attempt {attempt})")
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    @property
    def data(self) -> list[bytes]:
        with self._cond:
            return [m.data for m in self.messages]




def start_crash_child(target: str, topic: str, out: Path, hang_after: int,
                      metadata_json: str) -> subprocess.Popen[str]:
    """Start CRASH_CHILD for ``module:Class`` and wait until it has subscribed."""
    module, _, cls = target.partition(":")
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, module, cls, topic, str(out), str(hang_after),
         metadata_json], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "subscribed"
    return child


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []

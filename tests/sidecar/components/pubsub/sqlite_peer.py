"""A second runtime process for test_sqlite.py: subscribes or publishes on a shared broker file.

    python -m tests.sidecar.components.pubsub.sqlite_peer subscribe DB TOPIC GROUP OUT \
        [--concurrency N] [--processing-timeout 1s] [--delay SECONDS] [--block-at K]
    python -m tests.sidecar.components.pubsub.sqlite_peer publish DB TOPIC PREFIX COUNT GO_FILE

A subscriber appends "ready", then "start <data>" when a handler begins and "done <data>" when
it returns (acknowledged from then on), flushed at once so a SIGKILL loses no line; the K-th
message's handler blocks for ever. SIGTERM closes the component and exits. A publisher waits
for GO_FILE to exist, publishes COUNT messages "<prefix>-<i>" and prints "published <count>".
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from sidecar.components.pubsub.base import Message, PublishRequest
from sidecar.components.pubsub.sqlite import SQLitePubSub


def _subscribe(args: argparse.Namespace) -> None:
    broker = SQLitePubSub("peer", {"databasePath": args.db, "consumerID": args.group,
                                   "concurrency": str(args.concurrency),
                                   "processingTimeout": args.processing_timeout})
    out: TextIO = open(args.out, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - until exit
    lock, starts = threading.Lock(), itertools.count(1)

    def write(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    def handle(message: Message) -> None:
        with lock:
            number = next(starts)
        write(f"start {message.data.decode()}")
        if number == args.block_at:
            threading.Event().wait()
        time.sleep(args.delay)
        write(f"done {message.data.decode()}")

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    subscription = broker.subscribe(args.topic, handle, {})
    write("ready")
    stopped.wait()
    subscription.close()
    broker.close()


def _publish(args: argparse.Namespace) -> None:
    broker = SQLitePubSub("peer", {"databasePath": args.db, "consumerID": "publisher"})
    while not Path(args.go_file).exists():
        time.sleep(0.005)
    for i in range(args.count):
        broker.publish(PublishRequest(args.topic, f"{args.prefix}-{i}".encode()))
    broker.close()
    print(f"published {args.count}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("subscribe")
    for name in ("db", "topic", "group", "out"):
        sub.add_argument(name)
    sub.add_argument("--concurrency", type=int, default=4)
    sub.add_argument("--processing-timeout", default="60s")
    sub.add_argument("--delay", type=float, default=0.0)
    sub.add_argument("--block-at", type=int, default=0)
    pub = commands.add_parser("publish")
    for name in ("db", "topic", "prefix"):
        pub.add_argument(name)
    pub.add_argument("count", type=int)
    pub.add_argument("go_file")
    args = parser.parse_args(argv)
    (_subscribe if args.command == "subscribe" else _publish)(args)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Raw HTTP/1.1 over a socket, for requests no HTTP client library will send (malformed ones)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "exchange", "read_answer"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(sock: socket.socket, timeout: float, started: float | None = None) -> Answer:
    """One answer read from ``sock`` (Content-Length framed, or up to the close)."""
    started = time.monotonic() if started is None else started
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = headers.get("content-length")
    while (length is not None and len(body) < int(length)) or length is None:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status, headers, body, time.monotonic() - started)


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> Answer:
    """Send ``raw`` on a fresh connection and read one answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before taking everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_answer(sock, timeout, started)

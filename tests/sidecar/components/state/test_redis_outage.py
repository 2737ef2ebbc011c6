"""state.redis when Redis goes away mid-run: a clear ERR_STATE_* error naming the address,
quickly, never a hang. Real Redis sits behind a small TCP proxy that the test shuts."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from sidecar.testing import run_sidecar
from tests.conftest import REDIS_URL
from tests.sidecar.helpers import component_doc, unique_id, write_components

_REDIS_HOST, _, _REDIS_PORT = REDIS_URL.split("://", 1)[1].split("/", 1)[0].partition(":")


class TcpProxy:
    """Forwards loopback connections to Redis until ``close`` cuts every one of them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((_REDIS_HOST, int(_REDIS_PORT or 6379)))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        # shutdown() wakes the blocked accept(); close() alone would leave it listening.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture()
def proxy(redis_client: redis.Redis) -> Iterator[TcpProxy]:
    tcp = TcpProxy()
    yield tcp
    tcp.close()


def test_requests_fail_fast_with_a_clear_error(proxy: TcpProxy, tmp_path: Path) -> None:
    folder = write_components(tmp_path, component_doc("statestore", "state.redis", {
        "redisHost": f"127.0.0.1:{proxy.port}", "dialTimeout": "1s", "readTimeout": "1s",
        "redisMaxRetries": "1"}))
    with run_sidecar(unique_id("outage"), [folder]) as sidecar:
        client = httpx.Client(base_url=sidecar.http_url, timeout=30)
        assert client.post("/v1.0/state/statestore",
                           json=[{"key": "k", "value": 1}]).status_code == 204
        proxy.close()
        started = time.monotonic()
        save = client.post("/v1.0/state/statestore", json=[{"key": "k", "value": 2}])
        get = client.get("/v1.0/state/statestore/k")
        elapsed = time.monotonic() - started
    assert save.status_code == 500, save.text
    assert save.json()["errorCode"] == "ERR_STATE_SAVE"
    assert (get.status_code, get.json()["errorCode"]) == (500, "ERR_STATE_GET")
    assert f"127.0.0.1:{proxy.port}" in get.json()["message"]
    assert elapsed < 10, f"took {elapsed:.1f}s"

"""``client.connect()``: a serving worker starts creating the Dapr client as it starts, so the
first request finds it ready; and ``serving`` installs it as gunicorn's post_worker_init."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bindings.dapr import client
from bindings.http import serving


class _FakeClient:
    def __init__(self, interceptors: Any = None) -> None:
        _made.append(threading.current_thread().name)


_made: list[str] = []


@pytest.fixture
def fake_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _made.clear()
    monkeypatch.setattr(client, "DaprGrpcClient", _FakeClient)
    client.reset()
    yield
    client.reset()


def test_connect_creates_the_client_in_the_background_once(fake_sdk: None) -> None:
    client.connect()
    client.connect()
    assert isinstance(client.get_client(wait=5), _FakeClient)
    client.connect()  # ready: nothing more to do
    assert _made == ["dapr-client"]


def test_serving_connects_each_worker_as_it_starts(fake_sdk: None) -> None:
    hook = serving.gunicorn_options("127.0.0.1", 8080, {})["post_worker_init"]
    hook(object())
    assert isinstance(client.get_client(wait=5), _FakeClient)

"""Input-binding delivery (input_bindings.py) with a tiny fake InputBinding and a real app:
OPTIONS probe, skip when the app answers 404, POST per event with metadata as headers,
non-2xx answers logged, retry while the app is not up yet."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from sidecar.components.bindings.base import Deliver, InputBinding
from sidecar.input_bindings import InputBindingDelivery
from sidecar.invoke.app_channel import HTTPAppChannel
from sidecar.settings import Settings
from sidecar.testing import free_port, run_sidecar

from .fake_app import run_fake_app
from .helpers import component_doc, unique_id, write_components


class FakeTicker(InputBinding):
    """Delivers ``count`` events from a background thread once started."""

    type_name = "bindings.fake"

    def __init__(self, name: str, metadata: Mapping[str, str], count: int = 2) -> None:
        super().__init__(name, metadata)
        self.count = count
        self.started = threading.Event()
        self.stopped = threading.Event()

    def start(self, deliver: Deliver) -> None:
        def produce() -> None:
            for i in range(self.count):
                deliver(f'{{"tick": {i}}}'.encode(), {"timeZone": "UTC", "seq": str(i)})
        self.started.set()
        threading.Thread(target=produce, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()


def _wait_for(condition: threading.Event, what: str) -> None:
    assert condition.wait(10), f"timed out waiting for {what}"


class _Delivery(InputBindingDelivery):
    """Delivery over its own app channel, closing both when stopped."""

    def stop(self) -> None:
        super().stop()
        if self.channel is not None:
            self.channel.close()


def _channel(port: int) -> _Delivery:
    return _Delivery(HTTPAppChannel(Settings(app_id="binder", app_port=port)))


def test_subscribed_binding_gets_post_per_event_with_metadata_headers() -> None:
    ticker = FakeTicker("tick", {})
    with run_fake_app(subscribed={"tick"}) as app:
        channel = _channel(app.port)
        channel.start({"tick": ticker})
        _wait_for(ticker.started, "the binding to start")
        for _ in range(100):
            posts = [r for r in app.requests if r.method == "POST"]
            if len(posts) == 2:
                break
            threading.Event().wait(0.05)
        channel.stop()
    assert app.requests[0].method == "OPTIONS" and app.requests[0].path == "/tick"
    assert sorted(p.body for p in posts) == [b'{"tick": 0}', b'{"tick": 1}']
    assert {p.headers["seq"] for p in posts} == {"0", "1"}
    assert all(p.headers["timezone"] == "UTC" for p in posts)
    assert all(p.path == "/tick" for p in posts)
    assert ticker.stopped.is_set()


def test_app_answering_404_is_not_subscribed() -> None:
    ticker = FakeTicker("other", {})
    with run_fake_app(subscribed=set()) as app:
        channel = _channel(app.port)
        channel.start({"other": ticker})
        for _ in range(100):
            if app.requests:
                break
            threading.Event().wait(0.05)
        threading.Event().wait(0.2)
        channel.stop()
    assert [r.method for r in app.requests] == ["OPTIONS"]
    assert not ticker.started.is_set()


def test_non_2xx_answer_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    ticker = FakeTicker("tick", {}, count=1)
    with caplog.at_level(logging.ERROR, logger="sidecar.input_bindings"), \
            run_fake_app(subscribed={"tick"}) as app:
        app.binding_status = 500
        channel = _channel(app.port)
        channel.start({"tick": ticker})
        _wait_for(app.received, "the event")
        for _ in range(100):
            if "status 500" in caplog.text:
                break
            threading.Event().wait(0.05)
        channel.stop()
    assert "app responded with status 500 to binding event tick" in caplog.text


def test_probe_retries_until_the_app_is_up() -> None:
    port = free_port()
    ticker = FakeTicker("tick", {}, count=1)
    channel = _channel(port)
    channel.start({"tick": ticker})
    threading.Event().wait(0.7)  # the first probes hit a closed port
    try:
        with run_fake_app(subscribed={"tick"}, port=port) as app:
            _wait_for(app.received, "the event after the app came up")
    finally:
        channel.stop()


def test_cron_component_fires_into_the_app_end_to_end(tmp_path: Path) -> None:
    """The real runtime with a bindings.cron component delivers to a real app."""
    folder = write_components(tmp_path, component_doc("every-second", "bindings.cron",
                                                       {"schedule": "@every 1s"}))
    with run_fake_app(subscribed={"every-second"}) as app, \
            run_sidecar(unique_id("cron"), [folder], app_port=app.port):
        _wait_for(app.received, "a cron event")
    post = next(r for r in app.requests if r.method == "POST")
    assert post.path == "/every-second"
    assert "readtimeutc" in post.headers

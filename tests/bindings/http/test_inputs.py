"""Request reading: the body cap, the client's address, content negotiation."""

from __future__ import annotations

import io

import flask
import pytest
from werkzeug.test import EnvironBuilder

from bindings import settings
from bindings.http.errors import NotAcceptable, PayloadTooLarge
from bindings.http.inputs import client_address, negotiate, read_body


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.given = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.given += len(chunk)
        return chunk


def _chunked_environ(stream: io.BytesIO) -> dict:
    """A WSGI environ for a body of unknown length, as a server gives for chunked uploads."""
    environ = EnvironBuilder(path="/", method="POST").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    return environ


def test_read_body_caps_bodies_without_a_length():
    """A chunked upload has no Content-Length: reading stops just past the cap."""
    app = flask.Flask("body")
    stream = _CountingStream(b"x" * 100_000)
    with app.request_context(_chunked_environ(stream)):
        assert flask.request.content_length is None
        with pytest.raises(PayloadTooLarge):
            read_body(flask.request, 1000)
    assert stream.given == 1001
    with app.request_context(_chunked_environ(io.BytesIO(b"y" * 999))):
        assert read_body(flask.request, 1000) == b"y" * 999


def test_client_address_honours_proxy_only_when_trusted(monkeypatch):
    app = flask.Flask("addr")
    headers = {"X-Forwarded-For": "6.6.6.6, 10.1.2.3"}
    environ = {"REMOTE_ADDR": "127.0.0.9"}
    with app.test_request_context("/", headers=headers, environ_base=environ):
        assert client_address(flask.request) == "127.0.0.9"
        monkeypatch.setenv("TRUST_PROXY", "true")
        settings.get.cache_clear()
        assert client_address(flask.request) == "10.1.2.3"
    with app.test_request_context("/", headers={"X-Forwarded-For": "junk"},
                                  environ_base=environ):
        assert client_address(flask.request) == "127.0.0.9"


@pytest.mark.parametrize("accept, expected", [
    (None, "text/plain"), ("*/*", "text/plain"), ("image/*", "image/png"),
    ("image/gif;q=0.9, image/png;q=0.5", "image/gif"), ("application/json", None)])
def test_negotiate(accept, expected):
    app = flask.Flask("accept")
    headers = {"Accept": accept} if accept else {}
    with app.test_request_context("/", headers=headers):
        offers = ["text/plain", "image/png", "image/gif"]
        if expected is None:
            with pytest.raises(NotAcceptable):
                negotiate(flask.request, offers)
        else:
            assert negotiate(flask.request, offers) == expected

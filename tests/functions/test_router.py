"""The shared router, request helpers and settings: routing, CORS, errors, limits."""

from __future__ import annotations

import io

import flask
import pytest
from werkzeug.test import EnvironBuilder

from bindings import settings
from bindings.errors import BadRequest, NotAcceptable, PayloadTooLarge
from bindings.inputs import client_address, negotiate, read_body
from bindings.router import Router, text_response


def _app(router: Router) -> flask.Flask:
    """Mounted the way functions-framework mounts a function: every path, every method."""
    app = flask.Flask("router-test")
    methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]
    def view(path: str) -> flask.Response:
        return router(flask.request)
    app.add_url_rule("/", "run", view, defaults={"path": ""}, methods=methods,
                     provide_automatic_options=False)
    app.add_url_rule("/<path:path>", "run", view, methods=methods,
                     provide_automatic_options=False)
    return app


def _boom(request: flask.Request) -> flask.Response:
    raise RuntimeError("boom")


def _bad(request: flask.Request) -> flask.Response:
    raise BadRequest("nope", {"why": "because"})


ROUTER = Router("help!", {"/ok": {"GET": lambda r: text_response("fine")},
                          "/boom": {"POST": _boom}, "/bad": {"POST": _bad}})


def test_routes_help_404_405():
    client = _app(ROUTER).test_client()
    assert client.get("/").get_data(as_text=True) == "help!"
    assert client.get("/ok/").get_data(as_text=True) == "fine"
    assert client.head("/ok").status_code == 200
    missing = client.get("/missing")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "no route /missing",
                                  "detail": {"routes": ["/", "/bad", "/boom", "/ok"]}}
    wrong = client.put("/ok")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_http_error_and_crash_are_json(caplog):
    client = _app(ROUTER).test_client()
    bad = client.post("/bad")
    assert (bad.status_code, bad.get_json()) == (400, {"error": "nope",
                                                       "detail": {"why": "because"}})
    crash = client.post("/boom")
    assert crash.status_code == 500 and crash.get_json()["error"] == "internal error"
    assert "boom" in caplog.text
    assert client.get("/ok").status_code == 200


def test_preflight_and_cors_on_every_answer():
    client = _app(ROUTER).test_client()
    preflight = client.options("/boom", headers={"Origin": "http://page.example",
                                                 "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "X-Thing"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "OPTIONS, POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "X-Thing"
    for response in (preflight, client.get("/ok"), client.get("/missing"), client.post("/boom")):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Result-Key" in response.headers["Access-Control-Expose-Headers"]


def test_cors_origin_list(monkeypatch):
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "http://a.example, http://b.example")
    settings.get.cache_clear()
    client = _app(ROUTER).test_client()
    allowed = client.get("/ok", headers={"Origin": "http://b.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://b.example"
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/ok", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


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


def test_settings_defaults_and_casts():
    defaults = settings.load({})
    assert (defaults.state_store, defaults.events_app_id, defaults.rate_limit_requests,
            defaults.trust_proxy, defaults.cors_allowed_origins) == (
        "statestore", "events-service", 120, False, ("*",))
    custom = settings.load({"TRUST_PROXY": "false", "RATE_LIMIT_REQUESTS": "7",
                            "EVENT_TIMEOUT_SECONDS": "0.25", "PNG_COMPRESS_LEVEL": "0",
                            "CORS_ALLOWED_ORIGINS": "http://x, http://y", "STATE_STORE": ""})
    assert (custom.trust_proxy, custom.rate_limit_requests, custom.event_timeout_seconds,
            custom.png_compress_level, custom.cors_allowed_origins, custom.state_store) == (
        False, 7, 0.25, 0, ("http://x", "http://y"), "statestore")
    assert settings.load({"TRUST_PROXY": "TRUE"}).trust_proxy is True


@pytest.mark.parametrize("name, value", [("TRUST_PROXY", "maybe"), ("RATE_LIMIT_REQUESTS", "0"),
                                         ("MAX_BODY_BYTES", "ten"), ("PNG_COMPRESS_LEVEL", "10")])
def test_settings_refuse_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        settings.load({name: value})

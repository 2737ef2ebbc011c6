"""The shared router: routing, CORS and JSON errors on every answer."""

from __future__ import annotations

import flask

from bindings import settings
from bindings.http.errors import BadRequest
from bindings.http.router import Router, text_response


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

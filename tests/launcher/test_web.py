"""The launcher's web server: static files from web/, and the /api/<function>/ proxy against a
real upstream HTTP server on a free port that records what reached it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from launcher.web import MAX_PROXY_BODY, WEB_ROOT, WebServer


class Upstream(ThreadingHTTPServer):
    """Answers every request with 201 and a JSON echo; keeps each request it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []
        super().__init__(("127.0.0.1", 0), _Echo)


class _Echo(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen: dict[str, object] = {
            "method": self.command, "path": self.path, "body": body.decode("latin-1"),
            "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.server.seen.append(seen)
        out = json.dumps(seen).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def raw_request(port: int, head: str) -> str:
    """Send ``head`` (request line and headers) and read the answer until the server closes."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n")
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web(upstream: Upstream, tmp_path: Path) -> Iterator[tuple[WebServer, list[str]]]:
    (tmp_path / "index.html").write_text("<!doctype html><title>home</title>")
    (tmp_path / "app.js").write_text("export const x = 1;")
    (tmp_path.parent / "secret.txt").write_text("outside")
    logged: list[str] = []
    server = WebServer("127.0.0.1", 0, {"echo": upstream.server_address[1],
                                        "down": closed_port()},
                       web_root=tmp_path, log=logged.append)
    server.start()
    yield server, logged
    server.stop()


def test_proxy_forwards_method_path_query_body_and_headers(
        web: tuple[WebServer, list[str]], upstream: Upstream) -> None:
    server, _ = web
    answer = httpx.post(f"{server.url}api/echo/grayscale?a=1&b=x%20y", content=b"\x00\xffimage",
                        headers={"Accept": "image/png", "X-Custom": "yes"})
    assert answer.status_code == 201
    assert answer.headers["Retry-After"] == "7"
    (seen,) = upstream.seen
    assert (seen["method"], seen["path"], seen["body"]) == (
        "POST", "/grayscale?a=1&b=x%20y", "\x00\xffimage")
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert (headers["accept"], headers["x-custom"], headers["x-forwarded-for"]) == (
        "image/png", "yes", "127.0.0.1")
    assert answer.json()["path"] == "/grayscale?a=1&b=x%20y"


def test_proxy_get_of_a_nested_path(web: tuple[WebServer, list[str]],
                                    upstream: Upstream) -> None:
    server, _ = web
    assert httpx.get(f"{server.url}api/echo/events?limit=5").json()["path"] == "/events?limit=5"
    assert httpx.delete(f"{server.url}api/echo/").json()["method"] == "DELETE"


def test_unknown_function_is_a_json_404_listing_the_known_ones(
        web: tuple[WebServer, list[str]]) -> None:
    server, logged = web
    answer = httpx.get(f"{server.url}api/nope/x")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no function named 'nope'", "functions": ["down", "echo"]}
    assert any("/api/nope/x -> 404" in line for line in logged)


def test_a_function_that_is_down_is_a_json_502(web: tuple[WebServer, list[str]]) -> None:
    server, _ = web
    answer = httpx.post(f"{server.url}api/down/classify", content=b"x")
    assert answer.status_code == 502
    body = answer.json()
    assert body["function"] == "down" and "not reachable" in body["error"]


def test_body_over_the_limit_is_refused_before_reading(web: tuple[WebServer, list[str]],
                                                       upstream: Upstream) -> None:
    server, _ = web
    reply = raw_request(server.port, "POST /api/echo/grayscale HTTP/1.1\r\nHost: x\r\n"
                                     f"Content-Length: {MAX_PROXY_BODY + 1}\r\n")
    assert reply.startswith("HTTP/1.1 413")
    assert "over the proxy's limit" in reply
    assert upstream.seen == []


@pytest.mark.parametrize(("headers", "status"), [
    ("Content-Length: abc\r\n", 400), ("Transfer-Encoding: chunked\r\n", 411)])
def test_bad_body_framing_is_a_4xx(web: tuple[WebServer, list[str]], headers: str,
                                   status: int) -> None:
    server, _ = web
    reply = raw_request(server.port, f"POST /api/echo/x HTTP/1.1\r\nHost: x\r\n{headers}")
    assert reply.startswith(f"HTTP/1.1 {status}")
    assert '{"error": ' in reply


def test_static_files_with_types_and_security_headers(web: tuple[WebServer, list[str]]) -> None:
    server, _ = web
    index = httpx.get(server.url)
    assert index.status_code == 200 and "<title>home</title>" in index.text
    assert index.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert httpx.get(f"{server.url}app.js").headers["Content-Type"].startswith("text/javascript")
    head = httpx.head(f"{server.url}app.js")
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/missing.css"])
def test_nothing_outside_the_web_root(web: tuple[WebServer, list[str]], path: str) -> None:
    server, _ = web
    reply = raw_request(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
    assert reply.startswith("HTTP/1.1 404")
    assert "outside" not in reply


def test_other_methods_on_static_paths_are_405(web: tuple[WebServer, list[str]]) -> None:
    server, _ = web
    answer = httpx.post(f"{server.url}index.html", content=b"x")
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
    assert "only /api/" in answer.json()["error"]


def test_a_taken_port_raises_before_serving(web: tuple[WebServer, list[str]]) -> None:
    server, _ = web
    with pytest.raises(OSError):
        WebServer("127.0.0.1", server.port, {})


def test_the_real_page_is_there() -> None:
    for name in ("index.html", "app.js", "api.js", "events.js", "dom.js", "style.css"):
        assert (WEB_ROOT / name).is_file(), name

"""framing.scan: when a buffered request is complete, incomplete, malformed or too large."""

from __future__ import annotations

import pytest

from bindings.http.framing import scan

HEAD = b"POST /x HTTP/1.1\r\nHost: a\r\n"


@pytest.mark.parametrize(("data", "complete"), [
    (b"GET / HTTP/1.1\r\nHost: a\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
    (HEAD + b"Content-Length: 5\r\n\r\nabc", False),
    (HEAD + b"Content-Length: 5\r\n\r\nabcde", True),
    (HEAD + b"Content-Length: 99999\r\n\r\n", True),  # over the cap: answered 413 unread
    (HEAD + b"Content-Length: 1x\r\n\r\n", True),  # malformed: gunicorn rejects it
    (HEAD + "Content-Length: ²\r\n\r\n".encode(), True),
    (HEAD + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\nfff", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 40, True),
    (b"GET / HTTP/1.1\nHost: a\n\n", True),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", True),
])
def test_scan(data, complete):
    assert scan(data, max_body=1000, max_head=4096).complete is complete


def test_head_over_the_limit_is_too_large():
    found = scan(b"GET / HTTP/1.1\r\nX: " + b"a" * 5000, max_body=1000, max_head=4096)
    assert found.too_large and not found.complete


def test_chunked_scan_resumes_and_stops_at_the_cap():
    data = bytearray(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    found = None
    for _ in range(3):
        data += b"12c\r\n" + b"x" * 300 + b"\r\n"
        found = scan(data, max_body=1000, max_head=4096, previous=found)
        assert not found.complete and found.chunk_total <= 1000
    data += b"12c\r\n"
    assert scan(data, max_body=1000, max_head=4096, previous=found).complete

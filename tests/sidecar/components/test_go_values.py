"""Go value formats shared by the components (``sidecar.components.go_values``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sidecar.components.go_values import (
    format_go_duration,
    format_rfc3339_nano,
    go_json_dumps,
    go_text,
    parse_go_duration,
)


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (45, "45ns"), (1500, "1.5µs"), (1_234_567, "1.234567ms"), (10**9, "1s"),
    (1_500_000_000, "1.5s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"),
    (3723 * 10**9 + 5 * 10**8, "1h2m3.5s"), (-2 * 10**9, "-2s"),
])
def test_format_go_duration(ns, text):
    assert format_go_duration(ns) == text


@pytest.mark.parametrize("text, ns", [
    ("10s", 10 * 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9), ("300ms", 3 * 10**8),
    ("2us", 2000), ("2µs", 2000), ("0", 0), ("-1s", -(10**9)), ("1h1m1s1ms", 3661001000000),
])
def test_parse_go_duration(text, ns):
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1d", "s", "1 s", "1.5.3s"])
def test_parse_go_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_rfc3339_nano():
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_rfc3339_nano(moment) == "2024-01-02T03:04:05Z"
    assert format_rfc3339_nano(moment, 120_000_000) == "2024-01-02T03:04:05.12Z"
    plus = moment.replace(tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_rfc3339_nano(plus, 7) == "2024-01-02T03:04:05.000000007+05:30"


def test_go_json_dumps():
    assert go_json_dumps({"b": "<&>", "a": b"\x00\xff", "c": "é"}) == (
        '{"a":"AP8=","b":"\\u003c\\u0026\\u003e","c":"é"}'.encode())
    assert go_json_dumps(None) == b"null"



@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"), (None, ""), (3, "3"), (1.0, "1"), (2.5, "2.5"),
    ("x", "x"), ({"a": [1, "b"]}, '{"a":[1,"b"]}'),
])
def test_go_text(value, text):
    assert go_text(value) == text

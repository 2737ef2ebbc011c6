"""Go value formats shared by the bindings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sidecar.bindings._common import (
    format_go_duration,
    format_rfc3339_nano,
    go_json_dumps,
    is_truthy,
    metadata_duration,
    parse_go_duration,
)
from sidecar.errors import ComponentConfigError


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


def test_truthy_and_metadata_duration():
    assert all(is_truthy(v) for v in ("true", "TRUE", "1", "yes", "on", "t", "y"))
    assert not any(is_truthy(v) for v in ("false", "0", "", "nope"))
    assert metadata_duration("c", "k", "12s") == 12.0
    assert metadata_duration("c", "k", "30") == 30.0
    assert metadata_duration("c", "k", None) == 0.0
    with pytest.raises(ComponentConfigError, match="'k' must be a duration"):
        metadata_duration("c", "k", "later")

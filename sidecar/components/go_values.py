"""Go value formats: what daprd's components write and read is shaped by Go's standard library.

Durations print as ``time.Duration.String()`` ("1.5ms", "1h0m0s") and parse as
``time.ParseDuration``; times print as RFC 3339 with nanoseconds; JSON comes out of
``json.Marshal`` with sorted map keys, ``<``, ``>``, ``&`` escaped and ``[]byte`` as base64;
a YAML or JSON scalar becomes text the way Go formats it. One place, so every component
answers like daprd's.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "format_go_duration",
    "format_rfc3339_nano",
    "go_json_dumps",
    "go_text",
    "parse_go_duration",
    "utc_from_ns",
]

_NS_PER = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
           "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# Go's encoding/json escapes these even inside strings (HTML safety, JS line separators).
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                    "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_text(value: Any) -> str:
    """A YAML/JSON value as daprd keeps it in text: true/false, whole floats without ".0",
    null as "", maps and lists as compact JSON, anything else as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def parse_go_duration(text: str) -> int:
    """Parse a Go duration string ("1m30s", "1.5h", "300ms") into nanoseconds.

    Raises ValueError for anything ``time.ParseDuration`` would reject.
    """
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    if body == "0":
        return 0
    if not body or _DURATION_PART.sub("", body):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 10s, 1m30s, 1.5h, 300ms)")
    total = sum(Decimal(num) * _NS_PER[unit] for num, unit in _DURATION_PART.findall(body))
    return sign * int(total)


def format_go_duration(ns: int) -> str:
    """Format nanoseconds the way Go's ``time.Duration.String()`` does."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ns", 1), ("µs", 10**3), ("ms", 10**6)):
            if ns < size * 1000:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _fraction(rest, 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def format_rfc3339_nano(moment: datetime, nanos: int | None = None) -> str:
    """Go's ``time.RFC3339Nano``: trailing zeros of the fraction dropped, "Z" for UTC.

    ``nanos`` (0..999999999) replaces the microsecond field when nanosecond precision exists.
    """
    frac = nanos if nanos is not None else moment.microsecond * 1000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() == 0:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def utc_from_ns(ns: int) -> datetime:
    """A UTC datetime for nanoseconds since the epoch (sub-microsecond part dropped)."""
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).replace(
        microsecond=(ns % 10**9) // 1000)


def _go_json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_json_dumps(value: Any) -> bytes:
    """JSON the way Go's ``json.Marshal`` writes it (compact, sorted keys, bytes as base64)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      default=_go_json_default, allow_nan=False)
    for char, escape in _GO_JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode("utf-8")

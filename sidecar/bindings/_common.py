"""Helpers shared by the binding components: Go value formats and the bad-request error.

daprd is written in Go, so what its bindings send back is shaped by Go's standard library:
durations print as ``time.Duration.String()`` ("1.5ms", "1h0m0s"), times as RFC 3339 with
nanoseconds, JSON with sorted map keys and ``<``, ``>``, ``&`` escaped, ``[]byte`` as base64.
These helpers reproduce those shapes in one place so every binding answers like daprd.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..errors import BindingRequestError, ComponentConfigError

__all__ = [
    "check_operation",
    "format_go_duration",
    "format_rfc3339_nano",
    "go_json_dumps",
    "go_unquote",
    "is_truthy",
    "metadata_duration",
    "metadata_int",
    "parse_go_duration",
    "row_object",
    "try_base64",
    "utc_from_ns",
]

_NS_PER = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
           "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_TRUTHY = frozenset({"y", "yes", "true", "t", "on", "1"})
# Go's encoding/json escapes these even inside strings (HTML safety, JS line separators).
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                    "\u2028": "\\u2028", "\u2029": "\\u2029"}




def check_operation(binding: str, operation: str, supported: Iterable[str]) -> None:
    """Raise a BindingRequestError naming the supported operations if ``operation`` is not one."""
    names = tuple(supported)
    if operation not in names:
        raise BindingRequestError(
            f"binding {binding!r}: unsupported operation {operation!r}; "
            f"supported operations: {', '.join(names)}")


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


def row_object(names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A result row as daprd's MySQL binding shapes it: column -> value, NULLs left out."""
    return {name: value for name, value in zip(names, row, strict=True) if value is not None}


def is_truthy(value: str) -> bool:
    """dapr/kit ``utils.IsTruthy``: y, yes, true, t, on, 1 (any case) are true, all else false."""
    return value.strip().lower() in _TRUTHY


def metadata_int(component: str, key: str, value: str | None) -> int:
    """An integer metadata field; 0 when absent or empty."""
    if value is None or value.strip() == "":
        return 0
    try:
        return int(value.strip(), 0)
    except ValueError:
        raise ComponentConfigError(f"component {component!r}: metadata {key!r} must be an "
                                   f"integer, got {value!r}") from None


def metadata_duration(component: str, key: str, value: str | None) -> float:
    """A duration metadata field in seconds, as dapr/kit decodes it.

    A Go duration ("12s", "1m") or, failing that, a whole number of seconds; 0 when absent.
    """
    if value is None or value.strip() == "":
        return 0.0
    try:
        return parse_go_duration(value) / 1e9
    except ValueError:
        pass
    try:
        return float(int(value.strip()))
    except ValueError:
        raise ComponentConfigError(
            f"component {component!r}: metadata {key!r} must be a duration such as '12s' or "
            f"'1m30s' (or whole seconds), got {value!r}") from None




def go_unquote(data: bytes) -> bytes:
    """Go's ``strconv.Unquote`` as daprd's localstorage applies it to request data.

    daprd's HTTP API hands a binding the JSON encoding of ``data``, so a JSON string arrives
    with its quotes; a double-quoted body is decoded as a JSON string, a back-quoted one taken
    raw. Anything else (including bytes that are not text) comes back unchanged.
    """
    if len(data) >= 2 and data[:1] == data[-1:] == b'"':
        try:
            value = json.loads(data)
        except ValueError:
            return data
        return value.encode("utf-8") if isinstance(value, str) else data
    if len(data) >= 2 and data[:1] == data[-1:] == b"`" and b"`" not in data[1:-1]:
        return data[1:-1].replace(b"\r", b"")
    return data


def try_base64(data: bytes) -> bytes | None:
    """Go's ``base64.StdEncoding.DecodeString``: padded standard alphabet, CR/LF ignored."""
    try:
        return base64.b64decode(data.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except ValueError:
        return None

"""What the binding components share about a request: the operation check and the two ways
daprd's bindings decode request data (Go's ``strconv.Unquote`` and standard base64).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from ...errors import BindingRequestError

__all__ = ["check_operation", "go_unquote", "try_base64"]


def check_operation(binding: str, operation: str, supported: Iterable[str]) -> None:
    """Raise a BindingRequestError naming the supported operations if ``operation`` is not one."""
    names = tuple(supported)
    if operation not in names:
        raise BindingRequestError(
            f"binding {binding!r}: unsupported operation {operation!r}; "
            f"supported operations: {', '.join(names)}")


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

"""Pure converters between the HTTP API's JSON bodies and the runtime's request types.

Each function takes decoded JSON (or raw bytes) and returns runtime dataclasses, raising
``MalformedRequest`` with a message saying which field is wrong: a 400, never a crash.
Values are stored as their JSON text, as daprd's HTTP API does (Go's ``json.Marshal`` of the
decoded value: compact, map keys sorted).
"""

from __future__ import annotations

import json
from typing import Any

from .components.bindings.base import BindingRequest
from .components.state.base import (
    Concurrency,
    DeleteRequest,
    SetRequest,
    TransactionOperation,
)
from .errors import MalformedRequest, StateOperationNotSupported

__all__ = [
    "binding_request",
    "bulk_keys",
    "check_key",
    "decode_json",
    "delete_request",
    "dump_json",
    "embed_json",
    "set_requests",
    "string_map",
    "transaction_operations",
]

_CONCURRENCY: dict[str, Concurrency] = {"first-write": "first-write", "last-write": "last-write"}


def decode_json(body: bytes) -> Any:
    """The request body as JSON; MalformedRequest in daprd's words when it is not."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise MalformedRequest(f"failed deserializing HTTP body: {err}") from None


def dump_json(value: Any) -> bytes:
    """Go-style compact JSON text (sorted map keys), UTF-8."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


def embed_json(data: bytes) -> Any:
    """Stored bytes as a JSON value for a response body: JSON stays JSON, else a string."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return data.decode("utf-8", "replace")


def check_key(key: Any, where: str = "key") -> str:
    """A non-empty string; keys containing "||" are refused by ``Runtime`` for both APIs."""
    if not isinstance(key, str) or not key:
        raise MalformedRequest(f"{where}: a non-empty string is required, got {key!r}")
    return key


def string_map(value: Any, where: str) -> dict[str, str]:
    """A JSON object of strings (metadata); None is an empty map, as in Go."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise MalformedRequest(f"{where}: must be an object of string values, got {value!r}")
    return dict(value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: must be a JSON object, got {type(value).__name__}")
    return value


def _etag(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedRequest(f"{where}.etag: must be a string, got {value!r}")
    return value


def _concurrency(options: Any, where: str) -> Concurrency:
    options = _object(options if options is not None else {}, f"{where}.options")
    text = options.get("concurrency") or "last-write"
    if text not in _CONCURRENCY:
        raise MalformedRequest(f"{where}.options.concurrency: must be first-write or "
                               f"last-write, got {text!r}")
    return _CONCURRENCY[text]


def _set_request(item: Any, where: str) -> SetRequest:
    item = _object(item, where)
    if "value" not in item:
        raise MalformedRequest(f"{where}.value: missing")
    return SetRequest(
        key=check_key(item.get("key"), f"{where}.key"),
        value=dump_json(item["value"]),
        etag=_etag(item.get("etag"), where),
        concurrency=_concurrency(item.get("options"), where),
        metadata=string_map(item.get("metadata"), f"{where}.metadata"))


def set_requests(body: Any) -> list[SetRequest]:
    """``POST /v1.0/state/<store>``: an array of state items."""
    if not isinstance(body, list):
        raise MalformedRequest("failed deserializing HTTP body: expected a JSON array of "
                               f"state items, got {type(body).__name__}")
    return [_set_request(item, f"item {i}") for i, item in enumerate(body)]


def delete_request(key: str, etag: str | None, concurrency: str | None,
                   metadata: dict[str, str]) -> DeleteRequest:
    return DeleteRequest(key=check_key(key), etag=etag or None,
                         concurrency=_concurrency({"concurrency": concurrency}, "query"),
                         metadata=metadata)


def bulk_keys(body: Any) -> tuple[list[str], dict[str, str]]:
    """``POST /v1.0/state/<store>/bulk``: ``{"keys": [...], "parallelism": n}``."""
    body = _object(body, "body")
    keys = body.get("keys") or []
    if not isinstance(keys, list):
        raise MalformedRequest("keys: must be an array of strings")
    parallelism = body.get("parallelism")
    if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 0):
        raise MalformedRequest("parallelism: must be a non-negative integer")
    return ([check_key(k, f"keys[{i}]") for i, k in enumerate(keys)],
            string_map(body.get("metadata"), "metadata"))


def _operation(op: Any, where: str) -> TransactionOperation:
    op = _object(op, where)
    kind = op.get("operation")
    request = _object(op.get("request"), f"{where}.request")
    if kind == "upsert":
        return TransactionOperation("upsert", _set_request(request, f"{where}.request"))
    if kind == "delete":
        return TransactionOperation("delete", DeleteRequest(
            key=check_key(request.get("key"), f"{where}.request.key"),
            etag=_etag(request.get("etag"), f"{where}.request"),
            concurrency=_concurrency(request.get("options"), f"{where}.request"),
            metadata=string_map(request.get("metadata"), f"{where}.request.metadata")))
    raise StateOperationNotSupported(f"operation type {kind} not supported")


def transaction_operations(body: Any) -> tuple[list[TransactionOperation], dict[str, str]]:
    """``POST /v1.0/state/<store>/transaction``: ``{"operations": [...], "metadata": {}}``."""
    body = _object(body, "body")
    operations = body.get("operations")
    if not isinstance(operations, list):
        raise MalformedRequest("operations: must be an array")
    return ([_operation(op, f"operations[{i}]") for i, op in enumerate(operations)],
            string_map(body.get("metadata"), "metadata"))


def binding_request(body: Any) -> BindingRequest:
    """``POST /v1.0/bindings/<name>``: the binding gets the JSON text of ``data``, as daprd."""
    body = _object(body, "body")
    operation = body.get("operation", "")
    if not isinstance(operation, str):
        raise MalformedRequest(f"operation: must be a string, got {operation!r}")
    return BindingRequest(operation=operation, data=dump_json(body.get("data")),
                          metadata=string_map(body.get("metadata"), "metadata"))

"""Small builders shared by the binding tests."""

from __future__ import annotations

from sidecar.components.bindings.base import BindingRequest

__all__ = ["sql_request"]


def sql_request(operation: str, sql: str, params: str | None = None) -> BindingRequest:
    metadata = {"sql": sql}
    if params is not None:
        metadata["params"] = params
    return BindingRequest(operation=operation, metadata=metadata)

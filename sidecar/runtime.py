"""The building blocks behind both API front ends (http_api.py, grpc_api.py).

One ``Runtime`` per process serves one app id, like daprd. Front ends only translate
HTTP/gRPC to these calls and ``DaprError``s back; no front end talks to a component directly.
Keys are given and returned *unprefixed*: the runtime applies the store's ``keyPrefix``.

INTERFACE CONTRACT (filled in by the sidecar-core work; signatures are fixed):

    Runtime(settings: Settings, components: Registry)
    .app_id -> str
    .get_state(store, key, metadata) -> GetResponse | None
    .bulk_get_state(store, keys, metadata) -> list[tuple[str, GetResponse | None]]
    .save_state(store, items: list[SetRequest]) -> None
    .delete_state(store, request: DeleteRequest) -> None
    .transact_state(store, operations: list[TransactionOperation], metadata) -> None
    .get_secret(store, key, metadata) -> dict[str, str]
    .bulk_get_secret(store, metadata) -> dict[str, dict[str, str]]
    .invoke_binding(name, request: BindingRequest) -> BindingResponse
    .invoke_app(app_id, method, request: AppRequest) -> AppResponse
         service invocation: app_id == own id goes to the own app, any other id is
         looked up in the name-resolution registry and forwarded to that runtime.
    .metadata() -> dict   (the JSON of daprd's GET /v1.0/metadata)
    .start() / .stop()    (input bindings, registry entry, component close)

Errors: every method raises ``sidecar.errors.DaprError`` subclasses only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AppRequest", "AppResponse"]


@dataclass(frozen=True)
class AppRequest:
    """A service-invocation request, protocol-neutral."""

    http_verb: str = "POST"
    #: Query string without the leading "?".
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class AppResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""

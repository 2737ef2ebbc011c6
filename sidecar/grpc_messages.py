"""Pure converters between the gRPC API's protobuf messages and the runtime's types.

The gRPC counterpart of ``http_requests.py``: state items to ``SetRequest``/``DeleteRequest``/
``TransactionOperation``, an ``InvokeRequest`` and the caller's metadata to the ``AppRequest``,
the app's reply headers to gRPC metadata, and ``Runtime.metadata()`` to ``GetMetadataResponse``.
Bad input raises ``MalformedRequest`` (or ``StateOperationNotSupported``), which ``grpc_api``
turns into a status. Kept apart from ``grpc_api.py`` so the handlers there stay thin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dapr.proto import api_v1, common_v1
from google.protobuf import json_format

from .components.state.base import Concurrency, DeleteRequest, SetRequest, TransactionOperation
from .errors import MalformedRequest, StateOperationNotSupported
from .invoke.messages import (
    API_TOKEN_HEADER,
    HTTP_STATUS_HEADER,
    PERMANENT_HEADERS,
    AppRequest,
    AppResponse,
)

__all__ = [
    "app_request",
    "delete_request",
    "metadata_response",
    "reply_metadata",
    "set_request",
    "transaction_operation",
]

_CONCURRENCY: dict[int, Concurrency] = {
    common_v1.StateOptions.CONCURRENCY_FIRST_WRITE: "first-write",
    common_v1.StateOptions.CONCURRENCY_LAST_WRITE: "last-write",
}
_Verb = common_v1.HTTPExtension.Verb
# Go's net/http cannot send CONNECT and NONE is no verb, so daprd refuses both.
_UNSENDABLE_VERBS = frozenset({_Verb.Value("NONE"), _Verb.Value("CONNECT")})
_METADATA_KEY = re.compile(r"[0-9a-z_.\-]+")
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")
# Caller metadata that must not reach the app: the token is for this runtime only, the rest
# describes the gRPC transport rather than the caller's request.
_NOT_FORWARDED = frozenset({"content-type", API_TOKEN_HEADER, "te", "user-agent"})


def _etag(item: common_v1.StateItem | api_v1.DeleteStateRequest) -> str | None:
    # An absent Etag message means "no etag"; an empty one is an etag the store must judge.
    return item.etag.value if item.HasField("etag") else None


def _concurrency(item: common_v1.StateItem | api_v1.DeleteStateRequest) -> Concurrency:
    return _CONCURRENCY.get(item.options.concurrency, "last-write")


def set_request(item: common_v1.StateItem) -> SetRequest:
    if not item.key:
        raise MalformedRequest("state key cannot be empty")
    metadata = dict(item.metadata)
    if metadata.get("contentType") == "application/json":
        _check_json(item.key, item.value)
    return SetRequest(key=item.key, value=item.value, etag=_etag(item),
                      concurrency=_concurrency(item), metadata=metadata)


def _check_json(key: str, value: bytes) -> None:
    """daprd decodes values sent with contentType application/json; so must they decode."""
    try:
        json.loads(value)
    except ValueError as err:
        raise MalformedRequest(
            f"value of key {key!r} is not valid JSON but contentType is application/json: "
            f"{err}") from err


def delete_request(item: common_v1.StateItem | api_v1.DeleteStateRequest) -> DeleteRequest:
    return DeleteRequest(key=item.key, etag=_etag(item), concurrency=_concurrency(item),
                         metadata=dict(item.metadata))


def transaction_operation(op: api_v1.TransactionalStateOperation) -> TransactionOperation:
    if op.operationType == "upsert":
        return TransactionOperation("upsert", set_request(op.request))
    if op.operationType == "delete":
        return TransactionOperation("delete", delete_request(op.request))
    raise StateOperationNotSupported(
        f"operation type {op.operationType!r} not supported; use 'upsert' or 'delete'")


def app_request(message: common_v1.InvokeRequest,
                caller_metadata: Iterable[tuple[str, str | bytes]]) -> AppRequest:
    """The request for the app; without an HTTP extension the verb is "" (gRPC apps only)."""
    extension = message.http_extension
    if message.HasField("http_extension") and extension.verb in _UNSENDABLE_VERBS:
        raise MalformedRequest(f"invalid HTTP verb {_Verb.Name(extension.verb)}")
    headers = {}
    for key, value in caller_metadata:
        if key.startswith(":") or key.endswith("-bin") or key in _NOT_FORWARDED:
            continue
        # grpc-* names are reserved by the transport, so daprd renames them for the app.
        headers["dapr-" + key if key.startswith("grpc-") else key] = str(value)
    verb = _Verb.Name(extension.verb) if message.HasField("http_extension") else ""
    return AppRequest(http_verb=verb, query=extension.querystring, headers=headers,
                      body=message.data.value, content_type=message.content_type,
                      type_url=message.data.type_url)


def reply_metadata(response: AppResponse) -> list[tuple[str, str]]:
    """The app's headers as gRPC initial metadata, plus its status, as daprd sends them."""
    metadata = [(HTTP_STATUS_HEADER, str(response.status))]
    for key, value in response.headers.items():
        key = key.lower()
        if key in PERMANENT_HEADERS:
            key = "dapr-" + key
        if (key.startswith("grpc-") or key.endswith("-bin") or key == HTTP_STATUS_HEADER
                or not _METADATA_KEY.fullmatch(key) or not _METADATA_VALUE.fullmatch(value)):
            continue  # not representable as gRPC metadata
        metadata.append((key, value))
    return metadata


def metadata_response(info: Mapping[str, Any]) -> api_v1.GetMetadataResponse:
    """GetMetadata from the JSON document ``Runtime.metadata()`` serves over HTTP."""
    components = [
        api_v1.RegisteredComponents(name=c.get("name", ""), type=c.get("type", ""),
                                    version=c.get("version", ""),
                                    capabilities=c.get("capabilities") or [])
        for c in info.get("components") or []
    ]
    extended = dict(info.get("extended") or {})
    response = api_v1.GetMetadataResponse(
        id=info.get("id", ""), runtime_version=info.get("runtimeVersion", ""),
        registered_components=components, extended_metadata=extended,
        enabled_features=info.get("enabledFeatures") or [])
    for sub in info.get("subscriptions") or []:
        response.subscriptions.append(api_v1.PubsubSubscription(
            pubsub_name=sub["pubsubname"], topic=sub["topic"],
            metadata=sub.get("metadata") or {}, dead_letter_topic=sub["deadLetterTopic"],
            type=api_v1.PubsubSubscriptionType.Value(sub["type"]),
            rules=api_v1.PubsubSubscriptionRules(rules=[
                api_v1.PubsubSubscriptionRule(match=r.get("match", ""), path=r.get("path", ""))
                for r in sub["rules"]])))
    if info.get("appConnectionProperties"):
        json_format.ParseDict(info["appConnectionProperties"],
                              response.app_connection_properties, ignore_unknown_fields=True)
    return response

"""One error family for the whole runtime, in the shapes daprd uses.

Every failure a caller can see is a ``DaprError``: its ``code`` is daprd's ``errorCode``
(``ERR_STATE_GET``, ...), ``http_status`` the status daprd's HTTP API answers with and
``grpc_status`` the status its gRPC API answers with. The HTTP body is
``{"errorCode": code, "message": message}``, which is what the dapr SDK parses into
``DaprHttpError`` / ``DaprInternalError``.

Where daprd builds the error with dapr/kit's rich-error builder (``pkg/api/errors/*.go``),
``reason`` is its ``google.rpc.ErrorInfo`` reason (``DAPR_STATE_NOT_FOUND``, ...): the gRPC
status then carries ErrorInfo (domain ``dapr.io``), ResourceInfo and BadRequest details as
daprd's do, and the HTTP body adds them under ``details``. Where daprd sends a plain status
(``pkg/messages`` APIError: ``ERR_STATE_GET`` and most others) ``reason`` is None and no
details are sent, so the SDK's ``DaprGrpcError.error_code()`` says ``UNKNOWN`` as it does
against daprd.

    DaprError
    ├── ComponentConfigError      start-up: a component file is wrong (names file and field)
    ├── MalformedRequest          400 ERR_MALFORMED_REQUEST
    │   ├── StateKeyIllegal       400 ERR_MALFORMED_REQUEST (DAPR_STATE_ILLEGAL_KEY)
    │   └── StateOperationNotSupported  400 ERR_NOT_SUPPORTED_STATE_OPERATION
    ├── StateStoreNotConfigured   500 ERR_STATE_STORES_NOT_CONFIGURED (DAPR_STATE_NOT_CONFIGURED)
    ├── StateStoreNotFound        400 ERR_STATE_STORE_NOT_FOUND (DAPR_STATE_NOT_FOUND)
    ├── StateGetError             500 ERR_STATE_GET
    ├── StateSaveError            500 ERR_STATE_SAVE
    │   └── StateRequestInvalid   500 ERR_STATE_SAVE (bad ttlInSeconds and the like)
    ├── StateDeleteError          500 ERR_STATE_DELETE
    ├── StateTransactionError     500 ERR_STATE_TRANSACTION
    ├── ETagMismatch              409 (gRPC ABORTED)
    ├── ETagInvalid               400 (gRPC INVALID_ARGUMENT)
    ├── SecretStoreNotConfigured  500 ERR_SECRET_STORES_NOT_CONFIGURED
    ├── SecretStoreNotFound       401 ERR_SECRET_STORE_NOT_FOUND
    ├── SecretGetError            500 ERR_SECRET_GET
    │   └── SecretNotFound        500 ERR_SECRET_GET (no such secret)
    ├── BindingInvokeError        500 ERR_INVOKE_OUTPUT_BINDING (DAPR_BINDING_INVOKE_OUTPUT_BINDING)
    │   ├── BindingNotFound       500 (no output binding of that name)
    │   ├── BindingRequestError   500 (the request is wrong: fix it, not the backend)
    │   └── BindingItemNotFound   500 (the file or object named does not exist)
    ├── DirectInvokeError         500 ERR_DIRECT_INVOKE
    ├── AppNotFound               500 ERR_DIRECT_INVOKE (no such app id registered)
    ├── PubSubNotConfigured       400 ERR_PUBSUB_NOT_CONFIGURED (gRPC FAILED_PRECONDITION)
    ├── PubSubNameEmpty           404 ERR_PUBSUB_EMPTY (gRPC INVALID_ARGUMENT)
    ├── PubSubNotFound            404 ERR_PUBSUB_NOT_FOUND (gRPC INVALID_ARGUMENT)
    ├── PubSubTopicEmpty          404 ERR_TOPIC_EMPTY (gRPC INVALID_ARGUMENT)
    ├── PubSubMetadataError       400 ERR_PUBSUB_REQUEST_METADATA (gRPC INVALID_ARGUMENT)
    ├── PubSubForbidden           403 ERR_PUBSUB_FORBIDDEN (gRPC PERMISSION_DENIED)
    ├── PubSubPublishError        500 ERR_PUBSUB_PUBLISH_MESSAGE (gRPC INTERNAL)
    ├── PubSubCloudEventError     500 ERR_PUBSUB_CLOUD_EVENTS_SER (gRPC INVALID_ARGUMENT)
    └── PubSubEventsError         400 ERR_PUBSUB_EVENTS_SER (gRPC INVALID_ARGUMENT)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import grpc

__all__ = [
    "ERROR_DOMAIN",
    "AppNotFound",
    "BindingInvokeError",
    "BindingItemNotFound",
    "BindingNotFound",
    "BindingRequestError",
    "ComponentConfigError",
    "DaprError",
    "DirectInvokeError",
    "ETagInvalid",
    "ETagMismatch",
    "MalformedRequest",
    "PubSubCloudEventError",
    "PubSubEventsError",
    "PubSubForbidden",
    "PubSubMetadataError",
    "PubSubNameEmpty",
    "PubSubNotConfigured",
    "PubSubNotFound",
    "PubSubPublishError",
    "PubSubTopicEmpty",
    "SecretGetError",
    "SecretNotFound",
    "SecretStoreNotConfigured",
    "SecretStoreNotFound",
    "StateDeleteError",
    "StateGetError",
    "StateKeyIllegal",
    "StateOperationNotSupported",
    "StateRequestInvalid",
    "StateSaveError",
    "StateStoreNotConfigured",
    "StateStoreNotFound",
    "StateTransactionError",
]


#: ``google.rpc.ErrorInfo.domain`` of every rich error daprd sends.
ERROR_DOMAIN = "dapr.io"
_TYPE_PREFIX = "type.googleapis.com/google.rpc."
# The owner daprd's ResourceInfo names.
_RESOURCE_OWNER = "components-contrib"


class DaprError(Exception):
    """Base of every error the runtime reports; subclasses only set the class attributes."""

    code: str = "ERR_INTERNAL"
    http_status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    #: daprd's ErrorInfo reason, or None where daprd sends no rich details.
    reason: ClassVar[str | None] = None
    #: ResourceInfo.resource_type daprd adds ("state", "binding"), "" for none.
    resource_type: ClassVar[str] = ""

    def __init__(self, message: str, *, resource_name: str = "",
                 metadata: Mapping[str, str] | None = None,
                 field_violations: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.resource_name = resource_name
        self.metadata = dict(metadata or {})
        self.field_violations = tuple(field_violations)

    def details(self) -> list[dict[str, Any]]:
        """The rich details daprd sends, as JSON (protobuf field names); [] for none."""
        if self.reason is None:
            return []
        found: list[dict[str, Any]] = [{
            "@type": _TYPE_PREFIX + "ErrorInfo", "reason": self.reason,
            "domain": ERROR_DOMAIN, "metadata": self.metadata}]
        if self.resource_type:
            found.append({"@type": _TYPE_PREFIX + "ResourceInfo",
                          "resource_type": self.resource_type,
                          "resource_name": self.resource_name, "owner": _RESOURCE_OWNER,
                          "description": self.message})
        if self.field_violations:
            found.append({"@type": _TYPE_PREFIX + "BadRequest", "field_violations": [
                {"field": name, "description": text} for name, text in self.field_violations]})
        return found

    def to_json(self) -> dict[str, Any]:
        """The body daprd sends: ``{"errorCode": ..., "message": ...}`` (+ ``details``)."""
        body: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        details = self.details()
        if details:
            body["details"] = details
        return body


class ComponentConfigError(DaprError):
    code = "ERR_COMPONENT_CONFIG"


class MalformedRequest(DaprError):
    code, http_status, grpc_status = (
        "ERR_MALFORMED_REQUEST", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)


class StateKeyIllegal(MalformedRequest):
    """A state key containing ``||`` (daprd's StateStoreInvalidKeyName)."""

    reason, resource_type = "DAPR_STATE_ILLEGAL_KEY", "state"

    def __init__(self, store: str, key: str) -> None:
        message = f"input key/keyPrefix '{key}' can't contain '||'"
        super().__init__(message, resource_name=store, field_violations=[(key, message)])


class StateOperationNotSupported(MalformedRequest):
    """A transaction operation other than upsert/delete (gRPC: UNIMPLEMENTED, as daprd)."""

    code, grpc_status = "ERR_NOT_SUPPORTED_STATE_OPERATION", grpc.StatusCode.UNIMPLEMENTED


class StateStoreNotConfigured(DaprError):
    code, grpc_status = "ERR_STATE_STORES_NOT_CONFIGURED", grpc.StatusCode.FAILED_PRECONDITION
    reason = "DAPR_STATE_NOT_CONFIGURED"


class StateStoreNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_STATE_STORE_NOT_FOUND", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_STATE_NOT_FOUND"


class StateGetError(DaprError):
    code = "ERR_STATE_GET"


class StateSaveError(DaprError):
    code = "ERR_STATE_SAVE"


class StateRequestInvalid(StateSaveError):
    """Request metadata a store cannot accept (a 500, as daprd: the store's Set fails)."""


class StateDeleteError(DaprError):
    code = "ERR_STATE_DELETE"


class StateTransactionError(DaprError):
    code = "ERR_STATE_TRANSACTION"


class ETagMismatch(DaprError):
    """The stored etag differs from the one given (first-write or optimistic concurrency)."""

    code, http_status, grpc_status = (
        "ERR_STATE_SAVE", HTTPStatus.CONFLICT, grpc.StatusCode.ABORTED)


class ETagInvalid(DaprError):
    """The etag given cannot be one this store produced."""

    code, http_status, grpc_status = (
        "ERR_STATE_SAVE", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)


class SecretStoreNotConfigured(DaprError):
    code, grpc_status = "ERR_SECRET_STORES_NOT_CONFIGURED", grpc.StatusCode.FAILED_PRECONDITION
    reason = ""  # daprd's errorcodes give secret errors an ErrorInfo with an empty reason


class SecretStoreNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_SECRET_STORE_NOT_FOUND", HTTPStatus.UNAUTHORIZED, grpc.StatusCode.INVALID_ARGUMENT)
    reason = ""


class SecretGetError(DaprError):
    code, reason = "ERR_SECRET_GET", ""


class SecretNotFound(SecretGetError):
    """The store has no such secret (daprd: 500 ERR_SECRET_GET, as any failed get)."""


class BindingInvokeError(DaprError):
    """Every output-binding failure: 500 / INTERNAL, as daprd's BindingError."""

    code, reason, resource_type = (
        "ERR_INVOKE_OUTPUT_BINDING", "DAPR_BINDING_INVOKE_OUTPUT_BINDING", "binding")


class BindingNotFound(BindingInvokeError):
    """No output binding of that name (daprd: the same 500 as any binding failure)."""


class BindingRequestError(BindingInvokeError):
    """The request itself is wrong (unknown operation, bad metadata); the message says so."""


class BindingItemNotFound(BindingInvokeError):
    """The file or object the request names does not exist; the message says so."""


class DirectInvokeError(DaprError):
    code = "ERR_DIRECT_INVOKE"


class AppNotFound(DirectInvokeError):
    pass


# -- pub/sub (daprd's pkg/api/errors/pubsub.go: codes, statuses and ErrorInfo reasons) ----------


class PubSubNotConfigured(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_NOT_CONFIGURED", HTTPStatus.BAD_REQUEST, grpc.StatusCode.FAILED_PRECONDITION)
    reason = "DAPR_PUBSUB_NOT_CONFIGURED"


class PubSubNameEmpty(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_EMPTY", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_PUBSUB_NAME_EMPTY"


class PubSubNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_NOT_FOUND", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_PUBSUB_NOT_FOUND"


class PubSubTopicEmpty(DaprError):
    code, http_status, grpc_status = (
        "ERR_TOPIC_EMPTY", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_PUBSUB_TOPIC_NAME_EMPTY"


class PubSubMetadataError(DaprError):
    """Request metadata that cannot be read (``rawPayload`` that is not a boolean)."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_REQUEST_METADATA", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_PUBSUB_METADATA_DESERIALIZATION"


class PubSubForbidden(DaprError):
    """The topic is outside the app's publishing scopes / allowed or protected topics."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_FORBIDDEN", HTTPStatus.FORBIDDEN, grpc.StatusCode.PERMISSION_DENIED)
    reason = "DAPR_PUBSUB_FORBIDDEN"


class PubSubPublishError(DaprError):
    """The broker did not take the message (down, refused, no publisher confirm)."""

    code, reason = "ERR_PUBSUB_PUBLISH_MESSAGE", "DAPR_PUBSUB_PUBLISH_MESSAGE"


class PubSubCloudEventError(DaprError):
    """The CloudEvent envelope could not be built or serialised (daprd: 500, INVALID_ARGUMENT)."""

    code, grpc_status = "ERR_PUBSUB_CLOUD_EVENTS_SER", grpc.StatusCode.INVALID_ARGUMENT
    reason = "DAPR_PUBSUB_CLOUD_EVENT_CREATION"


class PubSubEventsError(DaprError):
    """A bulk publish body that cannot be read, or entries without unique ``entryId``s."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_EVENTS_SER", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)
    reason = "DAPR_PUBSUB_UNMARSHAL_EVENTS"

"""One error family for the whole runtime, in the shapes daprd uses.

Every failure a caller can see is a ``DaprError``: its ``code`` is daprd's ``errorCode``
(``ERR_STATE_GET``, ...), ``http_status`` the status daprd's HTTP API answers with and
``grpc_status`` the status its gRPC API answers with. The HTTP body is
``{"errorCode": code, "message": message}``, which is what the dapr SDK parses into
``DaprHttpError`` / ``DaprInternalError``.

    DaprError
    ├── ComponentConfigError      start-up: a component file is wrong (names file and field)
    ├── MalformedRequest          400 ERR_MALFORMED_REQUEST
    │   └── StateOperationNotSupported  400 ERR_NOT_SUPPORTED_STATE_OPERATION
    ├── StateStoreNotConfigured   500 ERR_STATE_STORES_NOT_CONFIGURED
    ├── StateStoreNotFound        400 ERR_STATE_STORE_NOT_FOUND
    ├── StateGetError             500 ERR_STATE_GET
    ├── StateSaveError            500 ERR_STATE_SAVE
    │   └── StateRequestInvalid   400 ERR_STATE_SAVE (bad ttlInSeconds and the like)
    ├── StateDeleteError          500 ERR_STATE_DELETE
    ├── StateTransactionError     500 ERR_STATE_TRANSACTION
    ├── ETagMismatch              409 (gRPC ABORTED)
    ├── ETagInvalid               400 (gRPC INVALID_ARGUMENT)
    ├── SecretStoreNotConfigured  500 ERR_SECRET_STORES_NOT_CONFIGURED
    ├── SecretStoreNotFound       401 ERR_SECRET_STORE_NOT_FOUND
    ├── SecretGetError            500 ERR_SECRET_GET
    │   └── SecretNotFound        404 ERR_SECRET_GET (daprd: 500)
    ├── BindingNotFound           404 ERR_INVOKE_OUTPUT_BINDING
    ├── BindingInvokeError        500 ERR_INVOKE_OUTPUT_BINDING
    │   ├── BindingRequestError   400 (the request is wrong: fix it, not the backend)
    │   └── BindingItemNotFound   404 (the file or object named does not exist)
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

from http import HTTPStatus

import grpc

__all__ = [
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
    "StateOperationNotSupported",
    "StateRequestInvalid",
    "StateSaveError",
    "StateStoreNotConfigured",
    "StateStoreNotFound",
    "StateTransactionError",
]


class DaprError(Exception):
    """Base of every error the runtime reports; subclasses only set the class attributes."""

    code: str = "ERR_INTERNAL"
    http_status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, str]:
        """The body daprd sends: ``{"errorCode": ..., "message": ...}``."""
        return {"errorCode": self.code, "message": self.message}


class ComponentConfigError(DaprError):
    code = "ERR_COMPONENT_CONFIG"


class MalformedRequest(DaprError):
    code, http_status, grpc_status = (
        "ERR_MALFORMED_REQUEST", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)


class StateOperationNotSupported(MalformedRequest):
    """A transaction operation other than upsert/delete (gRPC: UNIMPLEMENTED, as daprd)."""

    code, grpc_status = "ERR_NOT_SUPPORTED_STATE_OPERATION", grpc.StatusCode.UNIMPLEMENTED


class StateStoreNotConfigured(DaprError):
    code, grpc_status = "ERR_STATE_STORES_NOT_CONFIGURED", grpc.StatusCode.FAILED_PRECONDITION


class StateStoreNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_STATE_STORE_NOT_FOUND", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)


class StateGetError(DaprError):
    code = "ERR_STATE_GET"


class StateSaveError(DaprError):
    code = "ERR_STATE_SAVE"


class StateRequestInvalid(StateSaveError):
    """Request metadata a store cannot accept; daprd answers 500, this runtime 400."""

    http_status, grpc_status = HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT


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


class SecretStoreNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_SECRET_STORE_NOT_FOUND", HTTPStatus.UNAUTHORIZED, grpc.StatusCode.INVALID_ARGUMENT)


class SecretGetError(DaprError):
    code = "ERR_SECRET_GET"


class SecretNotFound(SecretGetError):
    """The store has no such secret: the caller asked for a wrong name, so a 404."""

    http_status, grpc_status = HTTPStatus.NOT_FOUND, grpc.StatusCode.NOT_FOUND


class BindingNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_INVOKE_OUTPUT_BINDING", HTTPStatus.NOT_FOUND, grpc.StatusCode.NOT_FOUND)


class BindingInvokeError(DaprError):
    code = "ERR_INVOKE_OUTPUT_BINDING"


class BindingRequestError(BindingInvokeError):
    """The request itself is wrong (unknown operation, bad metadata): a 400, not a 500.

    daprd answers every binding failure with 500; we keep its errorCode but say 400 when the
    caller has to change the request, so clients can tell their bug from a backend outage.
    """

    http_status = HTTPStatus.BAD_REQUEST
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class BindingItemNotFound(BindingInvokeError):
    """The file or object the request names does not exist: a 404 (daprd says 500)."""

    http_status = HTTPStatus.NOT_FOUND
    grpc_status = grpc.StatusCode.NOT_FOUND


class DirectInvokeError(DaprError):
    code = "ERR_DIRECT_INVOKE"


class AppNotFound(DirectInvokeError):
    pass


# -- pub/sub (daprd's pkg/api/errors/pubsub.go: codes and statuses as daprd sends them) ---------


class PubSubNotConfigured(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_NOT_CONFIGURED", HTTPStatus.BAD_REQUEST, grpc.StatusCode.FAILED_PRECONDITION)


class PubSubNameEmpty(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_EMPTY", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


class PubSubNotFound(DaprError):
    code, http_status, grpc_status = (
        "ERR_PUBSUB_NOT_FOUND", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


class PubSubTopicEmpty(DaprError):
    code, http_status, grpc_status = (
        "ERR_TOPIC_EMPTY", HTTPStatus.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


class PubSubMetadataError(DaprError):
    """Request metadata that cannot be read (``rawPayload`` that is not a boolean)."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_REQUEST_METADATA", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)


class PubSubForbidden(DaprError):
    """The topic is outside the app's publishing scopes / allowed or protected topics."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_FORBIDDEN", HTTPStatus.FORBIDDEN, grpc.StatusCode.PERMISSION_DENIED)


class PubSubPublishError(DaprError):
    """The broker did not take the message (down, refused, no publisher confirm)."""

    code = "ERR_PUBSUB_PUBLISH_MESSAGE"


class PubSubCloudEventError(DaprError):
    """The CloudEvent envelope could not be built or serialised (daprd: 500, INVALID_ARGUMENT)."""

    code, grpc_status = "ERR_PUBSUB_CLOUD_EVENTS_SER", grpc.StatusCode.INVALID_ARGUMENT


class PubSubEventsError(DaprError):
    """A bulk publish body that cannot be read, or entries without unique ``entryId``s."""

    code, http_status, grpc_status = (
        "ERR_PUBSUB_EVENTS_SER", HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT)

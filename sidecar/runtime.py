"""The building blocks behind both API front ends (http_api.py, grpc_api.py).

One ``Runtime`` per process serves one app id, like daprd. Front ends only translate
HTTP/gRPC to these calls and ``DaprError``s back; no front end talks to a component directly.
Keys are given and returned *unprefixed*: the runtime applies the store's ``keyPrefix``.
Service invocation goes to the own app for the own app id and to that app's runtime for any
other (``invoke/``); ``start`` registers the runtime for name resolution and starts input
bindings, ``stop`` undoes both and closes the components. Every method raises
``sidecar.errors.DaprError`` subclasses only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http import HTTPStatus
from typing import Any, TypeVar

import grpc

from .components.bindings.base import BindingRequest, BindingResponse
from .components.registry import Registry
from .components.state.base import (
    KEY_SEPARATOR,
    DeleteRequest,
    GetResponse,
    SetRequest,
    StateStore,
    TransactionOperation,
)
from .configuration import Configuration
from .errors import (
    BindingInvokeError,
    BindingNotFound,
    DaprError,
    DirectInvokeError,
    SecretGetError,
    SecretStoreNotConfigured,
    SecretStoreNotFound,
    StateDeleteError,
    StateGetError,
    StateKeyIllegal,
    StateSaveError,
    StateStoreNotConfigured,
    StateStoreNotFound,
    StateTransactionError,
)
from .input_bindings import InputBindingDelivery
from .invoke import registry_dir
from .invoke.channel import AppChannel
from .invoke.channels import new_app_channel
from .invoke.invoker import Invoker
from .invoke.messages import CALLER_HEADER, FORWARD_HEADER, AppRequest, AppResponse, header
from .pubsub.manager import BulkEntries, PubSubManager
from .pubsub.streaming import StreamingSubscriptions
from .resiliency import BINDING, SECRETSTORE, STATESTORE, Resiliency, ResiliencyError
from .resiliency.config import BUILT_IN_SERVICE_RETRIES, load_resiliency
from .settings import RUNTIME_VERSION, Settings
from .tracing import TRACEPARENT, TRACESTATE, current

__all__ = ["Runtime"]

_log = logging.getLogger(__name__)
_Keyed = TypeVar("_Keyed", bound=SetRequest | DeleteRequest)
_T = TypeVar("_T")
_TRANSPORT_RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


def _retriable(error: BaseException) -> bool:
    """Component errors are retried, except those the caller must fix (4xx: etag, request)."""
    return not (isinstance(error, DaprError) and error.http_status < 500)


def _unreachable(error: BaseException) -> bool:
    """daprd's built-in service retries: only when the target runtime cannot be reached."""
    cause = error.__cause__
    return isinstance(cause, grpc.RpcError) and cause.code() in _TRANSPORT_RETRIED


def _app_failure(response: AppResponse) -> int | None:
    """daprd treats an app reply outside 200-399 as a failed invocation (retried, counted)."""
    return None if 200 <= response.status <= 399 else response.status


@contextmanager
def _reported(fallback: type[DaprError], prefix: str, code: str | None = None,
              binding: str = "") -> Iterator[None]:
    """Re-raise any failure as a DaprError whose message starts with daprd's ``prefix``.

    The class of a DaprError is kept (so ETagMismatch stays a 409); anything else a component
    lets escape becomes ``fallback``, because a component bug must not crash the request.
    For an output ``binding``, the details name it and the error, as daprd's BindingError.
    """
    try:
        yield
    except DaprError as err:
        wrapped = err.__class__.__new__(err.__class__)
        DaprError.__init__(wrapped, f"{prefix}{err.message}", resource_name=binding,
                           metadata=_binding_detail(binding, err.message))
        wrapped.code = code or err.code
        if wrapped.http_status >= HTTPStatus.INTERNAL_SERVER_ERROR:  # a component's fault
            _log.warning("component call failed: %s", wrapped)  # summarised when repeated
        raise wrapped from err
    except ResiliencyError as err:  # a timeout or an open circuit breaker, said as daprd does
        _log.warning("component call failed: %s%s", prefix, err)
        raise fallback(f"{prefix}{err}") from err
    except Exception as err:
        _log.exception("component failure")
        raise fallback(f"{prefix}{err}", resource_name=binding,
                       metadata=_binding_detail(binding, str(err))) from err


def _binding_detail(binding: str, error: str) -> dict[str, str]:
    return {"name": binding, "error": error} if binding else {}


def _check_keys(store: str, keys: Iterable[str]) -> None:
    """daprd refuses keys containing its separator, whatever the store's keyPrefix."""
    for key in keys:
        if KEY_SEPARATOR in key:
            raise StateKeyIllegal(store, key)


class Runtime:
    """The building blocks of one app id over the loaded components (see module docstring)."""

    def __init__(self, settings: Settings, components: Registry,
                 resiliency: Resiliency | None = None,
                 configuration: Configuration | None = None) -> None:
        self.settings = settings
        self.components = components
        #: ``--config`` (secret scopes, API rules, access control, tracing); daprd's default.
        self.configuration = configuration or Configuration()
        self.tracer = self.configuration.tracer(settings.app_id)
        self.resiliency = resiliency or Resiliency(
            load_resiliency(settings.resources_paths, settings.app_id))
        self._invoker: Invoker | None = None
        self._channel: AppChannel | None = None
        self._channel_made = False
        self._input_bindings: InputBindingDelivery | None = None
        # Reads declarative subscriptions: a bad Subscription file fails here, at start-up.
        self._pubsub = PubSubManager(settings, components, self.resiliency)
        self._started = False
        self._closed = False
        self._ready = False
        self._lock = threading.Lock()
        # Set through the metadata API (PUT /v1.0/metadata/<key>, SetMetadata).
        self._extended: dict[str, str] = {}

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    @property
    def ready(self) -> bool:
        """True between ``start`` and ``stop``: what the health endpoint reports."""
        return self._ready

    # -- state ------------------------------------------------------------------------------

    def _store(self, name: str) -> tuple[StateStore, str]:
        if not self.components.state_stores:
            raise StateStoreNotConfigured("state store is not configured")
        store = self.components.state_stores.get(name)
        if store is None:
            raise StateStoreNotFound(f"state store {name} is not found")
        return store, self.components.key_prefixes.get(name, "")

    def _outbound(self, name: str, kind: str, operation: Callable[[], _T]) -> _T:
        """``operation`` on component ``name`` under its outbound resiliency policy."""
        policy = self.resiliency.component_outbound(name, kind)
        return policy.run(operation, retriable=_retriable)

    def get_state(self, store: str, key: str, metadata: dict[str, str]) -> GetResponse | None:
        backend, prefix = self._store(store)
        _check_keys(store, [key])
        with _reported(StateGetError, f"fail to get {key} from state store {store}: "):
            return self._outbound(store, STATESTORE, lambda: backend.get(prefix + key, metadata))

    def bulk_get_state(self, store: str, keys: list[str],
                       metadata: dict[str, str]) -> list[tuple[str, GetResponse | None]]:
        backend, prefix = self._store(store)
        _check_keys(store, keys)
        with _reported(StateGetError, f"failed getting bulk state from state store {store}: "):
            found = self._outbound(store, STATESTORE,
                                   lambda: backend.bulk_get([prefix + key for key in keys]))
        return [(key, item) for key, (_, item) in zip(keys, found, strict=True)]

    def save_state(self, store: str, items: list[SetRequest]) -> None:
        backend, prefix = self._store(store)
        _check_keys(store, (item.key for item in items))

        def save() -> None:
            for item in items:
                backend.set(_prefixed(item, prefix))

        with _reported(StateSaveError, f"failed saving state in state store {store}: "):
            self._outbound(store, STATESTORE, save)

    def delete_state(self, store: str, request: DeleteRequest) -> None:
        backend, prefix = self._store(store)
        _check_keys(store, [request.key])
        with _reported(StateDeleteError, f"failed deleting state with key {request.key}: ",
                       code=StateDeleteError.code):
            self._outbound(store, STATESTORE, lambda: backend.delete(_prefixed(request, prefix)))

    def transact_state(self, store: str, operations: list[TransactionOperation],
                       metadata: dict[str, str]) -> None:
        backend, prefix = self._store(store)
        _check_keys(store, (op.request.key for op in operations))
        prefixed = [TransactionOperation(op.operation, _prefixed(op.request, prefix))
                    for op in operations]
        with _reported(StateTransactionError, "error while executing state transaction: ",
                       code=StateTransactionError.code):
            self._outbound(store, STATESTORE, lambda: backend.transact(prefixed))

    # -- secrets ----------------------------------------------------------------------------

    def _secret_store(self, name: str) -> Any:
        if not self.components.secret_stores:
            raise SecretStoreNotConfigured("secret store is not configured")
        store = self.components.secret_stores.get(name)
        if store is None:
            raise SecretStoreNotFound(f"failed finding secret store with key {name}")
        return store

    def get_secret(self, store: str, key: str, metadata: dict[str, str]) -> dict[str, str]:
        backend = self._secret_store(store)
        self.configuration.check_secret(store, key)
        with _reported(SecretGetError,
                       f"failed getting secret with key {key} from secret store {store}: "):
            return self._outbound(store, SECRETSTORE, lambda: backend.get(key, metadata))

    def bulk_get_secret(self, store: str, metadata: dict[str, str]) -> dict[str, dict[str, str]]:
        backend = self._secret_store(store)
        with _reported(SecretGetError, f"failed getting secrets from secret store {store}: "):
            found = self._outbound(store, SECRETSTORE, lambda: backend.bulk_get(metadata))
        # daprd filters the keys its secret scopes deny out of a bulk answer.
        return {key: value for key, value in found.items()
                if self.configuration.secret_allowed(store, key)}

    # -- bindings ---------------------------------------------------------------------------

    def invoke_binding(self, name: str, request: BindingRequest) -> BindingResponse:
        binding = self.components.output_bindings.get(name)
        if binding is None:
            reason = f"couldn't find output binding {name}"
            raise BindingNotFound(f"error when invoke output binding {name}: {reason}",
                                  resource_name=name, metadata=_binding_detail(name, reason))
        span = current()
        if span is not None:  # daprd passes the trace context to output bindings in metadata
            trace = {TRACEPARENT: span.traceparent}
            if span.tracestate:
                trace[TRACESTATE] = span.tracestate
            request = replace(request, metadata={**request.metadata, **trace})
        with _reported(BindingInvokeError, f"error when invoke output binding {name}: ",
                       binding=name):
            return self._outbound(name, BINDING, lambda: binding.invoke(request))

    # -- pub/sub (logic in sidecar/pubsub/) ------------------------------------------------

    def publish(self, pubsub: str, topic: str, data: bytes, content_type: str,
                metadata: dict[str, str]) -> None:
        self._pubsub.publish(pubsub, topic, data, content_type, metadata)

    def bulk_publish(self, pubsub: str, topic: str, entries: BulkEntries,
                     metadata: dict[str, str]) -> list[tuple[str, str]]:
        """(entryId, error) for every entry that was not published."""
        return self._pubsub.bulk_publish(pubsub, topic, entries, metadata)

    @property
    def streams(self) -> StreamingSubscriptions:
        """Streaming subscriptions (SubscribeTopicEventsAlpha1), served by the gRPC API."""
        return self._pubsub.streams

    # -- service invocation -----------------------------------------------------------------

    def invoke_app(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        """Call ``method`` on ``app_id``: the own app directly, any other through its runtime.

        The caller's runtime applies the app's resiliency policy (not the runtime a call was
        forwarded to); a remote app without a named policy also gets daprd's built-in
        retries on connection failures.
        """
        invoker = self._get_invoker()
        if header(request, FORWARD_HEADER):
            if app_id == self.app_id:  # a call from another runtime: daprd's access control
                self.configuration.check_invocation(header(request, CALLER_HEADER), method,
                                                    request.http_verb)
            return invoker.invoke(app_id, method, request)

        def call() -> AppResponse:
            return invoker.invoke(app_id, method, request)

        def call_with_built_in_retries() -> AppResponse:
            policy = self.resiliency.built_in(BUILT_IN_SERVICE_RETRIES)
            return policy.run(call, retriable=_unreachable)

        remote = app_id != self.app_id and not self.resiliency.has_app_target(app_id)
        operation = call_with_built_in_retries if remote else call
        try:
            return self.resiliency.app(app_id, method).run(operation,
                                                            failed_status=_app_failure)
        except ResiliencyError as err:
            raise DirectInvokeError(f"failed to invoke, id: {app_id}, err: {err}") from err

    def _get_invoker(self) -> Invoker:
        with self._lock:
            if self._invoker is None:
                self._invoker = Invoker(self.settings, self._get_channel())
            return self._invoker

    def _get_channel(self) -> AppChannel | None:
        """The app channel for ``--app-protocol``; None without ``--app-port``."""
        if not self._channel_made:
            self._channel = new_app_channel(self.settings)
            self._channel_made = True
        return self._channel

    # -- metadata and lifecycle -------------------------------------------------------------

    def set_metadata(self, key: str, value: str) -> None:
        """daprd's metadata set API: ``key`` appears under ``extended`` from now on."""
        with self._lock:
            self._extended[key] = value

    def metadata(self) -> dict[str, Any]:
        """daprd's ``GET /v1.0/metadata`` document."""
        settings = self.settings
        info: dict[str, Any] = {
            "id": settings.app_id,
            "runtimeVersion": RUNTIME_VERSION,
            "enabledFeatures": [],
            "actors": [],
            "components": [
                {"name": c.name, "type": c.type_name, "version": c.version,
                 "capabilities": list(c.capabilities)}
                for c in self.components.components
            ],
            # daprd copies the keys set so far, then writes its version over its own key.
            "extended": {"appCommand": "", **self._extended,
                         "daprRuntimeVersion": RUNTIME_VERSION},
            "subscriptions": self._pubsub.describe(),
        }
        if settings.app_port is not None:
            info["appConnectionProperties"] = {
                "port": settings.app_port, "protocol": settings.app_protocol,
                "channelAddress": settings.app_host,
                "maxConcurrency": settings.app_max_concurrency,
            }
        return info

    def start(self) -> None:
        """Register this runtime for name resolution and start delivering input bindings."""
        with self._lock:
            if self._started:
                return
            self._started = True
        registry_dir.register(self.settings)
        if self.components.input_bindings:
            self._input_bindings = InputBindingDelivery(self._get_channel(), self.resiliency)
            self._input_bindings.start(self.components.input_bindings)
        self._pubsub.start(self._get_channel())
        self._ready = True

    def stop(self) -> None:
        """Stop input bindings, leave the registry, close components (idempotent)."""
        with self._lock:
            started, self._started = self._started, False
            closed, self._closed = self._closed, True
            self._ready = False
        if closed:
            return
        if self._input_bindings is not None:
            self._input_bindings.stop()
        self._pubsub.stop()
        if self._channel is not None:
            self._channel.close()
        if self._invoker is not None:
            self._invoker.close()
        if started:
            registry_dir.unregister(self.settings)
        self.components.close()


def _prefixed(request: _Keyed, prefix: str) -> _Keyed:
    """A copy of a Set/DeleteRequest with the store's key prefix applied."""
    if not prefix:
        return request
    return replace(request, key=prefix + request.key)

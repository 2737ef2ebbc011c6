"""gRPC proxying (daprd's ``pkg/messaging/grpc_proxy.go`` and ``pkg/api/grpc/proxy``).

A call on the runtime's gRPC port to any service but ``dapr.proto.runtime.v1.Dapr`` is the
app's own gRPC service: ``GrpcProxy`` (a generic handler, consulted only for methods no
registered service serves, like daprd's unknown-service handler) forwards it by the
``dapr-app-id`` metadata:

    own app id   to the app's gRPC server at 127.0.0.1:<app-port>, with dapr-caller-app-id /
                 dapr-callee-app-id and ``APP_API_TOKEN``
    other id     to that app's runtime (registry folder), which forwards it to its app; the
                 forwarding runtime presents its own ``DAPR_API_TOKEN`` (see grpc_forward.py)

Messages pass as raw bytes in both directions (no serializers: any method, any message),
unary and streaming alike; the caller's metadata goes along, the app's initial metadata,
trailers (rich error details included) and status come back. Without ``dapr-app-id`` the call
fails as daprd's: UNKNOWN ``failed to proxy request: required metadata dapr-app-id not found``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, cast

import grpc

from ..settings import Settings
from .messages import (
    API_TOKEN_HEADER,
    APP_ID_HEADER,
    CALLEE_HEADER,
    CALLER_HEADER,
    FORWARD_HEADER,
)
from .registry_dir import lookup

__all__ = ["DAPR_SERVICE", "GrpcProxy"]

#: The runtime's own API: never proxied.
DAPR_SERVICE = "dapr.proto.runtime.v1.Dapr"
_NO_TIMEOUT = 10**8  # grpcio's time_remaining() without a deadline is about this or more
# Metadata grpcio sets itself, or that must not travel to the next hop.
_NOT_FORWARDED = frozenset({"user-agent", "te", "content-type", API_TOKEN_HEADER,
                            CALLER_HEADER, CALLEE_HEADER, FORWARD_HEADER})
# Rich error details (google.rpc.Status) ride in this trailer; they must come back.
_STATUS_DETAILS = "grpc-status-details-bin"
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_http_proxy", 0),
]
_log = logging.getLogger(__name__)

_Metadata = list[tuple[str, str | bytes]]


def _passed(metadata: Iterable[tuple[str, str | bytes]] | None) -> _Metadata:
    """Metadata worth passing on: not pseudo-headers, transport ones or routing markers."""
    return [(k, v) for k, v in metadata or ()
            if k not in _NOT_FORWARDED and not k.startswith(":")
            and (not k.startswith("grpc-") or k == _STATUS_DETAILS)]


def _first(metadata: Iterable[tuple[str, str | bytes]], key: str) -> str:
    return next((v for k, v in metadata if k == key and isinstance(v, str)), "")


def _fail(context: grpc.ServicerContext, message: str,
          code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("abort returned")  # it always raises


class GrpcProxy(grpc.GenericRpcHandler):
    """Serves every method of every service but Dapr's by forwarding it (module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._channels: dict[str, grpc.Channel] = {}  # target address -> open channel
        self._lock = threading.Lock()

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(f"/{DAPR_SERVICE}/"):
            return None  # an RPC of the Dapr API this runtime does not serve: UNIMPLEMENTED
        return grpc.stream_stream_rpc_method_handler(self._handler(method))

    def _handler(self, method: str) -> Callable[[Iterator[bytes], grpc.ServicerContext],
                                                Iterator[bytes]]:
        def proxy(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            return self._proxy(method, requests, context)
        return proxy

    def _target(self, app_id: str, incoming: _Metadata,
                context: grpc.ServicerContext) -> tuple[str, _Metadata]:
        """(address, metadata to send) for ``app_id``; aborts the call when there is none."""
        settings = self.settings
        metadata = _passed(incoming)
        if app_id == settings.app_id:
            if settings.app_port is None:
                _fail(context, "failed to proxy request: app channel is not initialized "
                               "(the runtime was started without --app-port)")
            forwarded = bool(_first(incoming, FORWARD_HEADER))
            caller = _first(incoming, CALLER_HEADER) if forwarded else ""
            metadata += [(CALLER_HEADER, caller or settings.app_id), (CALLEE_HEADER, app_id)]
            if settings.app_api_token:
                metadata.append((API_TOKEN_HEADER, settings.app_api_token))
            return f"{settings.app_host}:{settings.app_port}", metadata
        folder = settings.registry_dir
        entry = lookup(folder, app_id) if folder is not None else None
        if entry is None:
            _fail(context, f"failed to proxy request: couldn't find service: {app_id} "
                           f"(no live runtime registered in {folder})")
        host = f"[{entry.host}]" if ":" in entry.host else entry.host
        metadata += [(CALLER_HEADER, settings.app_id), (FORWARD_HEADER, "1")]
        if settings.api_token:
            metadata.append((API_TOKEN_HEADER, settings.api_token))
        return f"{host}:{entry.grpc_port}", metadata

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = grpc.insecure_channel(address, options=[
                    *_CHANNEL_OPTIONS,
                    ("grpc.max_send_message_length", self.settings.max_message_bytes),
                    ("grpc.max_receive_message_length", self.settings.max_message_bytes)])
                self._channels[address] = channel
            return channel

    def _proxy(self, method: str, requests: Iterator[bytes],
               context: grpc.ServicerContext) -> Iterator[bytes]:
        incoming = cast(_Metadata, list(context.invocation_metadata() or ()))
        app_id = _first(incoming, APP_ID_HEADER)
        if not app_id:
            _fail(context, f"failed to proxy request: required metadata {APP_ID_HEADER} "
                           "not found")
        address, metadata = self._target(app_id, incoming, context)
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < _NO_TIMEOUT else None
        call: Any = self._channel(address).stream_stream(method)(
            requests, metadata=metadata, timeout=timeout)
        context.add_callback(call.cancel)
        try:
            context.send_initial_metadata(_passed(call.initial_metadata()))
            yield from call
        except grpc.RpcError as err:
            failed = cast(grpc.Call, err)
            context.set_trailing_metadata(_passed(failed.trailing_metadata()))
            _fail(context, failed.details() or "", failed.code())
        context.set_trailing_metadata(_passed(call.trailing_metadata()))

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()

"""Forwarding an invocation to another app's runtime over its gRPC API, as daprd does.

The request becomes ``Dapr/InvokeService`` on the target runtime's gRPC port (from its
registry entry): verb and query string in ``http_extension``, the caller's headers as gRPC
metadata, the body in ``data``. One channel per target app id is kept open and replaced when
the registry entry's host, port or pid changes, so every hop reuses one HTTP/2 connection.

daprd's own ``InvokeService`` turns a non-2xx app reply into a gRPC error that keeps only the
first 63 characters of the body. Between two of our runtimes the app's reply must come back
whole, so the forwarding runtime marks its request with ``FORWARD_HEADER``; the target then
answers with gRPC OK and puts the app's real status in ``APP_STATUS_HEADER`` (see
``Invoker``). The app's headers come back as initial metadata, where ``grpc_api`` prefixed the
IANA permanent ones with ``dapr-``; that prefix is taken off again here.

Authentication between runtimes: daprd's sidecars call each other on an internal gRPC server
authenticated by mTLS, never with the API token. Ours call the target's public API, which
checks ``DAPR_API_TOKEN`` when the target has one; so the forwarding runtime presents *its own*
``DAPR_API_TOKEN`` (a stack shares one), never the caller's. See docs/sidecar.md.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import grpc
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import any_pb2

from ..configuration import InvocationDenied
from ..errors import DirectInvokeError, MalformedRequest
from ..settings import APP_CHANNEL_TIMEOUT, CONNECT_TIMEOUT, MAX_MESSAGE_BYTES
from ..tracing import TRACEPARENT, TRACESTATE, outgoing_headers
from .messages import (
    API_TOKEN_HEADER,
    APP_GRPC_STATUS_HEADER,
    APP_STATUS_HEADER,
    CALLER_HEADER,
    FORWARD_HEADER,
    HOP_BY_HOP_HEADERS,
    HTTP_STATUS_HEADER,
    PERMANENT_HEADERS,
    AppRequest,
    AppResponse,
)
from .registry_dir import RegistryEntry

__all__ = ["GrpcForwarder", "app_response", "invoke_request", "request_metadata"]
_DAPR_PREFIX = "dapr-"
_CHANNEL_OPTIONS = (
    # A runtime that just restarted on the same port is retried within a second, not 20 s.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", int(CONNECT_TIMEOUT * 1000)),
    ("grpc.enable_http_proxy", 0),
)
# Metadata that describes the caller's connection or that the message itself carries.
_NOT_SENT = HOP_BY_HOP_HEADERS | {"content-type", "user-agent", API_TOKEN_HEADER}
_SENDABLE_KEY = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
# NONE is no verb and Go's net/http cannot send CONNECT, so the target runtime refuses both.
_SENDABLE_VERBS = frozenset(common_v1.HTTPExtension.Verb.keys()) - {"NONE", "CONNECT"}


@dataclass(frozen=True)
class _Target:
    """One open channel and the registry entry fields it was opened for."""

    address: tuple[str, int, int]
    channel: grpc.Channel
    stub: api_service_v1.DaprStub


def _address(entry: RegistryEntry) -> str:
    host = f"[{entry.host}]" if ":" in entry.host else entry.host
    return f"{host}:{entry.grpc_port}"


def _sendable(key: str, value: str) -> bool:
    # gRPC metadata keys are lower-case tokens and text values printable ASCII.
    return (bool(key) and set(key) <= _SENDABLE_KEY and not key.endswith("-bin")
            and value.isascii() and value.isprintable())


def request_metadata(request: AppRequest, caller: str) -> list[tuple[str, str]]:
    """The caller's headers as gRPC metadata, plus the caller id and the forward marker."""
    metadata = []
    for key, value in request.headers.items():
        key = key.lower()
        if key in _NOT_SENT or key in (FORWARD_HEADER, CALLER_HEADER):
            continue
        # grpc-* names belong to the transport; daprd hands them to apps as dapr-grpc-*.
        if key.startswith("grpc-"):
            key = _DAPR_PREFIX + key
        if _sendable(key, value):
            metadata.append((key, value))
    metadata += [(CALLER_HEADER, caller), (FORWARD_HEADER, "1")]
    return metadata


def invoke_request(app_id: str, method: str, request: AppRequest) -> api_v1.InvokeServiceRequest:
    """The ``InvokeService`` message for ``request``; MalformedRequest for an unsendable verb.

    A request without a verb (a gRPC caller that sent no HTTP extension) goes without one.
    """
    message = common_v1.InvokeRequest(
        method=method, data=any_pb2.Any(type_url=request.type_url, value=request.body),
        content_type=request.content_type)
    if request.http_verb:
        verb = request.http_verb.upper()
        if verb not in _SENDABLE_VERBS:
            raise MalformedRequest(
                f"invalid HTTP verb {request.http_verb!r} for service invocation")
        message.http_extension.CopyFrom(common_v1.HTTPExtension(
            verb=common_v1.HTTPExtension.Verb.Value(verb), querystring=request.query))
    return api_v1.InvokeServiceRequest(id=app_id, message=message)


def app_response(reply: common_v1.InvokeResponse,
                 metadata: Iterable[tuple[str, str | bytes]]) -> AppResponse:
    """The app's reply from the target runtime's answer; raises ValueError on a bad status."""
    headers: dict[str, str] = {}
    status = ""
    grpc_status = b""
    for key, value in metadata:
        if not isinstance(value, str):
            continue
        if key == APP_GRPC_STATUS_HEADER:
            try:
                grpc_status = base64.b64decode(value, validate=True)
            except binascii.Error as err:
                raise ValueError(f"bad {APP_GRPC_STATUS_HEADER}: {err}") from err
            continue
        if key == APP_STATUS_HEADER or (key == HTTP_STATUS_HEADER and not status):
            status = value
            continue
        if key == HTTP_STATUS_HEADER:
            continue
        if key.startswith(_DAPR_PREFIX) and key[len(_DAPR_PREFIX):] in PERMANENT_HEADERS:
            key = key[len(_DAPR_PREFIX):]
        if key not in HOP_BY_HOP_HEADERS and key != "content-type":
            headers[key] = value
    return AppResponse(status=int(status or 200), headers=headers, body=reply.data.value,
                       content_type=reply.content_type, grpc_status=grpc_status,
                       type_url=reply.data.type_url)


class GrpcForwarder:
    """Calls ``InvokeService`` on other runtimes over one cached channel per app id."""

    def __init__(self, caller: str, timeout: float = APP_CHANNEL_TIMEOUT,
                 api_token: str = "", max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.caller = caller
        self.timeout = timeout
        self._options = [*_CHANNEL_OPTIONS,
                         ("grpc.max_send_message_length", max_message_bytes),
                         ("grpc.max_receive_message_length", max_message_bytes)]
        self._api_token = api_token
        self._targets: dict[str, _Target] = {}  # app id -> channel to its runtime
        self._lock = threading.Lock()

    def forward(self, entry: RegistryEntry, method: str, request: AppRequest) -> AppResponse:
        """Send ``request`` to ``entry``'s runtime; the app's reply comes back unchanged."""
        message = invoke_request(entry.app_id, method, request)
        stub = self._stub(entry)
        where = f"the runtime of {entry.app_id} at {_address(entry)}"
        metadata = [(k, v) for k, v in request_metadata(request, self.caller)
                    if k not in (TRACEPARENT, TRACESTATE)]
        metadata += list(outgoing_headers().items())  # this runtime's span, not the caller's
        if self._api_token:
            metadata.append((API_TOKEN_HEADER, self._api_token))
        try:
            reply, call = stub.InvokeService.with_call(
                message, timeout=self.timeout, metadata=metadata)
        except grpc.RpcError as err:
            call_error = cast(grpc.Call, err)  # what a failed call raises is also a Call
            code, detail = call_error.code(), call_error.details()
            if code == grpc.StatusCode.PERMISSION_DENIED:
                # The target's access control refused: daprd answers 403 / PermissionDenied.
                raise InvocationDenied(f"failed to invoke, id: {entry.app_id}, err: rpc error: "
                                       f"code = PermissionDenied desc = {detail}") from err
            verb = ("did not answer" if code in (grpc.StatusCode.UNAVAILABLE,
                                                 grpc.StatusCode.DEADLINE_EXCEEDED)
                    else "refused the call")
            raise DirectInvokeError(f"failed to invoke, id: {entry.app_id}, err: {where} "
                                    f"{verb}: {code.name}: {detail}") from err
        try:
            return app_response(reply, call.initial_metadata() or ())
        except ValueError as err:
            raise DirectInvokeError(f"failed to invoke, id: {entry.app_id}, err: {where} "
                                    f"sent an unreadable app status: {err}") from err

    def _stub(self, entry: RegistryEntry) -> api_service_v1.DaprStub:
        address = (entry.host, entry.grpc_port, entry.pid)
        with self._lock:
            target = self._targets.get(entry.app_id)
            if target is not None and target.address == address:
                return target.stub
            if target is not None:
                target.channel.close()
            channel = grpc.insecure_channel(_address(entry), options=self._options)
            target = _Target(address, channel, api_service_v1.DaprStub(channel))
            self._targets[entry.app_id] = target
            return target.stub

    def forget(self, app_id: str) -> None:
        """Close the channel to ``app_id``'s runtime, if one is open (it left the registry)."""
        with self._lock:
            target = self._targets.pop(app_id, None)
        if target is not None:
            target.channel.close()

    def close(self) -> None:
        with self._lock:
            targets, self._targets = list(self._targets.values()), {}
        for target in targets:
            target.channel.close()

"""Service invocation: the own app id goes to the app, any other to that app's runtime.

Other runtimes are found in the name-resolution folder (``registry_dir.py``) and called on
their gRPC API (``Dapr/InvokeService``, ``grpc_forward.py``), as daprd forwards between
sidecars; the target runtime hands the call to its app. The app's status, headers and body
come back unchanged, as daprd passes them for HTTP-to-HTTP invocation.
"""

from __future__ import annotations

import base64
from dataclasses import replace

from ..errors import AppNotFound, DirectInvokeError
from ..settings import Settings
from .channel import AppChannel
from .grpc_forward import GrpcForwarder
from .messages import (
    APP_GRPC_STATUS_HEADER,
    APP_STATUS_HEADER,
    CALLER_HEADER,
    FORWARD_HEADER,
    AppRequest,
    AppResponse,
    header,
)
from .registry_dir import lookup

__all__ = ["Invoker"]


class Invoker:
    """Routes ``invoke_app`` calls; holds the channels used to reach other runtimes."""

    def __init__(self, settings: Settings, channel: AppChannel | None) -> None:
        self.settings = settings
        self.channel = channel
        self._forwarder = GrpcForwarder(settings.app_id, api_token=settings.api_token,
                                        max_message_bytes=settings.max_message_bytes)

    def invoke(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        if not app_id:
            raise DirectInvokeError("failed to invoke: the app id is empty")
        if app_id == self.settings.app_id:
            return self._call_own_app(method, request)
        return self._forward(app_id, method, request)

    def _call_own_app(self, method: str, request: AppRequest) -> AppResponse:
        # Set by the forwarding runtime; absent when the app's own runtime was called.
        caller = header(request, CALLER_HEADER) or self.settings.app_id
        forwarded = bool(header(request, FORWARD_HEADER))
        if forwarded:
            request = replace(request, headers={k: v for k, v in request.headers.items()
                                                if k.lower() != FORWARD_HEADER})
        if self.channel is None:
            raise DirectInvokeError(
                f"failed to invoke, id: {self.settings.app_id}, err: app channel is not "
                "initialized (the runtime was started without --app-port)")
        response = self.channel.invoke_method(method, request, caller=caller)
        if not forwarded:
            return response
        # The gRPC front end would turn a non-2xx reply into an error and drop the body.
        headers = {**response.headers, APP_STATUS_HEADER: str(response.status)}
        if response.grpc_status:
            headers[APP_GRPC_STATUS_HEADER] = base64.b64encode(response.grpc_status).decode()
        return replace(response, status=200, headers=headers, grpc_status=b"")

    def _forward(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        registry_dir = self.settings.registry_dir
        entry = lookup(registry_dir, app_id) if registry_dir is not None else None
        if entry is None:
            self._forwarder.forget(app_id)
            raise AppNotFound(f"failed to invoke, id: {app_id}, err: couldn't find service: "
                              f"{app_id} (no live runtime registered in {registry_dir})")
        return self._forwarder.forward(entry, method, request)

    def close(self) -> None:
        self._forwarder.close()

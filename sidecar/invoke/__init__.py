"""Service invocation: the own app id goes to the app, any other to that app's runtime.

Other runtimes are found in the name-resolution folder (``registry_dir.py``) and called on
their HTTP API (``/v1.0/invoke/<id>/method/<path>``), which hands the call to their app. The
app's status, headers and body come back unchanged, as daprd passes them for HTTP-to-HTTP
invocation.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from ..app_channel import AppChannel, forwarded_headers, response_headers
from ..errors import AppNotFound, DirectInvokeError
from ..runtime import AppRequest, AppResponse
from ..settings import APP_CHANNEL_TIMEOUT, CONNECT_TIMEOUT, Settings
from .registry_dir import RegistryEntry, lookup

__all__ = ["CALLER_HEADER", "Invoker"]

#: Header the forwarding runtime adds so the target app learns who called it.
CALLER_HEADER = "dapr-caller-app-id"


def _host(entry: RegistryEntry) -> str:
    return f"[{entry.host}]" if ":" in entry.host else entry.host


class Invoker:
    """Routes ``invoke_app`` calls; holds the pooled client used to reach other runtimes."""

    def __init__(self, settings: Settings, channel: AppChannel) -> None:
        self.settings = settings
        self.channel = channel
        self._client = httpx.Client(
            timeout=httpx.Timeout(APP_CHANNEL_TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            follow_redirects=False, trust_env=False)

    def invoke(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        if not app_id:
            raise DirectInvokeError("failed to invoke: the app id is empty")
        if app_id == self.settings.app_id:
            # Set by the forwarding runtime; absent when the app's own runtime was called.
            caller = next((v for k, v in request.headers.items()
                           if k.lower() == CALLER_HEADER), "") or app_id
            return self.channel.call(method, request, caller=caller)
        return self._forward(app_id, method, request)

    def _forward(self, app_id: str, method: str, request: AppRequest) -> AppResponse:
        registry_dir = self.settings.registry_dir
        entry = lookup(registry_dir, app_id) if registry_dir is not None else None
        if entry is None:
            raise AppNotFound(f"failed to invoke, id: {app_id}, err: couldn't find service: "
                              f"{app_id} (no live runtime registered in {registry_dir})")
        url = (f"http://{_host(entry)}:{entry.http_port}/v1.0/invoke/{quote(app_id, safe='')}"
               f"/method/{method.lstrip('/')}")
        if request.query:
            url = f"{url}?{request.query}"
        headers = forwarded_headers(request)
        headers[CALLER_HEADER] = self.settings.app_id
        try:
            response = self._client.request(request.http_verb, url, content=request.body,
                                            headers=headers)
        except httpx.HTTPError as err:
            raise DirectInvokeError(f"failed to invoke, id: {app_id}, err: the runtime of "
                                    f"{app_id} at {entry.host}:{entry.http_port} did not "
                                    f"answer: {type(err).__name__}: {err}") from err
        return AppResponse(status=response.status_code, headers=response_headers(response),
                           body=response.content,
                           content_type=response.headers.get("content-type", ""))

    def close(self) -> None:
        self._client.close()

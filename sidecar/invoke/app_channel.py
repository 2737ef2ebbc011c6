"""The runtime's HTTP connection to its own app (daprd's ``pkg/channel/http``).

One ``urllib3`` connection pool per runtime talks to ``http://127.0.0.1:<app-port>`` over
keep-alive connections (urllib3 rather than httpx: less CPU per call, see
docs/benchmarks.md; the app's reply is passed on as sent, content encoding included, so
nothing is decoded). Service invocation uses ``call``; the runtime's own calls to the app
(input-binding probes and events) use ``request``. Every request carries ``APP_API_TOKEN`` as
``dapr-api-token`` when it is set (daprd's ``pkg/channel/http``); a caller's own
``dapr-api-token`` never reaches the app.
"""

from __future__ import annotations

from collections.abc import Mapping

import urllib3
from urllib3.exceptions import HTTPError

from ..errors import DirectInvokeError
from ..settings import APP_CHANNEL_TIMEOUT, CONNECT_TIMEOUT, Settings
from ..tracing import outgoing_headers
from .messages import (
    API_TOKEN_HEADER,
    CALLEE_HEADER,
    CALLER_HEADER,
    AppRequest,
    AppResponse,
    forwarded_headers,
    response_headers,
)

__all__ = ["AppChannel", "AppChannelError"]


class AppChannelError(Exception):
    """The app could not be reached, or did not answer in time."""


class AppChannel:
    """HTTP calls from the runtime to its app (``--app-port``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Beyond maxsize busy connections, extra ones are opened and closed after use.
        self._pool = urllib3.HTTPConnectionPool(
            settings.app_host, settings.app_port or 0, maxsize=16, block=False, retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=APP_CHANNEL_TIMEOUT))

    @property
    def base_url(self) -> str | None:
        port = self.settings.app_port
        return None if port is None else f"http://{self.settings.app_host}:{port}"

    def call(self, method: str, request: AppRequest, caller: str = "") -> AppResponse:
        """Send one invocation to the app and return its reply unchanged."""
        app_id = self.settings.app_id
        if self.base_url is None:
            raise DirectInvokeError(f"failed to invoke, id: {app_id}, err: app channel is "
                                    "not initialized (the runtime was started without --app-port)")
        headers = forwarded_headers(request)
        headers.pop(CALLER_HEADER, None)
        headers.pop(API_TOKEN_HEADER, None)
        headers[CALLEE_HEADER] = app_id
        headers[CALLER_HEADER] = caller or app_id
        headers.update(outgoing_headers())  # daprd sends the app its own span's context
        path = f"/{method.lstrip('/')}"
        if request.query:
            path = f"{path}?{request.query}"
        try:
            return self.request(request.http_verb, path, request.body, headers)
        except AppChannelError as err:
            raise DirectInvokeError(f"failed to invoke, id: {app_id}, err: error invoking "
                                    f"app channel: {err}") from err

    def request(self, verb: str, path: str, body: bytes = b"",
                headers: Mapping[str, str] | None = None) -> AppResponse:
        """One HTTP request to the app; AppChannelError when it cannot be reached in time."""
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != API_TOKEN_HEADER}
        if self.settings.app_api_token:
            sent[API_TOKEN_HEADER] = self.settings.app_api_token
        try:
            response = self._pool.urlopen(verb, path, body=body or None, headers=sent,
                                          redirect=False, decode_content=False)
        except HTTPError as err:
            raise AppChannelError(f"{type(err).__name__}: {err}") from err
        return AppResponse(status=response.status, headers=response_headers(response.headers),
                           body=response.data,
                           content_type=response.headers.get("content-type", ""))

    def close(self) -> None:
        self._pool.close()

"""The runtime's HTTP connection to its own app (daprd's ``pkg/channel/http``).

One ``urllib3`` connection pool per runtime talks to ``http://127.0.0.1:<app-port>`` (or
``https://`` for ``--app-protocol https``, certificates not verified, as daprd) over keep-alive
connections (urllib3 rather than httpx: less CPU per call, see docs/benchmarks.md; the app's
reply is passed on as sent, content encoding included, so nothing is decoded). Every request
carries ``APP_API_TOKEN`` as ``dapr-api-token`` when it is set (daprd's ``pkg/channel/http``);
a caller's own ``dapr-api-token`` never reaches the app.

What each ``AppChannel`` method is over HTTP:

    invoke_method             <verb> /<method>?<query>, the caller's headers and body
    handles_binding           OPTIONS /<binding>: 404 or 405 means no
    deliver_binding_event     POST /<binding>, the event metadata as headers
    list_subscriptions        GET /dapr/subscribe (404: none)
    deliver_topic_event       POST <route> as application/cloudevents+json; the answer:
        2xx, empty or non-JSON body, {"status": "SUCCESS"} or ""   SUCCESS
        2xx {"status": "RETRY"}, unknown status, other non-2xx     RETRY
        2xx {"status": "DROP"}, 404                                DROP
    deliver_bulk_topic_event  POST <route> with daprd's bulk envelope; ``{"statuses": [...]}``
    health                    GET /healthz: 2xx is healthy
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError, InsecureRequestWarning

from ..errors import DirectInvokeError, MalformedRequest
from ..settings import APP_CHANNEL_TIMEOUT, CONNECT_TIMEOUT, Settings
from ..tracing import outgoing_headers
from .channel import (
    AppChannel,
    AppChannelError,
    BulkTopicEvent,
    TopicEvent,
    TopicReply,
    TopicStatus,
    concurrency_limit,
)
from .messages import (
    API_TOKEN_HEADER,
    CALLEE_HEADER,
    CALLER_HEADER,
    AppRequest,
    AppResponse,
    forwarded_headers,
    response_headers,
)

__all__ = ["BULK_EVENT_TYPE", "HTTPAppChannel"]

BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
_CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
_JSON = "application/json"
_PUBSUB_HEADER = "pubsubName"
_STATUSES: dict[str, TopicStatus] = {"RETRY": "RETRY", "DROP": "DROP"}
_NOT_SUBSCRIBED = (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED)
_log = logging.getLogger(__name__)


def _ok(status: int) -> bool:
    return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None


def _dump(value: Any) -> bytes:
    """Go ``json.Marshal``: compact, map keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode("utf-8")


def _event_headers(metadata: Mapping[str, str], pubsub: str) -> dict[str, str]:
    headers = {k: v for k, v in metadata.items()
               if k.lower() != "content-type" and v.isprintable()}
    headers[_PUBSUB_HEADER] = pubsub
    headers["content-type"] = _CLOUDEVENT_CONTENT_TYPE
    return headers


class HTTPAppChannel(AppChannel):
    """HTTP calls from the runtime to its app (``--app-port``); see the module docstring."""

    def __init__(self, settings: Settings, protocol: str = "http") -> None:
        self.settings = settings
        self.protocol = protocol
        self._slot = concurrency_limit(settings.app_max_concurrency)
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=APP_CHANNEL_TIMEOUT)
        # Beyond maxsize busy connections, extra ones are opened and closed after use.
        self._pool: urllib3.HTTPConnectionPool
        if protocol == "https":
            # daprd's https app channel skips certificate verification (InsecureSkipVerify).
            urllib3.disable_warnings(InsecureRequestWarning)
            self._pool = urllib3.HTTPSConnectionPool(
                settings.app_host, settings.app_port or 0, maxsize=16, block=False,
                retries=False, timeout=timeout, cert_reqs="CERT_NONE", assert_hostname=False)
        else:
            self._pool = urllib3.HTTPConnectionPool(
                settings.app_host, settings.app_port or 0, maxsize=16, block=False,
                retries=False, timeout=timeout)

    @property
    def base_url(self) -> str | None:
        port = self.settings.app_port
        return None if port is None else f"{self.protocol}://{self.settings.app_host}:{port}"

    # -- service invocation ----------------------------------------------------------------

    def invoke_method(self, method: str, request: AppRequest, caller: str = "") -> AppResponse:
        """Send one invocation to the app and return its reply unchanged."""
        app_id = self.settings.app_id
        if not request.http_verb:
            raise MalformedRequest(
                "missing HTTP extension field: the target app speaks HTTP, pass http_verb")
        headers = forwarded_headers(request)
        if request.body and "content-type" not in headers:
            # daprd's InvokeMethodRequest.RawData: data without a content type is JSON.
            headers["content-type"] = _JSON
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
        with self._slot:
            return self._send(verb, path, body, headers)

    def _send(self, verb: str, path: str, body: bytes = b"",
              headers: Mapping[str, str] | None = None) -> AppResponse:
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

    # -- input bindings --------------------------------------------------------------------

    def handles_binding(self, name: str) -> bool:
        return self.request("OPTIONS", f"/{name}").status not in _NOT_SUBSCRIBED

    def deliver_binding_event(self, name: str, data: bytes,
                              metadata: Mapping[str, str]) -> AppResponse:
        return self.request("POST", f"/{name}", data, {"content-type": _JSON, **metadata})

    # -- pub/sub ---------------------------------------------------------------------------

    def list_subscriptions(self) -> list[Any]:
        response = self.request("GET", "/dapr/subscribe", headers={"content-type": _JSON})
        if response.status == HTTPStatus.NOT_FOUND:
            _log.debug("user app did not subscribe to any topic")
            return []
        if response.status != HTTPStatus.OK:
            _log.error("app returned http status code %d from subscription endpoint",
                       response.status)
            return []
        try:
            body = json.loads(response.body or b"[]")
        except ValueError as err:
            _log.error("error getting topics from app: %s", err)
            return []
        if not isinstance(body, list):
            _log.error("error getting topics from app: expected a JSON array, got %s",
                       type(body).__name__)
            return []
        return body

    def deliver_topic_event(self, event: TopicEvent) -> TopicReply:
        event_id = event.event.get("id")
        response = self.request("POST", event.path, event.body,
                                _event_headers(event.metadata, event.pubsub))
        if _ok(response.status):
            body = _json(response.body)
            status = body.get("status") if isinstance(body, dict) else None
            if not isinstance(status, str) or status in ("", "SUCCESS"):
                return TopicReply("SUCCESS")
            if status in _STATUSES:
                return TopicReply(_STATUSES[status], f"{status} status returned from app "
                                                     f"while processing pub/sub event {event_id}")
            return TopicReply("RETRY", f"unknown status returned from app while processing "
                                       f"pub/sub event {event_id}, status: {status}")
        text = response.body[:200].decode("utf-8", "replace")
        if response.status == HTTPStatus.NOT_FOUND:
            _log.error("non-retriable error returned from app while processing pub/sub event "
                       "%s: %s. status code returned: %d", event_id, text, response.status)
            return TopicReply("DROP", f"app answered 404 to pub/sub event {event_id}")
        _log.warning("retriable error returned from app while processing pub/sub event %s, "
                     "topic: %s, body: %s. status code returned: %d", event_id, event.topic,
                     text, response.status)
        return TopicReply("RETRY", f"app answered {response.status} to pub/sub event {event_id}")

    def deliver_bulk_topic_event(self, event: BulkTopicEvent) -> dict[str, TopicStatus]:
        envelope = {
            "id": event.id, "pubsubname": event.pubsub, "topic": event.topic,
            "type": BULK_EVENT_TYPE, "metadata": dict(event.metadata),
            "entries": [{"entryId": e.entry_id, "event": e.event,
                         "contentType": e.content_type, "metadata": dict(e.metadata)}
                        for e in event.entries],
        }
        headers = {**_event_headers(event.message_metadata, event.pubsub), "content-type": _JSON}
        response = self.request("POST", event.path, _dump(envelope), headers)
        if response.status == HTTPStatus.NOT_FOUND:
            _log.error("Non-retriable error returned from app while processing bulk "
                       "pub/sub event. status code returned: 404")
            return {e.entry_id: "DROP" for e in event.entries}
        if not _ok(response.status):
            _log.warning("Retriable error returned from app while processing bulk pub/sub "
                         "event, topic: %s. status code returned: %d", event.topic,
                         response.status)
            return {e.entry_id: "RETRY" for e in event.entries}
        body = _json(response.body)
        items = body.get("statuses") if isinstance(body, dict) else None
        statuses: dict[str, TopicStatus] = {}
        for item in items if isinstance(items, list) else []:
            status = item.get("status") if isinstance(item, dict) else None
            if status in ("SUCCESS", "RETRY", "DROP"):
                statuses[str(item.get("entryId"))] = status
        return statuses

    # -- health and lifecycle --------------------------------------------------------------

    def health(self) -> bool:
        # daprd probes health outside --app-max-concurrency: a busy app is not an unhealthy one.
        return _ok(self._send("GET", "/healthz").status)

    def close(self) -> None:
        self._pool.close()

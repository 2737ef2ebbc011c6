"""The runtime's gRPC connection to its own app (daprd's ``pkg/channel/grpc``), for
``--app-protocol grpc``: the app serves ``dapr.proto.runtime.v1.AppCallback`` (what the dapr
SDK's ``dapr.ext.grpc.App`` serves), ``AppCallbackAlpha`` and ``AppCallbackHealthCheck``.

    invoke_method             OnInvoke: the ``InvokeRequest`` as the caller sent it (HTTP
                              callers: verb and query string in ``http_extension``), the
                              caller's headers as metadata plus dapr-caller-app-id /
                              dapr-callee-app-id. A non-OK status is the app's answer: HTTP
                              callers get daprd's ``HTTPStatusFromCode`` and the status as JSON
                              (``{"code", "message", "details"}``), gRPC callers the status.
    handles_binding           ListInputBindings (asked once, then remembered)
    deliver_binding_event     OnBindingEvent
    list_subscriptions        ListTopicSubscriptions (UNIMPLEMENTED: none)
    deliver_topic_event       OnTopicEvent with daprd's ``TopicEventRequest`` (data decoded
                              from ``data_base64``, JSON data re-marshalled, the rest of the
                              CloudEvent in ``extensions``); the reply's SUCCESS / RETRY / DROP;
                              UNIMPLEMENTED drops, any other error retries
    deliver_bulk_topic_event  OnBulkTopicEvent, else AppCallbackAlpha.OnBulkTopicEventAlpha1
    health                    AppCallbackHealthCheck.HealthCheck

``APP_API_TOKEN`` goes with every call as ``dapr-api-token`` metadata. UNAVAILABLE (the app is
not listening) is ``AppChannelError`` everywhere but in ``invoke_method``, where daprd, too,
reports it as the app's status.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, cast

import grpc
from dapr.proto import appcallback_service_v1, appcallback_v1, common_v1
from google.protobuf import any_pb2, empty_pb2, json_format, struct_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from ..errors import MalformedRequest
from ..settings import APP_CHANNEL_TIMEOUT, Settings
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
    HOP_BY_HOP_HEADERS,
    AppRequest,
    AppResponse,
)

__all__ = ["BULK_EVENT_TYPE", "GrpcAppChannel", "http_status_from_code", "topic_event_request"]

BULK_EVENT_TYPE = "com.dapr.event.sent.bulk"
_Verb = common_v1.HTTPExtension.Verb
_VERBS = frozenset(_Verb.keys())
_Status = appcallback_v1.TopicEventResponse.TopicEventResponseStatus
_STATUS_NAMES: dict[int, TopicStatus] = {
    _Status.Value("SUCCESS"): "SUCCESS", _Status.Value("RETRY"): "RETRY",
    _Status.Value("DROP"): "DROP"}
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# CloudEvent fields the request carries itself (daprd's cloudEventDuplicateKeys).
_CLOUDEVENT_FIELDS = frozenset({"id", "source", "type", "specversion", "datacontenttype",
                                "data", "data_base64"})
_NOT_SENT = HOP_BY_HOP_HEADERS | {"content-type", "user-agent", API_TOKEN_HEADER}
_SENDABLE_KEY = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
#: daprd's ``invokev1.HTTPStatusFromCode``; any other code is 500.
_HTTP_FROM_CODE = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 408, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500,
}
_log = logging.getLogger(__name__)


def http_status_from_code(code: grpc.StatusCode) -> int:
    """The HTTP status daprd gives an HTTP caller for a gRPC app's status ``code``."""
    return _HTTP_FROM_CODE.get(code, 500)


def _sendable(metadata: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    sent = []
    for key, value in metadata:
        key = key.lower()
        if key in _NOT_SENT or not key or not set(key) <= _SENDABLE_KEY or key.endswith("-bin"):
            continue
        if not (value.isascii() and value.isprintable()):
            continue
        sent.append(("dapr-" + key if key.startswith("grpc-") else key, value))
    return sent


def _text_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    return {k: v for k, v in metadata or () if isinstance(v, str)}


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in ("application/xml", "application/yaml")


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind in ("application/json", "application/cloudevents+json") or kind.endswith("+json")


def _event_data(event: Mapping[str, Any]) -> bytes:
    """daprd's ``TopicEventRequest.data``: decoded data_base64, text as is, JSON marshalled."""
    encoded = event.get("data_base64")
    if isinstance(encoded, str):
        return base64.b64decode(encoded)
    data = event.get("data")
    if data is None:
        return b""
    content_type = str(event.get("datacontenttype") or "")
    if _is_text(content_type):
        if not isinstance(data, str):
            raise ValueError("unexpected data in the cloud event envelope")
        return data.encode("utf-8")
    if _is_json(content_type):
        return json.dumps(data, separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False).encode("utf-8")
    return b""


def _extensions(event: Mapping[str, Any]) -> struct_pb2.Struct:
    extensions = struct_pb2.Struct()
    extensions.update({k: v for k, v in event.items() if k not in _CLOUDEVENT_FIELDS})
    return extensions


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def _ce_request(event: Mapping[str, Any]) -> appcallback_v1.TopicEventCERequest:
    return appcallback_v1.TopicEventCERequest(
        id=_text(event, "id"), source=_text(event, "source"), type=_text(event, "type"),
        spec_version=_text(event, "specversion"),
        data_content_type=_text(event, "datacontenttype"), data=_event_data(event),
        extensions=_extensions(event))


def topic_event_request(event: TopicEvent) -> appcallback_v1.TopicEventRequest:
    """daprd's ``GRPCEnvelopeFromSubscriptionMessage``; ValueError for unusable data."""
    ce = event.event
    return appcallback_v1.TopicEventRequest(
        id=_text(ce, "id"), source=_text(ce, "source"), type=_text(ce, "type"),
        spec_version=_text(ce, "specversion"), data_content_type=_text(ce, "datacontenttype"),
        data=_event_data(ce), topic=event.topic, pubsub_name=event.pubsub,
        path=event.path.lstrip("/"), extensions=_extensions(ce))


def _subscription_item(sub: appcallback_v1.TopicSubscription) -> dict[str, Any]:
    """A ``TopicSubscription`` in the JSON shape of ``GET /dapr/subscribe``."""
    rules = [{"match": r.match, "path": r.path} for r in sub.routes.rules]
    if not rules and not sub.routes.default:
        # daprd's parseRoutingRulesGRPC: with no route at all, one rule with an empty path.
        rules = [{"match": "", "path": ""}]
    item: dict[str, Any] = {
        "pubsubname": sub.pubsub_name, "topic": sub.topic, "metadata": dict(sub.metadata),
        "deadLetterTopic": sub.dead_letter_topic,
        "routes": {"rules": rules, "default": sub.routes.default},
    }
    if sub.HasField("bulk_subscribe"):
        item["bulkSubscribe"] = {
            "enabled": sub.bulk_subscribe.enabled,
            "maxMessagesCount": sub.bulk_subscribe.max_messages_count,
            "maxAwaitDurationMs": sub.bulk_subscribe.max_await_duration_ms}
    return item


def _status_of(err: grpc.RpcError) -> status_pb2.Status:
    call = cast(grpc.Call, err)
    try:
        found = rpc_status.from_call(call)
    except ValueError:
        found = None
    if found is not None:
        return found
    return status_pb2.Status(code=call.code().value[0], message=call.details() or "")


class GrpcAppChannel(AppChannel):
    """gRPC calls from the runtime to its app's ``AppCallback`` services."""

    protocol = "grpc"

    def __init__(self, settings: Settings, timeout: float = APP_CHANNEL_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout
        self._slot = concurrency_limit(settings.app_max_concurrency)
        self.address = f"{settings.app_host}:{settings.app_port or 0}"
        self._channel = grpc.insecure_channel(self.address, options=[
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.enable_http_proxy", 0)])
        self._callback = appcallback_service_v1.AppCallbackStub(self._channel)
        self._alpha = appcallback_service_v1.AppCallbackAlphaStub(self._channel)
        self._health = appcallback_service_v1.AppCallbackHealthCheckStub(self._channel)
        self._bindings: frozenset[str] | None = None
        self._lock = threading.Lock()

    def _metadata(self, pairs: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        # The app gets the context of this runtime's span, as over HTTP.
        metadata = _sendable([*pairs, *outgoing_headers().items()])
        if self.settings.app_api_token:
            metadata.append((API_TOKEN_HEADER, self.settings.app_api_token))
        return metadata

    def _unreachable(self, err: grpc.RpcError, what: str) -> AppChannelError:
        call = cast(grpc.Call, err)
        return AppChannelError(f"{what} on the app at {self.address}: {call.code().name}: "
                               f"{call.details()}")

    # -- service invocation ----------------------------------------------------------------

    def invoke_method(self, method: str, request: AppRequest, caller: str = "") -> AppResponse:
        message = common_v1.InvokeRequest(
            method=method, data=any_pb2.Any(type_url=request.type_url, value=request.body),
            content_type=request.content_type)
        if request.http_verb:
            verb = request.http_verb.upper()
            if verb not in _VERBS:
                raise MalformedRequest(f"invalid HTTP verb {request.http_verb!r}")
            message.http_extension.CopyFrom(common_v1.HTTPExtension(
                verb=_Verb.Value(verb), querystring=request.query))
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in (CALLER_HEADER, CALLEE_HEADER)]
        app_id = self.settings.app_id
        metadata = self._metadata([*headers, (CALLEE_HEADER, app_id),
                                   (CALLER_HEADER, caller or app_id)])
        try:
            with self._slot:
                reply, call = self._callback.OnInvoke.with_call(message, timeout=self.timeout,
                                                                metadata=metadata)
        except grpc.RpcError as err:
            status = _status_of(err)
            body = json.dumps(json_format.MessageToDict(
                status, always_print_fields_with_no_presence=True), separators=(",", ":"))
            failed = cast(grpc.Call, err)
            return AppResponse(
                status=http_status_from_code(failed.code()),
                headers={**_text_metadata(failed.initial_metadata()),
                         **_text_metadata(failed.trailing_metadata())},
                body=body.encode(), content_type="application/json",
                grpc_status=status.SerializeToString())
        return AppResponse(status=200, headers={**_text_metadata(call.initial_metadata()),
                                                **_text_metadata(call.trailing_metadata())},
                           body=reply.data.value, content_type=reply.content_type,
                           type_url=reply.data.type_url)

    # -- input bindings --------------------------------------------------------------------

    def handles_binding(self, name: str) -> bool:
        with self._lock:
            if self._bindings is None:
                self._bindings = self._list_bindings()
            return name in self._bindings

    def _list_bindings(self) -> frozenset[str]:
        try:
            reply = self._callback.ListInputBindings(empty_pb2.Empty(), timeout=self.timeout,
                                                     metadata=self._metadata())
        except grpc.RpcError as err:
            if cast(grpc.Call, err).code() in _UNREACHABLE:
                raise self._unreachable(err, "ListInputBindings") from err
            _log.error("error getting bindings from the app: %s", err)
            return frozenset()
        return frozenset(reply.bindings)

    def deliver_binding_event(self, name: str, data: bytes,
                              metadata: Mapping[str, str]) -> AppResponse:
        request = appcallback_v1.BindingEventRequest(name=name, data=data, metadata=metadata)
        try:
            self._callback.OnBindingEvent(request, timeout=self.timeout,
                                          metadata=self._metadata())
        except grpc.RpcError as err:
            call = cast(grpc.Call, err)
            if call.code() in _UNREACHABLE:
                raise self._unreachable(err, "OnBindingEvent") from err
            return AppResponse(status=http_status_from_code(call.code()),
                               body=f"{call.code().name}: {call.details()}".encode())
        return AppResponse(status=200)

    # -- pub/sub ---------------------------------------------------------------------------

    def list_subscriptions(self) -> list[Any]:
        try:
            reply = self._callback.ListTopicSubscriptions(
                empty_pb2.Empty(), timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as err:
            code = cast(grpc.Call, err).code()
            if code in _UNREACHABLE:
                raise self._unreachable(err, "ListTopicSubscriptions") from err
            if code == grpc.StatusCode.UNIMPLEMENTED:
                _log.debug("user app did not subscribe to any topic")
            else:
                _log.error("error getting topics from app: %s", err)
            return []
        return [_subscription_item(sub) for sub in reply.subscriptions]

    def deliver_topic_event(self, event: TopicEvent) -> TopicReply:
        event_id = event.event.get("id")
        try:
            request = topic_event_request(event)
        except (ValueError, TypeError) as err:
            return TopicReply("RETRY", f"error returned from app while processing pub/sub "
                                       f"event {event_id}: {err}")
        metadata = self._metadata([*event.metadata.items(), ("pubsubname", event.pubsub)])
        try:
            reply = self._callback.OnTopicEvent(request, timeout=self.timeout,
                                                metadata=metadata)
        except grpc.RpcError as err:
            code = cast(grpc.Call, err).code()
            if code in _UNREACHABLE:
                raise self._unreachable(err, "OnTopicEvent") from err
            if code == grpc.StatusCode.UNIMPLEMENTED:
                _log.warning("non-retriable error returned from app while processing pub/sub "
                             "event %s: %s", event_id, err)
                return TopicReply("DROP", f"UNIMPLEMENTED for pub/sub event {event_id}")
            return TopicReply("RETRY", f"error returned from app while processing pub/sub "
                                       f"event {event_id}: {code.name}")
        status = _STATUS_NAMES.get(reply.status)
        if status is None:
            return TopicReply("RETRY", f"unknown status returned from app while processing "
                                       f"pub/sub event {event_id}, status: {reply.status}")
        return TopicReply(status, f"{status} status returned from app while processing "
                                  f"pub/sub event {event_id}")

    def deliver_bulk_topic_event(self, event: BulkTopicEvent) -> dict[str, TopicStatus]:
        entries = []
        for entry in event.entries:
            try:
                cloud_event = _ce_request(entry.event)
            except (ValueError, TypeError):
                continue  # left without a status: retried
            entries.append(appcallback_v1.TopicEventBulkRequestEntry(
                entry_id=entry.entry_id, cloud_event=cloud_event,
                content_type=entry.content_type, metadata=entry.metadata))
        request = appcallback_v1.TopicEventBulkRequest(
            id=event.id, entries=entries, metadata=event.metadata, topic=event.topic,
            pubsub_name=event.pubsub, type=BULK_EVENT_TYPE, path=event.path.lstrip("/"))
        metadata = self._metadata([*event.message_metadata.items(),
                                   ("pubsubname", event.pubsub)])
        try:
            reply = self._bulk(request, metadata)
        except grpc.RpcError as err:
            code = cast(grpc.Call, err).code()
            if code in _UNREACHABLE:
                raise self._unreachable(err, "OnBulkTopicEvent") from err
            _log.warning("error returned from app while processing bulk pub/sub event, "
                         "topic: %s: %s", event.topic, code.name)
            return {}
        return {s.entry_id: _STATUS_NAMES.get(s.status, "RETRY") for s in reply.statuses}

    def _bulk(self, request: appcallback_v1.TopicEventBulkRequest,
              metadata: list[tuple[str, str]]) -> appcallback_v1.TopicEventBulkResponse:
        try:
            return self._callback.OnBulkTopicEvent(request, timeout=self.timeout,
                                                   metadata=metadata)
        except grpc.RpcError as err:
            if cast(grpc.Call, err).code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
        # Apps built before the stable RPC existed serve only the alpha one.
        return self._alpha.OnBulkTopicEventAlpha1(request, timeout=self.timeout,
                                                  metadata=metadata)

    # -- health and lifecycle --------------------------------------------------------------

    def health(self) -> bool:
        try:
            self._health.HealthCheck(empty_pb2.Empty(), timeout=self.timeout,
                                     metadata=self._metadata())
        except grpc.RpcError as err:
            _log.debug("app health check failed: %s", err)
            return False
        return True

    def close(self) -> None:
        self._channel.close()

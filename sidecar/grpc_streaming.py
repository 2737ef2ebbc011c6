"""``SubscribeTopicEventsAlpha1`` on the gRPC front end (daprd's ``pkg/api/grpc/subscribe.go``
and ``pkg/runtime/pubsub/streamer``); the subscription logic is ``sidecar/pubsub/streaming.py``.

    client                                     runtime
    initial_request {pubsub, topic, ...}  ->
                                          <-   initial_response {}
                                          <-   event_message TopicEventRequest (per message)
    event_processed {id, status}          ->   ack / redeliver / drop

The RPC holds one gRPC worker for as long as it is open (the sync server iterates the reply
generator on it) and one thread of its own reading the client's answers. ``serve`` gives the
pool ``MAX_STREAMING_SUBSCRIPTIONS`` extra workers and the streams take at most that many,
so open streams never starve unary calls.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from dapr.proto import api_v1, appcallback_v1
from google.protobuf import json_format, struct_pb2

from .pubsub.cloudevents import (
    is_cloudevent_content_type,
    is_json_content_type,
    is_string_content_type,
)
from .pubsub.streaming import (
    STREAM_ROUTE,
    StreamingError,
    StreamingSubscriptions,
    StreamRequest,
    TopicStream,
)

__all__ = ["subscribe_topic_events", "topic_event_request"]

#: Seconds between checks that the RPC is still active while no event is waiting.
_POLL_INTERVAL = 0.5
# CloudEvent fields TopicEventRequest carries itself; every other one goes to ``extensions``.
_OWN_FIELDS = frozenset({"id", "source", "datacontenttype", "type", "specversion", "data",
                         "data_base64"})
_STATUS = appcallback_v1.TopicEventResponse.TopicEventResponseStatus
_INITIAL_RESPONSE = api_v1.SubscribeTopicEventsResponseAlpha1(
    initial_response=api_v1.SubscribeTopicEventsResponseInitialAlpha1())
_log = logging.getLogger(__name__)


class _EnvelopeError(ValueError):
    """daprd's errUnexpectedEnvelopeData: the event's data does not fit its content type."""


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def _data(event: Mapping[str, Any], content_type: str) -> bytes:
    """The ``data`` bytes as daprd's GRPCEnvelopeFromSubscriptionMessage fills them."""
    encoded = event.get("data_base64")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise _EnvelopeError("unexpected data type encountered in envelope")
        return base64.b64decode(encoded, validate=True)
    data = event.get("data")
    if data is None:
        return b""
    if is_string_content_type(content_type):
        if not isinstance(data, str):
            raise _EnvelopeError("unexpected data type encountered in envelope")
        return data.encode("utf-8")
    if is_json_content_type(content_type) or is_cloudevent_content_type(content_type):
        return json.dumps(data, separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False).encode("utf-8")
    return b""


def topic_event_request(pubsub: str, topic: str,
                        event: Mapping[str, Any]) -> api_v1.SubscribeTopicEventsResponseAlpha1:
    """One ``event_message``: the CloudEvent's fields, its data, the rest as extensions."""
    content_type = _text(event, "datacontenttype")
    extensions = struct_pb2.Struct()
    json_format.ParseDict({k: v for k, v in event.items() if k not in _OWN_FIELDS}, extensions)
    return api_v1.SubscribeTopicEventsResponseAlpha1(event_message=appcallback_v1.TopicEventRequest(
        id=_text(event, "id"), source=_text(event, "source"), type=_text(event, "type"),
        spec_version=_text(event, "specversion"), data_content_type=content_type,
        data=_data(event, content_type), topic=topic, pubsub_name=pubsub, path=STREAM_ROUTE,
        extensions=extensions))


def _initial_request(requests: Iterator[api_v1.SubscribeTopicEventsRequestAlpha1]
                     ) -> StreamRequest:
    try:
        first = next(requests)
    except StopIteration:
        raise StreamingError("EOF") from None
    except grpc.RpcError as err:  # the client went away before subscribing
        raise StreamingError("context canceled") from err
    if first.WhichOneof("subscribe_topic_events_request_type") != "initial_request":
        raise StreamingError("initial request is required")
    initial = first.initial_request
    return StreamRequest(pubsub_name=initial.pubsub_name, topic=initial.topic,
                         metadata=dict(initial.metadata),
                         dead_letter_topic=initial.dead_letter_topic)


def _read_answers(stream: TopicStream,
                  requests: Iterator[api_v1.SubscribeTopicEventsRequestAlpha1]) -> None:
    """The client's side of the stream, on its own thread: answers until it half-closes."""
    try:
        for request in requests:
            if request.WhichOneof("subscribe_topic_events_request_type") != "event_processed":
                stream.fail("duplicate initial request received")
                return
            processed = request.event_processed
            code = processed.status.status
            status = _STATUS.Name(code) if code in _STATUS.values() else str(code)
            stream.respond(processed.id, status)
    except grpc.RpcError:
        pass  # cancelled or disconnected: the termination callback closes the stream too
    except Exception:  # noqa: BLE001 - a reader bug must still close the stream
        _log.exception("reading a streaming subscription failed")
    stream.close()


def _events(stream: TopicStream, context: grpc.ServicerContext
            ) -> Iterator[api_v1.SubscribeTopicEventsResponseAlpha1]:
    try:
        yield _INITIAL_RESPONSE
        while not stream.closed and context.is_active():
            wire = stream.next_event(_POLL_INTERVAL)
            if isinstance(wire, api_v1.SubscribeTopicEventsResponseAlpha1):
                yield wire
        if stream.failure is not None:
            context.abort(grpc.StatusCode.UNKNOWN, stream.failure)
    finally:
        stream.close()


def subscribe_topic_events(streams: StreamingSubscriptions,
                           requests: Iterator[api_v1.SubscribeTopicEventsRequestAlpha1],
                           context: grpc.ServicerContext
                           ) -> Iterator[api_v1.SubscribeTopicEventsResponseAlpha1]:
    """Open the stream (``DaprError``s raise here, before any reply) and return its replies."""
    streams.reserve()
    try:
        request = _initial_request(requests)
        stream = streams.open(request, functools.partial(topic_event_request,
                                                         request.pubsub_name, request.topic))
    except BaseException:
        streams.unreserve()
        raise
    if not context.add_callback(stream.close):  # the RPC already ended
        stream.close()
    threading.Thread(target=_read_answers, args=(stream, requests), daemon=True,
                     name=f"stream-{request.pubsub_name}-{request.topic}").start()
    return _events(stream, context)

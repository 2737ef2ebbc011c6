"""A gRPC app written as the dapr SDK's examples write one (``dapr.ext.grpc.App``), plus a
plain grpcio service for gRPC proxying; run as a process by ``conftest.py``:

    python tests/sidecar/invoke/grpc_app.py <port> <record-file>

Every call it receives is appended to ``<record-file>`` as one JSON line ``{"kind", ...}``.

- ``@app.method("my-method")``: the SDK example's receiver (``INVOKE_RECEIVED``,
  ``text/plain; charset=UTF-8``); ``echo`` answers the request's data, content type and
  metadata as JSON; ``fail`` raises (gRPC UNKNOWN).
- ``@app.binding("cron")``, ``@app.subscribe("pubsub", ...)`` for ``orders``, ``retry``
  (RETRY the first time), ``drop`` (DROP; dead letters to ``dead``), ``dead``.
- ``test.Echo``: ``Unary`` answers ``echo:<request>`` with initial metadata ``x-echo`` and
  trailer ``x-trailer``; ``Stream`` answers one message per byte of the request; ``Fail``
  aborts with NOT_FOUND and a ``google.rpc.ErrorInfo`` detail. Messages are raw bytes.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from dapr.ext.grpc import (
    App,
    BindingRequest,
    InvokeMethodRequest,
    InvokeMethodResponse,
    SubscriptionMessage,
    TopicEventResponse,
)
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__: list[str] = []

_lock = threading.Lock()
_retried: set[str] = set()


def _record(kind: str, **fields: Any) -> None:
    with _lock, open(sys.argv[2], "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **fields}) + "\n")


app = App()


@app.method("my-method")
def my_method(request: InvokeMethodRequest) -> InvokeMethodResponse:
    _record("invoke", text=request.text(),
            metadata={k: v[0] for k, v in request.metadata.items() if v})
    return InvokeMethodResponse(b"INVOKE_RECEIVED", "text/plain; charset=UTF-8")


@app.method("echo")
def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
    body = {"data": request.text(), "content_type": request.content_type,
            "metadata": {k: v[0] for k, v in request.metadata.items() if v}}
    response = InvokeMethodResponse(json.dumps(body), "application/json")
    response.headers = (("x-from-app", "yes"),)
    return response


@app.method("fail")
def fail(request: InvokeMethodRequest) -> str:
    raise RuntimeError("the app failed on purpose")


@app.binding("cron")
def cron(request: BindingRequest) -> None:
    _record("binding", metadata=dict(request.binding_metadata))


@app.subscribe(pubsub_name="pubsub", topic="orders")
def orders(event: SubscriptionMessage) -> TopicEventResponse:
    _record("orders", id=event.id(), data=event.data(), topic=event.topic(),
            content_type=event.data_content_type(), source=event.source())
    return TopicEventResponse("success")


@app.subscribe(pubsub_name="pubsub", topic="retry")
def retry(event: SubscriptionMessage) -> TopicEventResponse:
    first = event.id() not in _retried
    _retried.add(event.id())
    _record("retry", id=event.id(), first=first)
    return TopicEventResponse("retry" if first else "success")


@app.subscribe(pubsub_name="pubsub", topic="drop", dead_letter_topic="dead")
def drop(event: SubscriptionMessage) -> TopicEventResponse:
    _record("drop", id=event.id())
    return TopicEventResponse("drop")


@app.subscribe(pubsub_name="pubsub", topic="dead")
def dead(event: SubscriptionMessage) -> None:
    _record("dead", id=event.id())


app.register_health_check(lambda: None)


def _unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
    _record("proxy", method="Unary", metadata=metadata)
    context.send_initial_metadata((("x-echo", "initial"),))
    context.set_trailing_metadata((("x-trailer", "done"),))
    return b"echo:" + request


def _stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for byte in request:
        yield bytes([byte])


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="ECHO_MISSING", domain="test"))
    context.abort_with_status(rpc_status.to_status(status_pb2.Status(
        code=grpc.StatusCode.NOT_FOUND.value[0], message="no such echo", details=[detail])))
    raise AssertionError("abort returned")


_ECHO = grpc.method_handlers_generic_handler("test.Echo", {
    "Unary": grpc.unary_unary_rpc_method_handler(_unary),
    "Stream": grpc.unary_stream_rpc_method_handler(_stream),
    "Fail": grpc.unary_unary_rpc_method_handler(_fail),
})

if __name__ == "__main__":
    Path(sys.argv[2]).touch()
    app.add_external_service(lambda handler, server: server.add_generic_rpc_handlers(
        (handler,)), _ECHO)
    app.run(int(sys.argv[1]), listen_address="127.0.0.1")

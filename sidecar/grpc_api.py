"""daprd's gRPC API (``dapr.proto.runtime.v1.Dapr``) as a thin front end over ``Runtime``.

Each RPC turns its request message into the ``Runtime`` call of the same building block and
the result back into the response message (the conversions are in ``grpc_messages.py``);
``DaprError``s become gRPC statuses carrying a ``google.rpc.ErrorInfo`` (``reason`` = the error
code, ``domain`` = ``dapr.io``), which is what the dapr SDK's ``DaprGrpcError.error_code()``
reads (built by ``grpc_errors.py``). RPCs outside the building blocks this runtime serves
answer UNIMPLEMENTED, naming the RPC.

Server choice, by measurement on the 2-core dev machine (separate client process):

- no-op handler, bare stub, 3,000 calls: sync ``grpc.server`` + thread pool ~490 us wall and
  ~320 us server CPU per call; ``grpc.aio`` ~570 us and ~420 us; 1 to 32 workers: no
  measurable difference;
- SDK ``save_state`` + ``get_state`` on Redis, 2,000 pairs, p50 per pair: sync ~1.45 ms,
  aio with handlers inline on the loop ~1.50 ms, aio with ``asyncio.to_thread`` ~1.87 ms.

So: the sync server, with enough workers that slow invocations do not starve state calls.
What remains is grpcio's own cost per call on both sides (``python -m bench
state_roundtrip``); the handlers only convert messages.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar, cast

import grpc
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import any_pb2, empty_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from . import api_token
from . import grpc_messages as convert
from .api_logging import api_logging, log_grpc_call
from .components.bindings.base import BindingRequest
from .configuration import Configuration, configuration_of
from .errors import ERROR_DOMAIN, DaprError
from .grpc_errors import AppStatus, Reject, abort, abort_with, app_failure, error_details, packed
from .grpc_streaming import subscribe_topic_events
from .invoke.grpc_proxy import GrpcProxy
from .invoke.messages import FORWARD_HEADER
from .pubsub.publisher import BulkEntry
from .runtime import Runtime
from .settings import MAX_STREAMING_SUBSCRIPTIONS
from .tracing import GRPC_TRACE_BIN, Tracer, incoming

__all__ = [
    "IMPLEMENTED_RPCS",
    "MAX_WORKERS",
    "DaprGrpcApi",
    "serve",
]

#: Threads serving RPCs; service invocation holds one for as long as the app takes.
MAX_WORKERS = 32
#: The RPCs this runtime serves; every other Dapr RPC answers UNIMPLEMENTED.
IMPLEMENTED_RPCS = (
    "DeleteBulkState", "DeleteState", "ExecuteStateTransaction", "GetBulkSecret",
    "GetBulkState", "GetMetadata", "GetSecret", "GetState", "InvokeBinding", "InvokeService",
    "SaveState", "SetMetadata",
    "BulkPublishEvent", "BulkPublishEventAlpha1", "PublishEvent",
    "SubscribeTopicEventsAlpha1",
)

_EMPTY = empty_pb2.Empty()
_SERVICE = "/dapr.proto.runtime.v1.Dapr"
_NOT_IMPLEMENTED = HTTPStatus.NOT_IMPLEMENTED.phrase
_log = logging.getLogger(__name__)
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _rpc(handler: _Handler) -> _Handler:
    """Turn every exception a handler raises into a gRPC status; nothing escapes unmapped."""

    @functools.wraps(handler)
    def wrapper(self: DaprGrpcApi, request: Any, context: grpc.ServicerContext) -> Any:
        configuration, tracer = configuration_of(self._runtime)
        if api_logging(self._runtime.settings.api_logging, configuration.api_logging) is None:
            return _serve(self, handler, request, context, configuration, tracer)
        started = time.monotonic()
        try:
            return _serve(self, handler, request, context, configuration, tracer)
        finally:  # after an abort too: daprd logs every call with its code
            code = context.code()
            log_grpc_call(f"{_SERVICE}/{handler.__name__}",
                          next((str(v) for k, v in context.invocation_metadata()
                                if k == "user-agent"), ""),
                          code.value[0] if isinstance(code, grpc.StatusCode) else 0,
                          (time.monotonic() - started) * 1000)

    return cast(_Handler, wrapper)


def _serve(api: DaprGrpcApi, handler: Callable[..., Any], request: Any,
           context: grpc.ServicerContext, configuration: Configuration, tracer: Tracer) -> Any:
    """``handler``'s answer under the API rules and tracing."""
    name = handler.__name__
    metadata = context.invocation_metadata()
    # Calls forwarded by another runtime stand for daprd's internal API: no API rules.
    if not any(k == FORWARD_HEADER for k, _ in metadata) \
            and not configuration.grpc_api_allowed(name):
        abort(context, grpc.StatusCode.UNIMPLEMENTED, _NOT_IMPLEMENTED, _NOT_IMPLEMENTED,
               {"http.code": str(int(HTTPStatus.NOT_IMPLEMENTED)),
                "http.error_message": "requested endpoint is not available"})
    with tracer.span(f"{_SERVICE}/{name}", incoming(metadata)) as span:
        if span is not None and name != "InvokeService":
            context.send_initial_metadata([(GRPC_TRACE_BIN, span.context.grpc_trace_bin())])
        return _run(api, handler, request, context)


def _run(api: DaprGrpcApi, handler: Callable[..., Any], request: Any,
         context: grpc.ServicerContext) -> Any:
    """``handler``'s answer; every exception it raises becomes a gRPC status."""
    try:
        return handler(api, request, context)
    except DaprError as err:
        abort_with(context, err.grpc_status, err.message, error_details(err))
    except Reject as err:
        abort(context, err.status, err.message, err.reason, err.metadata)
    except AppStatus as err:
        context.abort_with_status(rpc_status.to_status(err.status))
    except Exception as err:  # noqa: BLE001 - a bug or an unmapped driver error: INTERNAL, never a crash
        _log.exception("gRPC %s failed", handler.__name__)
        abort_with(context, grpc.StatusCode.INTERNAL, f"{handler.__name__} failed: {err}",
                    [])


class DaprGrpcApi(api_service_v1.DaprServicer):
    """The Dapr service over one ``Runtime``; method names are the proto's RPC names."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @_rpc
    def GetState(self, request: api_v1.GetStateRequest,
                 context: grpc.ServicerContext) -> api_v1.GetStateResponse:
        item = self._runtime.get_state(request.store_name, request.key, dict(request.metadata))
        if item is None:
            return api_v1.GetStateResponse()
        return api_v1.GetStateResponse(data=item.data, etag=item.etag or "",
                                       metadata=item.metadata)

    @_rpc
    def GetBulkState(self, request: api_v1.GetBulkStateRequest,
                     context: grpc.ServicerContext) -> api_v1.GetBulkStateResponse:
        found = self._runtime.bulk_get_state(request.store_name, list(request.keys),
                                             dict(request.metadata))
        items = [api_v1.BulkStateItem(key=key) if item is None else
                 api_v1.BulkStateItem(key=key, data=item.data, etag=item.etag or "",
                                      metadata=item.metadata)
                 for key, item in found]
        return api_v1.GetBulkStateResponse(items=items)

    @_rpc
    def SaveState(self, request: api_v1.SaveStateRequest,
                  context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._runtime.save_state(request.store_name,
                                 [convert.set_request(s) for s in request.states])
        return _EMPTY

    @_rpc
    def DeleteState(self, request: api_v1.DeleteStateRequest,
                    context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._runtime.delete_state(request.store_name, convert.delete_request(request))
        return _EMPTY

    @_rpc
    def DeleteBulkState(self, request: api_v1.DeleteBulkStateRequest,
                        context: grpc.ServicerContext) -> empty_pb2.Empty:
        for item in request.states:
            self._runtime.delete_state(request.store_name, convert.delete_request(item))
        return _EMPTY

    @_rpc
    def ExecuteStateTransaction(self, request: api_v1.ExecuteStateTransactionRequest,
                                context: grpc.ServicerContext) -> empty_pb2.Empty:
        operations = [convert.transaction_operation(op) for op in request.operations]
        self._runtime.transact_state(request.storeName, operations, dict(request.metadata))
        return _EMPTY

    @_rpc
    def GetSecret(self, request: api_v1.GetSecretRequest,
                  context: grpc.ServicerContext) -> api_v1.GetSecretResponse:
        secret = self._runtime.get_secret(request.store_name, request.key,
                                          dict(request.metadata))
        return api_v1.GetSecretResponse(data=secret)

    @_rpc
    def GetBulkSecret(self, request: api_v1.GetBulkSecretRequest,
                      context: grpc.ServicerContext) -> api_v1.GetBulkSecretResponse:
        secrets = self._runtime.bulk_get_secret(request.store_name, dict(request.metadata))
        return api_v1.GetBulkSecretResponse(
            data={name: api_v1.SecretResponse(secrets=values) for name, values in secrets.items()})

    @_rpc
    def InvokeBinding(self, request: api_v1.InvokeBindingRequest,
                      context: grpc.ServicerContext) -> api_v1.InvokeBindingResponse:
        # daprd also copies the caller's gRPC metadata into the binding metadata, for tracing;
        # this runtime does no tracing, and bindings would only see transport noise.
        response = self._runtime.invoke_binding(request.name, BindingRequest(
            operation=request.operation, data=request.data, metadata=dict(request.metadata)))
        return api_v1.InvokeBindingResponse(data=response.data or b"",
                                            metadata=response.metadata)

    @_rpc
    def InvokeService(self, request: api_v1.InvokeServiceRequest,
                      context: grpc.ServicerContext) -> common_v1.InvokeResponse:
        message = request.message
        app_request = convert.app_request(message, context.invocation_metadata())
        response = self._runtime.invoke_app(request.id, message.method, app_request)
        context.send_initial_metadata(convert.reply_metadata(response))
        if response.grpc_status:  # a gRPC app's own status, as daprd passes it on
            raise AppStatus(status_pb2.Status.FromString(response.grpc_status))
        if not HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
            raise app_failure(response)
        return common_v1.InvokeResponse(
            data=any_pb2.Any(type_url=response.type_url, value=response.body),
            content_type=response.content_type)

    @_rpc
    def PublishEvent(self, request: api_v1.PublishEventRequest,
                     context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._runtime.publish(request.pubsub_name, request.topic, request.data,
                              request.data_content_type, dict(request.metadata))
        return _EMPTY

    @_rpc
    def BulkPublishEvent(self, request: api_v1.BulkPublishRequest,
                         context: grpc.ServicerContext) -> api_v1.BulkPublishResponse:
        # daprd answers OK with the failed entries; only scope/lookup errors fail the RPC.
        entries = [BulkEntry(e.entry_id, e.event, e.content_type, dict(e.metadata))
                   for e in request.entries]
        failed = self._runtime.bulk_publish(request.pubsub_name, request.topic, entries,
                                            dict(request.metadata))
        return api_v1.BulkPublishResponse(failedEntries=[
            api_v1.BulkPublishResponseFailedEntry(entry_id=entry_id, error=error)
            for entry_id, error in failed])

    BulkPublishEventAlpha1 = BulkPublishEvent

    @_rpc
    def SubscribeTopicEventsAlpha1(
            self, request: Iterator[api_v1.SubscribeTopicEventsRequestAlpha1],
            context: grpc.ServicerContext) -> Iterator[api_v1.SubscribeTopicEventsResponseAlpha1]:
        # Errors before the first reply go through _rpc; grpc_streaming.py has the stream.
        return subscribe_topic_events(self._runtime.streams, request, context)

    @_rpc
    def GetMetadata(self, request: api_v1.GetMetadataRequest,
                    context: grpc.ServicerContext) -> api_v1.GetMetadataResponse:
        return convert.metadata_response(self._runtime.metadata())

    @_rpc
    def SetMetadata(self, request: api_v1.SetMetadataRequest,
                    context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._runtime.set_metadata(request.key, request.value)
        return _EMPTY


def _unimplemented(name: str) -> Callable[[DaprGrpcApi, Any, grpc.ServicerContext], NoReturn]:
    message = (f"{name} is not implemented by this local Dapr runtime; it serves "
               f"{', '.join(IMPLEMENTED_RPCS)}")

    def handler(self: DaprGrpcApi, request: Any, context: grpc.ServicerContext) -> NoReturn:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, message)
        raise AssertionError("abort returned")  # it always raises

    handler.__name__ = name
    return handler


# The generated base class answers "Method not implemented!"; say which RPC and what exists.
for _name in vars(api_service_v1.DaprServicer):
    if not _name.startswith("_") and _name not in IMPLEMENTED_RPCS:
        setattr(DaprGrpcApi, _name, _unimplemented(_name))


class _ApiTokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without the runtime's ``DAPR_API_TOKEN`` (see ``api_token``)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Any],
                          details: grpc.HandlerCallDetails) -> Any:
        problem = api_token.grpc_rejection(self._token, details.invocation_metadata)
        handler = continuation(details)
        if problem is None or handler is None:
            return handler
        status = rpc_status.to_status(status_pb2.Status(
            code=grpc.StatusCode.UNAUTHENTICATED.value[0], message=HTTPStatus.UNAUTHORIZED.phrase,
            details=[packed(error_details_pb2.ErrorInfo(
                reason=HTTPStatus.UNAUTHORIZED.phrase, domain=ERROR_DOMAIN,
                metadata={"http.code": str(int(HTTPStatus.UNAUTHORIZED)),
                          "http.error_message": problem}))]))

        def refuse(request: Any, context: grpc.ServicerContext) -> NoReturn:
            context.abort_with_status(status)
            raise AssertionError("abort_with_status returned")

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(refuse)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(refuse)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(refuse)
        return grpc.unary_unary_rpc_method_handler(refuse)


def serve(runtime: Runtime, host: str, port: int, *,
          max_workers: int = MAX_WORKERS) -> grpc.Server:
    """Start serving the Dapr gRPC API on ``host:port``; returns the started server.

    Stop it with ``server.stop(grace)``. Raises ``OSError`` when the address cannot be bound
    (port in use: gRPC's SO_REUSEPORT is turned off so two runtimes never share a port).
    """
    max_message_bytes = runtime.settings.max_message_bytes
    options = [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    # Streaming subscriptions hold a worker each; they get their own share of the pool.
    executor = ThreadPoolExecutor(max_workers=max_workers + MAX_STREAMING_SUBSCRIPTIONS,
                                  thread_name_prefix="dapr-grpc")
    token = runtime.settings.api_token
    interceptors = [_ApiTokenInterceptor(token)] if token else []
    server = grpc.server(executor, options=options, interceptors=interceptors)
    api_service_v1.add_DaprServicer_to_server(DaprGrpcApi(runtime), server)
    # Any other service is the app's own: proxied by dapr-app-id (daprd's gRPC proxy).
    server.add_generic_rpc_handlers((GrpcProxy(runtime.settings),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as err:
        executor.shutdown(wait=False)
        raise OSError(f"cannot listen for the Dapr gRPC API on {address}: {err}") from err
    server.start()
    return server

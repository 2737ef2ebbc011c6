"""``pubsub.rabbitmq``: components-contrib's RabbitMQ pub/sub on pika (AMQP 0-9-1).

A topic is a durable exchange of ``exchangeKind`` (fanout by default). A subscription is a
queue named ``<consumerID>-<topic>`` (durable per ``durable``, auto-deleted per
``deletedWhenUnused``, ``x-max-length``/``x-max-length-bytes`` from ``maxLen``/
``maxLenBytes``) bound to it with the subscription's ``routingKey`` (comma-separated; none by
default). With ``enableDeadLetter`` the queue dead-letters to the fanout exchange
``dlx-<queue>``, bound to the lazy queue ``dlq-<queue>``, as components-contrib names them.

Each subscription has its own connection and a thread that runs it (pika is not thread safe);
handlers run on a pool of worker threads (``concurrency``: ``parallel``, one worker per
prefetched message up to ``prefetchCount``, or ``single``, one worker, broker order). A message
is acked after its handler returned and nacked when it raised, requeued only with
``requeueInFailure`` (as components-contrib: by default a failed message is dropped, or
dead-lettered); ``autoAck`` lets the broker forget it on delivery. Unacked messages of a
connection that dies go back to the queue, so a crashed subscriber loses nothing. A lost
connection is logged once and dialled again every ``reconnectWaitSeconds``.

Publishing waits for the broker's confirm with ``publisherConfirm``; ``deliveryMode`` 2 makes
messages persistent; ``ttlInSeconds`` (component default or per request) becomes the message
expiration. Request metadata ``routingKey``, ``messageID``, ``correlationID``, ``type``,
``contentType`` and ``priority`` become AMQP properties.

Metadata: connectionString, or protocol + hostname[:port] + username + password; caCert,
clientCert, clientKey, saslExternal; clientName, heartBeat; durable, deletedWhenUnused,
enableDeadLetter, maxLen, maxLenBytes, exchangeKind, prefetchCount, concurrency, autoAck,
requeueInFailure, deliveryMode, publisherConfirm, reconnectWaitSeconds, ttlInSeconds,
publishMessagePropertiesToMetadata; consumerID (the runtime fills it with the app id).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.credentials import ExternalCredentials

from ...errors import ComponentConfigError, PubSubPublishError
from ..base import is_truthy, metadata_duration, metadata_int
from .base import Handler, Message, PublishRequest, PubSub, Subscription

__all__ = ["RabbitMQPubSub"]

_log = logging.getLogger(__name__)

_EXCHANGE_KINDS = frozenset({"fanout", "topic", "direct", "headers", "x-consistent-hash"})
_CONCURRENCY_MODES = frozenset({"parallel", "single"})
_DEFAULT_RECONNECT_WAIT_S = 3.0
_DEFAULT_HEARTBEAT_S = 10.0
_PUBLISH_ATTEMPTS = 3
#: Worker threads of a parallel subscription when prefetchCount is 0 (unbounded in daprd).
_PARALLEL_WORKERS = 32
_SUBSCRIBE_WAIT_S = 10.0
_EVENT_LOOP_TICK_S = 0.1
_AMQP_ERRORS = (pika.exceptions.AMQPError, OSError)


@dataclass(frozen=True)
class _Settings:
    consumer_id: str
    durable: bool
    delete_when_unused: bool
    enable_dead_letter: bool
    auto_ack: bool
    requeue_in_failure: bool
    delivery_mode: int
    prefetch_count: int
    max_len: int
    max_len_bytes: int
    exchange_kind: str
    publisher_confirm: bool
    single: bool
    reconnect_wait: float
    default_ttl: int | None
    properties_to_metadata: bool


def _flag(metadata: Mapping[str, str], key: str, default: bool = False) -> bool:
    value = metadata.get(key, "")
    return is_truthy(value) if value.strip() else default


def _bounded(name: str, metadata: Mapping[str, str], key: str, high: int) -> int:
    value = metadata_int(name, key, metadata.get(key))
    if not 0 <= value <= high:
        raise ComponentConfigError(f"component {name!r}: metadata {key!r} must be between 0 "
                                   f"and {high}, got {metadata.get(key)!r}")
    return value


def _settings(name: str, metadata: Mapping[str, str]) -> _Settings:
    kind = metadata.get("exchangeKind") or "fanout"
    if kind not in _EXCHANGE_KINDS:
        raise ComponentConfigError(f"component {name!r}: metadata 'exchangeKind' must be one "
                                   f"of {', '.join(sorted(_EXCHANGE_KINDS))}, got {kind!r}")
    mode = metadata.get("concurrency") or "parallel"
    if mode not in _CONCURRENCY_MODES:
        raise ComponentConfigError(f"component {name!r}: metadata 'concurrency' must be "
                                   f"'parallel' or 'single', got {mode!r}")
    ttl = metadata.get("ttlInSeconds")
    reconnect = metadata_duration(name, "reconnectWaitSeconds", metadata.get(
        "reconnectWaitSeconds"))
    return _Settings(
        consumer_id=metadata.get("consumerID", ""),
        durable=_flag(metadata, "durable", True),
        delete_when_unused=_flag(metadata, "deletedWhenUnused", True),
        enable_dead_letter=_flag(metadata, "enableDeadLetter"),
        auto_ack=_flag(metadata, "autoAck"),
        requeue_in_failure=_flag(metadata, "requeueInFailure"),
        delivery_mode=_bounded(name, metadata, "deliveryMode", 2),
        prefetch_count=_bounded(name, metadata, "prefetchCount", 255),
        max_len=metadata_int(name, "maxLen", metadata.get("maxLen")),
        max_len_bytes=metadata_int(name, "maxLenBytes", metadata.get("maxLenBytes")),
        exchange_kind=kind, publisher_confirm=_flag(metadata, "publisherConfirm"),
        single=mode == "single",
        reconnect_wait=reconnect if metadata.get("reconnectWaitSeconds") else
        _DEFAULT_RECONNECT_WAIT_S,
        default_ttl=metadata_int(name, "ttlInSeconds", ttl) if ttl and ttl.strip() else None,
        properties_to_metadata=_flag(metadata, "publishMessagePropertiesToMetadata"))


def _ssl_options(metadata: Mapping[str, str], server: str,
                 pem_dir: Path) -> pika.SSLOptions:
    context = ssl.create_default_context(cadata=metadata.get("caCert") or None)
    if metadata.get("clientCert") and metadata.get("clientKey"):
        (pem_dir / "cert.pem").write_text(metadata["clientCert"], encoding="utf-8")
        (pem_dir / "key.pem").write_text(metadata["clientKey"], encoding="utf-8")
        context.load_cert_chain(pem_dir / "cert.pem", pem_dir / "key.pem")
    return pika.SSLOptions(context, server)


def _parameters(name: str, metadata: Mapping[str, str], pem_dir: Path) -> pika.URLParameters:
    """Connection parameters as components-contrib's connectionURI() plus TLS and options."""
    url = metadata.get("connectionString", "")
    protocol = metadata.get("protocol", "")
    if url:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("amqp", "amqps"):
            raise ComponentConfigError(f"component {name!r}: metadata 'connectionString' "
                                       f"must be an amqp:// or amqps:// URL")
        if protocol and protocol != scheme:
            raise ComponentConfigError(f"component {name!r}: metadata 'protocol' {protocol!r} "
                                       f"does not match the connectionString")
    else:
        protocol = protocol or "amqp"
        if protocol not in ("amqp", "amqps"):
            raise ComponentConfigError(f"component {name!r}: metadata 'protocol' must be "
                                       f"'amqp' or 'amqps', got {protocol!r}")
        user = urllib.parse.quote(metadata.get("username", ""), safe="")
        password = urllib.parse.quote(metadata.get("password", ""), safe="")
        auth = f"{user}:{password}@" if user and password else (f"{user}@" if user else "")
        url = f"{protocol}://{auth}{metadata.get('hostname') or 'localhost'}"
    try:
        params = pika.URLParameters(url)
    except (ValueError, TypeError) as err:
        raise ComponentConfigError(f"component {name!r}: metadata 'connectionString': "
                                   f"{err}") from None
    heartbeat = metadata_duration(name, "heartBeat", metadata.get("heartBeat"))
    params.heartbeat = round(heartbeat or _DEFAULT_HEARTBEAT_S)
    params.connection_attempts, params.socket_timeout = 1, 5.0
    if metadata.get("clientName"):
        params.client_properties = {"connection_name": metadata["clientName"]}
    if url.startswith("amqps") or metadata.get("caCert"):
        params.ssl_options = _ssl_options(metadata, params.host, pem_dir)
    if _flag(metadata, "saslExternal"):
        if not all(metadata.get(k) for k in ("caCert", "clientCert", "clientKey")):
            raise ComponentConfigError(f"component {name!r}: metadata 'saslExternal' needs "
                                       f"caCert, clientCert and clientKey")
        params.credentials = ExternalCredentials()
    return params


class RabbitMQPubSub(PubSub):
    """Dapr type ``pubsub.rabbitmq`` (see the module docstring for its metadata)."""

    type_name: ClassVar[str] = "pubsub.rabbitmq"
    optional_metadata: ClassVar[frozenset[str]] = frozenset({
        "connectionString", "protocol", "hostname", "username", "password", "caCert",
        "clientCert", "clientKey", "saslExternal", "durable", "publisherConfirm", "maxLen",
        "maxLenBytes", "concurrency", "enableDeadLetter", "prefetchCount", "exchangeKind",
        "deliveryMode", "autoAck", "deletedWhenUnused", "requeueInFailure",
        "reconnectWaitSeconds", "ttlInSeconds", "clientName", "heartBeat",
        "publishMessagePropertiesToMetadata",
    })
    #: components-contrib's rabbitMQ.Features(): per-message TTL.
    features: ClassVar[tuple[str, ...]] = ("MESSAGE_TTL",)

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self.settings = _settings(name, metadata)
        self._pem_dir = tempfile.TemporaryDirectory(prefix="pubsub-rabbitmq-")
        self.parameters = _parameters(name, metadata, Path(self._pem_dir.name))
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._exchanges: set[str] = set()
        self._subscriptions: list[_QueueSubscription] = []
        self._closed = False
        try:  # as daprd: a broker that is down at start is dialled again on first use
            with self._lock:
                self._connect()
        except _AMQP_ERRORS as err:
            _log.warning("rabbitmq pub/sub %s: cannot connect yet: %s", name, err)

    def connect(self) -> pika.BlockingConnection:
        return pika.BlockingConnection(self.parameters)

    def _connect(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop()
        self._connection = self.connect()
        self._channel = self._connection.channel()
        if self.settings.publisher_confirm:
            self._channel.confirm_delivery()
        return self._channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._exchanges.clear()
        if connection is not None and connection.is_open:
            with contextlib.suppress(*_AMQP_ERRORS):
                connection.close()

    def declare_exchange(self, channel: BlockingChannel, exchange: str, kind: str,
                         cache: set[str]) -> None:
        if exchange not in cache:
            channel.exchange_declare(exchange, kind, durable=True, auto_delete=False)
            cache.add(exchange)

    def publish(self, request: PublishRequest) -> None:
        if self._closed:
            raise PubSubPublishError(f"component {self.name!r} is closed")
        properties = self._properties(request)
        key = request.metadata.get("routingKey", "")
        for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
            try:
                with self._lock:
                    channel = self._connect()
                    self.declare_exchange(channel, request.topic, self.settings.exchange_kind,
                                          self._exchanges)
                    channel.basic_publish(request.topic, key, request.data, properties)
                return
            except _AMQP_ERRORS as err:
                with self._lock:
                    self._drop()
                if attempt == _PUBLISH_ATTEMPTS:
                    raise PubSubPublishError(
                        f"rabbitmq pub/sub: publishing to {request.topic!r} failed after "
                        f"{attempt} attempts: {type(err).__name__}: {err}") from err
                # The first retry is immediate: a stale idle connection needs only a redial.
                time.sleep(0 if attempt == 1 else self.settings.reconnect_wait)

    def _properties(self, request: PublishRequest) -> pika.BasicProperties:
        meta = request.metadata
        ttl: int | None = self.settings.default_ttl
        if meta.get("ttlInSeconds"):
            try:
                ttl = int(meta["ttlInSeconds"])
            except ValueError:
                _log.warning("rabbitmq pub/sub: ttlInSeconds %r of a message to %s is not an "
                             "integer; ignored", meta["ttlInSeconds"], request.topic)
        priority = meta.get("priority", "")
        return pika.BasicProperties(
            content_type=request.content_type or meta.get("contentType") or "text/plain",
            delivery_mode=self.settings.delivery_mode or None,
            expiration=None if ttl is None or ttl < 0 else str(ttl * 1000),
            message_id=meta.get("messageID") or None,
            correlation_id=meta.get("correlationID") or None, type=meta.get("type") or None,
            priority=int(priority) if priority.isdigit() and int(priority) < 256 else None)

    def subscribe(self, topic: str, handler: Handler,
                  metadata: Mapping[str, str]) -> Subscription:
        if not self.settings.consumer_id:
            raise ComponentConfigError(
                f"component {self.name!r}: metadata 'consumerID' is empty: a subscription "
                f"needs a queue name (the runtime fills it with the app id)")
        subscription = _QueueSubscription(self, topic, handler,
                                          metadata.get("routingKey", ""))
        self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close()
        with self._lock:
            self._drop()
        self._pem_dir.cleanup()


def _delivery_metadata(properties: pika.BasicProperties) -> dict[str, str]:
    """components-contrib's publishMessagePropertiesToMetadata keys."""
    metadata = {f"metadata.{key}": str(value) for key, value in (
        ("messageid", properties.message_id), ("correlationid", properties.correlation_id),
        ("contenttype", properties.content_type), ("type", properties.type),
        ("priority", properties.priority)) if value is not None}
    for key, value in (properties.headers or {}).items():
        metadata[f"metadata.{key}"] = value.decode() if isinstance(value, bytes) else str(value)
    return metadata


class _QueueSubscription(Subscription):
    """One queue's connection thread and its handler workers."""

    def __init__(self, owner: RabbitMQPubSub, topic: str, handler: Handler,
                 routing_key: str) -> None:
        self._owner, self._topic, self._handler = owner, topic, handler
        self.queue = f"{owner.settings.consumer_id}-{topic}"
        self._routing_keys = routing_key.split(",")
        settings = owner.settings
        self._workers = ThreadPoolExecutor(
            1 if settings.single else (settings.prefetch_count or _PARALLEL_WORKERS),
            thread_name_prefix=f"rabbitmq-{self.queue}")
        self._stop, self._ready = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"rabbitmq-consume-{self.queue}")
        self._thread.start()
        if not self._ready.wait(_SUBSCRIBE_WAIT_S):
            _log.warning("rabbitmq pub/sub: queue %s is not consuming yet; still trying",
                         self.queue)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self._consume()
                return
            except _AMQP_ERRORS as err:
                if not failing:
                    _log.warning("rabbitmq pub/sub: subscriber for %s lost its connection, "
                                 "reconnecting every %.1fs: %s: %s", self.queue,
                                 self._owner.settings.reconnect_wait, type(err).__name__, err)
                failing = True
            self._stop.wait(self._owner.settings.reconnect_wait)

    def _consume(self) -> None:
        connection = self._owner.connect()
        try:
            channel = connection.channel()
            self._declare(channel)
            on_message = functools.partial(self._on_message, connection)
            channel.basic_consume(self.queue, on_message,
                                  auto_ack=self._owner.settings.auto_ack,
                                  consumer_tag=f"{self.queue}-{id(connection):x}")
            self._ready.set()
            _log.info("rabbitmq pub/sub: consuming %s", self.queue)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=_EVENT_LOOP_TICK_S)
        finally:
            if connection.is_open:
                with contextlib.suppress(*_AMQP_ERRORS):
                    connection.close()

    def _declare(self, channel: BlockingChannel) -> None:
        settings, owner = self._owner.settings, self._owner
        declared: set[str] = set()
        owner.declare_exchange(channel, self._topic, settings.exchange_kind, declared)
        limits = {k: v for k, v in (("x-max-length", settings.max_len),
                                    ("x-max-length-bytes", settings.max_len_bytes)) if v > 0}
        arguments: dict[str, Any] = dict(limits)
        if settings.enable_dead_letter:
            dlx, dlq = f"dlx-{self.queue}", f"dlq-{self.queue}"
            owner.declare_exchange(channel, dlx, "fanout", declared)
            channel.queue_declare(dlq, durable=True, auto_delete=settings.delete_when_unused,
                                  arguments={**limits, "x-queue-mode": "lazy"})
            channel.queue_bind(dlq, dlx, "")
            arguments["x-dead-letter-exchange"] = dlx
        channel.queue_declare(self.queue, durable=settings.durable,
                              auto_delete=settings.delete_when_unused, arguments=arguments)
        if settings.prefetch_count > 0:
            channel.basic_qos(prefetch_count=settings.prefetch_count)
        for key in self._routing_keys:
            channel.queue_bind(self.queue, self._topic, key)

    def _on_message(self, connection: pika.BlockingConnection, channel: BlockingChannel,
                    method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        message = Message(
            topic=self._topic, data=body, content_type=properties.content_type or "",
            metadata=_delivery_metadata(properties)
            if self._owner.settings.properties_to_metadata else {})
        self._workers.submit(self._handle, connection, channel, method.delivery_tag, message)

    def _handle(self, connection: pika.BlockingConnection, channel: BlockingChannel,
                tag: int, message: Message) -> None:
        settings = self._owner.settings
        try:
            self._handler(message)
        except Exception as err:  # noqa: BLE001 - nacked: requeued per requeueInFailure
            _log.error("rabbitmq pub/sub: handling a message from %s failed: %s",
                       self._topic, err)
            if not settings.auto_ack:
                self._settle(connection, functools.partial(
                    channel.basic_nack, tag, requeue=settings.requeue_in_failure))
            return
        if not settings.auto_ack:
            self._settle(connection, functools.partial(channel.basic_ack, tag))

    @staticmethod
    def _settle(connection: pika.BlockingConnection, action: Callable[[], None]) -> None:
        """Ack or nack on the connection's own thread; a dead connection already requeued."""
        def run() -> None:
            try:
                action()
            except _AMQP_ERRORS as err:
                _log.warning("rabbitmq pub/sub: cannot settle a message: %s", err)
        with contextlib.suppress(*_AMQP_ERRORS):
            connection.add_callback_threadsafe(run)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(_SUBSCRIBE_WAIT_S)
        self._workers.shutdown(wait=False, cancel_futures=True)

"""``pubsub.redis``: components-contrib's Redis Streams pub/sub on redis-py.

A topic is a stream. Publishing is one ``XADD`` of the fields components-contrib writes,
``data`` (the bytes) and ``metadata`` (the request metadata as Go's ``json.Marshal`` prints
it), so a real daprd reads our messages and we read its; trimmed by ``MAXLEN ~ maxLenApprox``
or ``MINID ~ now-streamTTL``. One extra field, ``contentType``, carries the content type
(daprd reads only ``data`` and ``metadata``, so it ignores it).

Subscribing joins the consumer group named ``consumerID`` (created at ``0`` with MKSTREAM;
consumer name = group name, as daprd does). One thread reads ``XREADGROUP >`` (up to
``queueDepth`` at a time) into a queue of ``queueDepth``; ``concurrency`` worker threads call
the handler and ``XACK`` only after it returned. A message whose handler raised, or whose
subscriber crashed, stays pending; every ``redeliverInterval`` a reclaim thread takes over
(``XAUTOCLAIM``) what has been pending longer than ``processingTimeout`` and delivers it
again. Either one set to 0 turns redelivery off. When Redis goes away the loops log one line
and retry with back-off; a lost group (``NOGROUP``) is created again.

Metadata: redisHost (required), redisPort, redisUsername, redisPassword, redisDB, redisType
(node | cluster), failover + sentinelMasterName + sentinelUsername/sentinelPassword, enableTLS,
insecureSkipTLSVerify, clientCert, clientKey, redisMaxRetries, redisMinRetryInterval,
redisMaxRetryInterval, dialTimeout, readTimeout, poolSize, consumerID, redeliverInterval,
processingTimeout, queueDepth, concurrency, maxLenApprox, streamTTL. Accepted and checked but
without effect on redis-py: writeTimeout (one socket timeout: readTimeout), poolTimeout,
maxConnAge, minIdleConns, idleCheckFrequency, idleTimeout. useEntraID / useOIDC (cloud token
sign-in) are refused when true. Durations given as a bare number are milliseconds, as
components-contrib reads them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from ...errors import ComponentConfigError, PubSubPublishError
from ..base import is_truthy, metadata_int
from ..go_values import go_json_dumps, parse_go_duration
from .base import Handler, Message, PublishRequest, PubSub, Subscription

__all__ = ["RedisPubSub"]

_log = logging.getLogger(__name__)

_DEFAULT_PORT = 6379
_DEFAULTS_S = {"processingTimeout": 60.0, "redeliverInterval": 15.0, "dialTimeout": 5.0,
               "readTimeout": 3.0, "redisMinRetryInterval": 0.008,
               "redisMaxRetryInterval": 0.512}
_DEFAULT_QUEUE_DEPTH = 100
_DEFAULT_CONCURRENCY = 10
_DEFAULT_RETRIES = 3
#: Longest XREADGROUP BLOCK: how long ``close`` may wait for the reading thread.
_MAX_POLL_BLOCK_S = 1.0
_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.1, 5.0
_WORKER_POLL_S = 0.2
_DAY_PREFIX = re.compile(r"^(\d+)d")
_BUSYGROUP = "BUSYGROUP"
_NOGROUP = "NOGROUP"
_DURATION_KEYS = ("processingTimeout", "redeliverInterval", "dialTimeout", "readTimeout",
                  "writeTimeout", "redisMinRetryInterval", "redisMaxRetryInterval",
                  "poolTimeout", "maxConnAge", "idleCheckFrequency", "idleTimeout")


def _duration(name: str, key: str, value: str | None) -> float | None:
    """components-contrib's redis ``Duration``: a bare integer is milliseconds (negative: -1,
    "disabled"), else a Go duration; seconds, None when absent."""
    text = (value or "").strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        number = int(text)
        return -1.0 if number < 0 else number / 1000
    try:
        return parse_go_duration(text) / 1e9
    except ValueError:
        raise ComponentConfigError(
            f"component {name!r}: metadata {key!r} must be a duration such as '500ms' or '15s' "
            f"(a bare number is milliseconds), got {value!r}") from None


def _stream_ttl(name: str, value: str | None) -> float:
    """streamTTL as dapr/kit decodes a duration: Go duration, days ("30d"), or seconds."""
    text = (value or "").strip()
    if not text:
        return 0.0
    days = 0
    if match := _DAY_PREFIX.match(text):
        days, text = int(match.group(1)), text[match.end():]
    try:
        rest = 0.0 if not text else (float(int(text)) if text.isdigit()
                                     else parse_go_duration(text) / 1e9)
    except ValueError:
        raise ComponentConfigError(f"component {name!r}: metadata 'streamTTL' must be a "
                                   f"duration such as '1h' or '30d', got {value!r}") from None
    return days * 86400 + rest


def _count(name: str, key: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    number = metadata_int(name, key, value)
    if number < 0:
        raise ComponentConfigError(f"component {name!r}: metadata {key!r} must not be "
                                   f"negative, got {value!r}")
    return number


@dataclass(frozen=True)
class _Settings:
    consumer_id: str
    processing_timeout: float
    redeliver_interval: float
    queue_depth: int
    concurrency: int
    max_len_approx: int
    stream_ttl: float
    read_timeout: float | None


def _settings(name: str, metadata: Mapping[str, str]) -> _Settings:
    durations = {key: _duration(name, key, metadata.get(key)) for key in _DURATION_KEYS}
    for flag in ("useEntraID", "useOIDC"):
        if is_truthy(metadata.get(flag, "")):
            raise ComponentConfigError(f"component {name!r}: metadata {flag!r}: token sign-in "
                                       f"is not supported by this runtime; use redisPassword")
    max_len = metadata_int(name, "maxLenApprox", metadata.get("maxLenApprox"))
    ttl = _stream_ttl(name, metadata.get("streamTTL"))
    if max_len and ttl:
        raise ComponentConfigError(f"component {name!r}: metadata 'maxLenApprox' and "
                                   f"'streamTTL' cannot be used together")
    read = durations["readTimeout"]
    return _Settings(
        consumer_id=metadata.get("consumerID", ""),
        processing_timeout=_or_default(durations, "processingTimeout"),
        redeliver_interval=_or_default(durations, "redeliverInterval"),
        queue_depth=_count(name, "queueDepth", metadata.get("queueDepth"), _DEFAULT_QUEUE_DEPTH),
        # daprd would start no worker for 0 and never deliver; one worker is the useful reading.
        concurrency=max(1, _count(name, "concurrency", metadata.get("concurrency"),
                                  _DEFAULT_CONCURRENCY)),
        max_len_approx=max_len, stream_ttl=ttl,
        read_timeout=None if read is not None and read < 0 else (read or _DEFAULTS_S[
            "readTimeout"]))


def _or_default(durations: Mapping[str, float | None], key: str) -> float:
    value = durations[key]
    return _DEFAULTS_S[key] if value is None else max(value, 0.0)


def _hosts(name: str, metadata: Mapping[str, str]) -> list[tuple[str, int]]:
    extra = (metadata.get("redisPort") or "").strip()
    hosts = []
    for item in metadata["redisHost"].split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = item.strip(), extra or str(_DEFAULT_PORT)
        elif extra and extra != port:
            raise ComponentConfigError(f"component {name!r}: metadata 'redisPort' {extra!r} "
                                       f"differs from the port in redisHost {item!r}")
        if not port.isdigit() or not host:
            raise ComponentConfigError(f"component {name!r}: metadata 'redisHost' must be "
                                       f"host[:port][,host[:port]...], got {item!r}")
        hosts.append((host, int(port)))
    return hosts


class _ClientFactory:
    """Builds redis-py clients from the metadata (node, cluster or sentinel failover)."""

    def __init__(self, name: str, metadata: Mapping[str, str], read_timeout: float | None,
                 pem_dir: Path) -> None:
        self.hosts = _hosts(name, metadata)
        self.redis_type = metadata.get("redisType", "") or "node"
        if self.redis_type not in ("node", "cluster"):
            raise ComponentConfigError(f"component {name!r}: metadata 'redisType' must be "
                                       f"'node' or 'cluster', got {self.redis_type!r}")
        self.failover = is_truthy(metadata.get("failover", ""))
        self.master = metadata.get("sentinelMasterName", "")
        if self.failover and not self.master:
            raise ComponentConfigError(f"component {name!r}: metadata 'failover' needs "
                                       f"'sentinelMasterName'")
        self.sentinel_auth = {k: v for k, v in (
            ("username", metadata.get("sentinelUsername")),
            ("password", metadata.get("sentinelPassword"))) if v}
        self.kwargs = _connection_kwargs(name, metadata, read_timeout, pem_dir)
        self.address = ",".join(f"{h}:{p}" for h, p in self.hosts)

    def create(self, socket_timeout: float | None = None) -> Any:
        kwargs = dict(self.kwargs)
        if socket_timeout is not None:
            kwargs["socket_timeout"] = socket_timeout
        if self.failover:
            from redis.sentinel import Sentinel
            return Sentinel(self.hosts, sentinel_kwargs=self.sentinel_auth or None,
                            **kwargs).master_for(self.master)
        if self.redis_type == "cluster":
            from redis.cluster import ClusterNode, RedisCluster
            kwargs.pop("db", None)
            return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in self.hosts],
                                **kwargs)
        host, port = self.hosts[0]
        return redis.Redis(host=host, port=port, **kwargs)


def _connection_kwargs(name: str, metadata: Mapping[str, str], read_timeout: float | None,
                       pem_dir: Path) -> dict[str, Any]:
    def seconds(key: str) -> float | None:
        value = _duration(name, key, metadata.get(key))
        return _DEFAULTS_S.get(key) if value is None else value

    retries = metadata_int(name, "redisMaxRetries", metadata.get("redisMaxRetries"))
    low, high = seconds("redisMinRetryInterval"), seconds("redisMaxRetryInterval")
    backoff = NoBackoff() if (low or 0) < 0 or (high or 0) < 0 else ExponentialBackoff(
        cap=high or 0.512, base=low or 0.008)
    pool_size = metadata_int(name, "poolSize", metadata.get("poolSize"))
    kwargs: dict[str, Any] = {
        "db": metadata_int(name, "redisDB", metadata.get("redisDB")),
        "username": metadata.get("redisUsername") or None,
        "password": metadata.get("redisPassword") or None,
        "socket_connect_timeout": seconds("dialTimeout"), "socket_timeout": read_timeout,
        # go-redis: 0 means its default (3 retries), -1 none.
        "retry": Retry(backoff, 0 if retries < 0 else retries or _DEFAULT_RETRIES),
    }
    if pool_size > 0:
        kwargs["max_connections"] = pool_size
    if is_truthy(metadata.get("enableTLS", "")):
        kwargs["ssl"] = True
        kwargs["ssl_cert_reqs"] = "none" if is_truthy(
            metadata.get("insecureSkipTLSVerify", "")) else "required"
        if metadata.get("clientCert") and metadata.get("clientKey"):
            for key, file_name in (("clientCert", "cert.pem"), ("clientKey", "key.pem")):
                (pem_dir / file_name).write_text(metadata[key], encoding="utf-8")
            kwargs["ssl_certfile"] = str(pem_dir / "cert.pem")
            kwargs["ssl_keyfile"] = str(pem_dir / "key.pem")
    return kwargs


class RedisPubSub(PubSub):
    """Dapr type ``pubsub.redis`` on Redis Streams (see the module docstring)."""

    type_name: ClassVar[str] = "pubsub.redis"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"redisHost"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset({
        "redisPort", "redisUsername", "redisPassword", "redisDB", "redisType", "consumerID",
        "enableTLS", "insecureSkipTLSVerify", "clientCert", "clientKey", "redeliverInterval",
        "processingTimeout", "queueDepth", "concurrency", "redisMaxRetries",
        "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout", "readTimeout",
        "writeTimeout", "poolSize", "poolTimeout", "maxConnAge", "minIdleConns",
        "idleCheckFrequency", "idleTimeout", "failover", "sentinelMasterName",
        "sentinelUsername", "sentinelPassword", "maxLenApprox", "streamTTL", "useEntraID",
        "azureTenantId", "azureClientId", "azureClientSecret", "azureCertificate",
        "azureCertificateFile", "azureCertificatePassword", "azureEnvironment", "useOIDC",
        "oidcTokenEndpoint", "oidcClientID", "oidcClientAssertionCert",
        "oidcClientAssertionKey", "oidcResource", "oidcAudience", "oidcScopes", "oidcKid",
        "oidcCACert",
    })
    #: components-contrib's redisStreams.Features() returns nil.
    features: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        self.settings = _settings(name, metadata)
        metadata_int(name, "minIdleConns", metadata.get("minIdleConns"))
        self._pem_dir = tempfile.TemporaryDirectory(prefix="pubsub-redis-")
        self._clients = _ClientFactory(name, metadata, self.settings.read_timeout,
                                       Path(self._pem_dir.name))
        self._redis = self._clients.create()
        self._subscriptions: list[_StreamSubscription] = []
        self._closed = False
        try:
            self._redis.ping()
        except redis.RedisError as err:
            raise ComponentConfigError(f"component {name!r}: redis streams: error connecting "
                                       f"to redis at {self._clients.address}: {err}") from err

    def publish(self, request: PublishRequest) -> None:
        if self._closed:
            raise PubSubPublishError(f"component {self.name!r} is closed")
        fields: dict[str, bytes | str] = {
            "data": request.data, "metadata": go_json_dumps(request.metadata)}
        if request.content_type:
            fields["contentType"] = request.content_type
        trim: dict[str, Any] = {}
        if self.settings.max_len_approx > 0:
            trim = {"maxlen": self.settings.max_len_approx, "approximate": True}
        elif self.settings.stream_ttl > 0:
            trim = {"minid": int((time.time() - self.settings.stream_ttl) * 1000),
                    "approximate": True}
        try:
            self._redis.xadd(request.topic, fields, **trim)
        except redis.RedisError as err:
            raise PubSubPublishError(
                f"redis streams: error from publish to {request.topic!r} at "
                f"{self._clients.address}: {type(err).__name__}: {err}") from err

    def subscribe(self, topic: str, handler: Handler,
                  metadata: Mapping[str, str]) -> Subscription:
        if not self.settings.consumer_id:
            raise ComponentConfigError(
                f"component {self.name!r}: metadata 'consumerID' is empty: a subscription "
                f"needs a consumer group (the runtime fills it with the app id)")
        subscription = _StreamSubscription(self, topic, handler)
        self._subscriptions.append(subscription)
        return subscription

    def create_group(self, topic: str) -> None:
        """XGROUP CREATE ... 0 MKSTREAM; an existing group is fine (BUSYGROUP)."""
        try:
            self._redis.xgroup_create(topic, self.settings.consumer_id, id="0", mkstream=True)
        except redis.ResponseError as err:
            if _BUSYGROUP not in str(err):
                raise

    def ack(self, topic: str, message_id: bytes) -> None:
        try:
            self._redis.xack(topic, self.settings.consumer_id, message_id)
        except redis.RedisError as err:
            _log.error("redis streams: error acknowledging message %s on %s: %s",
                       message_id.decode(), topic, err)

    def new_client(self, socket_timeout: float | None) -> Any:
        return self._clients.create(socket_timeout)

    def close(self) -> None:
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close()
        self._redis.close()
        self._pem_dir.cleanup()


class _Backoff:
    """Exponential wait between failed attempts; logs the first failure of a streak only."""

    def __init__(self, what: str, stop: threading.Event) -> None:
        self.what, self.stop, self.wait_s, self.failing = what, stop, _BACKOFF_FIRST_S, False

    def failed(self, err: Exception) -> None:
        if not self.failing:
            _log.warning("redis streams: %s failed, retrying with back-off: %s: %s",
                         self.what, type(err).__name__, err)
        self.failing = True
        self.stop.wait(self.wait_s)
        self.wait_s = min(self.wait_s * 2, _BACKOFF_MAX_S)

    def succeeded(self) -> None:
        if self.failing:
            _log.info("redis streams: %s works again", self.what)
        self.failing, self.wait_s = False, _BACKOFF_FIRST_S


class _StreamSubscription(Subscription):
    """One topic's reader, reclaimer and ``concurrency`` workers."""

    def __init__(self, owner: RedisPubSub, topic: str, handler: Handler) -> None:
        self._owner, self._topic, self._handler = owner, topic, handler
        settings = owner.settings
        self._group = settings.consumer_id
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[bytes, Message]] = queue.Queue(settings.queue_depth)
        read = settings.read_timeout
        self._block_s = min(read, _MAX_POLL_BLOCK_S) if read else _MAX_POLL_BLOCK_S
        self._reader = owner.new_client(self._block_s + (read or _MAX_POLL_BLOCK_S))
        try:
            owner.create_group(topic)
        except redis.RedisError as err:  # the reading loop creates it once Redis is back
            _log.warning("redis streams: cannot create group %s on %s yet: %s",
                         self._group, topic, err)
        self._threads = [threading.Thread(target=self._poll, daemon=True,
                                          name=f"redis-poll-{topic}"),
                         threading.Thread(target=self._reclaim_loop, daemon=True,
                                          name=f"redis-reclaim-{topic}")]
        self._threads += [threading.Thread(target=self._work, daemon=True,
                                           name=f"redis-worker-{topic}-{i}")
                          for i in range(settings.concurrency)]
        for thread in self._threads:
            thread.start()

    def _poll(self) -> None:
        backoff = _Backoff(f"reading stream {self._topic}", self._stop)
        count = self._owner.settings.queue_depth or None
        while not self._stop.is_set():
            try:
                replies = self._reader.xreadgroup(
                    self._group, self._group, {self._topic: ">"}, count=count,
                    block=int(self._block_s * 1000))
            except redis.RedisError as err:
                if _NOGROUP in str(err):
                    self._recreate_group()
                backoff.failed(err)
                continue
            backoff.succeeded()
            for _stream, entries in replies or []:
                self._enqueue(entries)

    def _recreate_group(self) -> None:
        _log.warning("redis streams: consumer group %s does not exist for stream %s "
                     "(data loss on the server, or deleted); creating it again",
                     self._group, self._topic)
        with contextlib.suppress(redis.RedisError):  # the next read fails and backs off
            self._owner.create_group(self._topic)

    def _reclaim_loop(self) -> None:
        settings = self._owner.settings
        if settings.processing_timeout <= 0 or settings.redeliver_interval <= 0:
            return
        backoff = _Backoff(f"reclaiming pending messages of {self._topic}", self._stop)
        while not self._stop.is_set():
            try:
                self._reclaim(int(settings.processing_timeout * 1000))
            except redis.RedisError as err:
                if _NOGROUP not in str(err):
                    backoff.failed(err)
                    continue
            backoff.succeeded()
            self._stop.wait(settings.redeliver_interval)

    def _reclaim(self, min_idle_ms: int) -> None:
        """Take over every message pending longer than processingTimeout and deliver it."""
        cursor: bytes | str = "0-0"
        depth = self._owner.settings.queue_depth or _DEFAULT_QUEUE_DEPTH
        while not self._stop.is_set():
            reply = self._reader.xautoclaim(self._topic, self._group, self._group, min_idle_ms,
                                            start_id=cursor, count=depth)
            cursor, entries = reply[0], reply[1]
            for message_id, fields in entries:
                if fields is None:  # deleted from the stream meanwhile (Redis 6.2): drop it
                    self._owner.ack(self._topic, message_id)
            self._enqueue([entry for entry in entries if entry[1] is not None])
            if cursor in (b"0-0", "0-0"):
                return

    def _enqueue(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for message_id, fields in entries:
            item = (message_id, self._message(message_id, fields))
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_WORKER_POLL_S)
                    break
                except queue.Full:
                    continue

    def _message(self, message_id: bytes, fields: dict[bytes, bytes]) -> Message:
        metadata: dict[str, str] = {}
        if raw := fields.get(b"metadata"):
            try:
                metadata = {str(k): str(v) for k, v in json.loads(raw).items()}
            except (ValueError, AttributeError) as err:
                _log.warning("redis streams: could not read the metadata of message %s: %s",
                             message_id.decode(), err)
        return Message(topic=self._topic, data=fields.get(b"data", b""),
                       content_type=fields.get(b"contentType", b"").decode(),
                       metadata=metadata)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                message_id, message = self._queue.get(timeout=_WORKER_POLL_S)
            except queue.Empty:
                continue
            try:
                self._handler(message)
            except Exception as err:  # noqa: BLE001 - stays pending; the reclaimer redelivers
                _log.error("redis streams: error processing message %s of %s: %s",
                           message_id.decode(), self._topic, err)
                continue
            self._owner.ack(self._topic, message_id)

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + self._block_s + 1.0
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._reader.close()

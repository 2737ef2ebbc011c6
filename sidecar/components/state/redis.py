"""``state.redis``: Dapr's Redis state store layout on redis-py.

Each item is a hash with ``data`` and ``version`` fields, as Dapr's store writes it, so data
written here reads the same through a real daprd. Single writes and deletes run a Lua script
that checks the version (the etag) and first-write atomically; ``ttlInSeconds`` sets EXPIRE
(-1 = PERSIST). A single read is one script too (both fields and PTTL in one command).
Transactions WATCH their keys, check every etag, then apply all operations in one
MULTI/EXEC, so a failed etag check changes nothing. Every command has a socket timeout:
a Redis that is down gives a StateGetError/StateSaveError naming the address, never a hang.

Metadata: redisHost (required, host:port), redisPort, redisUsername, redisPassword, redisDB,
enableTLS, insecureSkipTLSVerify, redisType (node only), redisMaxRetries, dialTimeout,
readTimeout, writeTimeout, poolSize, ttlInSeconds (default TTL of every write).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from ...errors import (
    ComponentConfigError,
    DaprError,
    ETagMismatch,
    StateDeleteError,
    StateGetError,
    StateSaveError,
    StateTransactionError,
)
from ...settings import REDIS_SOCKET_TIMEOUT
from ..base import is_truthy, metadata_duration, metadata_int
from .base import (
    TTL_EXPIRE_METADATA,
    DeleteRequest,
    GetResponse,
    SetRequest,
    StateStore,
    TransactionOperation,
    parse_ttl,
    parse_version_etag,
    ttl_expire_time,
)

__all__ = ["RedisStateStore"]

# KEYS[1] key; ARGV: expected version ("" = none), data, first-write ("1"), ttl ("" = keep).
_SET_SCRIPT = """
local version = redis.call("HGET", KEYS[1], "version")
if ARGV[1] ~= "" then
  if version ~= ARGV[1] then return redis.error_reply("ETAG_MISMATCH") end
elseif ARGV[3] == "1" and version then
  return redis.error_reply("ETAG_MISMATCH")
end
redis.call("HSET", KEYS[1], "data", ARGV[2])
local new_version = redis.call("HINCRBY", KEYS[1], "version", 1)
if ARGV[4] == "-1" then redis.call("PERSIST", KEYS[1])
elseif ARGV[4] ~= "" then redis.call("EXPIRE", KEYS[1], tonumber(ARGV[4])) end
return new_version
"""
# KEYS[1] key; ARGV[1] expected version ("" = none).
_DELETE_SCRIPT = """
if ARGV[1] ~= "" and redis.call("HGET", KEYS[1], "version") ~= ARGV[1] then
  return redis.error_reply("ETAG_MISMATCH")
end
return redis.call("DEL", KEYS[1])
"""
# KEYS[1] key -> {{data, version}, PTTL}: a missing field is nil, a missing key PTTL -2.
_GET_SCRIPT = """
return {redis.call("HMGET", KEYS[1], "data", "version"), redis.call("PTTL", KEYS[1])}
"""
_MISMATCH = "ETAG_MISMATCH"
_DEFAULT_PORT = 6379
_DEFAULT_MAX_RETRIES = 3


def _address(metadata: Mapping[str, str], name: str) -> tuple[str, int]:
    host, _, port = metadata["redisHost"].rpartition(":")
    if not host:
        host, port = metadata["redisHost"], metadata.get("redisPort") or str(_DEFAULT_PORT)
    try:
        return host, int(port)
    except ValueError:
        raise ComponentConfigError(f"component {name!r}: metadata 'redisHost' must be "
                                   f"host:port, got {metadata['redisHost']!r}") from None


def _client(name: str, metadata: Mapping[str, str]) -> redis.Redis:
    host, port = _address(metadata, name)
    if metadata.get("redisType", "node") != "node":
        raise ComponentConfigError(f"component {name!r}: metadata 'redisType': only 'node' is "
                                   f"supported here, got {metadata['redisType']!r}")
    dial = metadata_duration(name, "dialTimeout", metadata.get("dialTimeout"))
    read = metadata_duration(name, "readTimeout", metadata.get("readTimeout"))
    retries = metadata.get("redisMaxRetries")
    tls = is_truthy(metadata.get("enableTLS", ""))
    return redis.Redis(
        host=host, port=port, db=metadata_int(name, "redisDB", metadata.get("redisDB")),
        username=metadata.get("redisUsername") or None,
        password=metadata.get("redisPassword") or None,
        socket_connect_timeout=dial or REDIS_SOCKET_TIMEOUT,
        socket_timeout=read or REDIS_SOCKET_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.008), _DEFAULT_MAX_RETRIES if retries is None
                    else metadata_int(name, "redisMaxRetries", retries)),
        max_connections=metadata_int(name, "poolSize", metadata.get("poolSize")) or None,
        ssl=tls, ssl_cert_reqs="none" if is_truthy(
            metadata.get("insecureSkipTLSVerify", "")) else "required")


class RedisStateStore(StateStore):
    """Dapr type ``state.redis`` (see the module docstring for its metadata)."""

    type_name: ClassVar[str] = "state.redis"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"redisHost"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset({
        "redisPort", "redisUsername", "redisPassword", "redisDB", "enableTLS",
        "insecureSkipTLSVerify", "redisType", "redisMaxRetries", "dialTimeout", "readTimeout",
        "writeTimeout", "poolSize", "ttlInSeconds",
    })
    # components-contrib state/redis: ETag, Transactional, QueryAPI, TTL ("ACTOR" is added by
    # the loader when actorStateStore is true, as daprd does).
    features: ClassVar[tuple[str, ...]] = ("ETAG", "TRANSACTIONAL", "QUERY_API", "TTL")

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        try:
            self._default_ttl = parse_ttl(metadata)
        except DaprError as err:
            raise ComponentConfigError(f"component {name!r}: {err.message}") from None
        self._address = "{}:{}".format(*_address(metadata, name))
        self._redis = _client(name, metadata)
        self._set = self._redis.register_script(_SET_SCRIPT)
        self._delete = self._redis.register_script(_DELETE_SCRIPT)
        self._get = self._redis.register_script(_GET_SCRIPT)
        try:
            self._redis.ping()
        except redis.RedisError as err:
            raise ComponentConfigError(f"component {name!r}: cannot reach Redis at "
                                       f"{self._address}: {err}") from err

    @contextmanager
    def _mapped(self, error: type[DaprError], action: str) -> Iterator[None]:
        """Turn redis-py errors into ``error`` (an etag script failure into ETagMismatch)."""
        try:
            yield
        except redis.ResponseError as err:
            if _MISMATCH in str(err):
                raise ETagMismatch(f"possible etag mismatch. error from state store: "
                                   f"{action}") from None
            raise error(f"redis at {self._address}: {action}: {err}") from err
        except redis.RedisError as err:
            raise error(f"redis at {self._address} is unavailable ({action}): "
                        f"{type(err).__name__}: {err}") from err

    def _response(self, fields: Mapping[bytes, bytes], ttl_ms: int) -> GetResponse | None:
        if b"data" not in fields:
            return None
        version = fields.get(b"version")
        metadata = {} if ttl_ms < 0 else {
            TTL_EXPIRE_METADATA: ttl_expire_time(time.time() + ttl_ms / 1000)}
        return GetResponse(data=fields[b"data"], etag=version.decode() if version else None,
                           metadata=metadata)

    def _run(self, script: Script, key: str, *args: str | bytes) -> Any:
        """EVALSHA ``script`` on one key, loading it first if Redis lost it (a restart, or
        SCRIPT FLUSH), as ``Script.__call__`` does, without its per-call overhead (about 9 us
        of a 70 us call, see docs/benchmarks.md)."""
        try:
            return self._redis.execute_command("EVALSHA", script.sha, 1, key, *args)
        except redis.exceptions.NoScriptError:
            script.sha = self._redis.script_load(script.script)
            return self._redis.execute_command("EVALSHA", script.sha, 1, key, *args)

    def get(self, key: str, metadata: dict[str, str] | None = None) -> GetResponse | None:
        with self._mapped(StateGetError, f"get {key}"):
            (data, version), ttl_ms = self._run(self._get, key)
        if data is None:
            return None
        return self._response({b"data": data, b"version": version} if version is not None
                              else {b"data": data}, ttl_ms)

    def bulk_get(self, keys: Sequence[str]) -> list[tuple[str, GetResponse | None]]:
        with self._mapped(StateGetError, "bulk get"):
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
                pipe.pttl(key)
            replies = pipe.execute()
        return [(key, self._response(replies[2 * i], replies[2 * i + 1]))
                for i, key in enumerate(keys)]

    def _ttl_arg(self, request: SetRequest) -> str:
        ttl = parse_ttl(request.metadata, self._default_ttl)
        return "" if ttl is None or ttl == 0 else str(ttl)

    def set(self, request: SetRequest) -> None:
        version = parse_version_etag(request.etag)
        ttl = self._ttl_arg(request)
        first_write = "1" if request.concurrency == "first-write" else "0"
        with self._mapped(StateSaveError, f"failed to set key {request.key}"):
            self._run(self._set, request.key, "" if version is None else str(version),
                      request.value, first_write, ttl)

    def delete(self, request: DeleteRequest) -> None:
        version = parse_version_etag(request.etag)
        with self._mapped(StateDeleteError, f"failed to delete key {request.key}"):
            self._run(self._delete, request.key, "" if version is None else str(version))

    def transact(self, operations: Sequence[TransactionOperation]) -> None:
        checks = [(op, parse_version_etag(op.request.etag)) for op in operations]
        ttls = [self._ttl_arg(op.request) if isinstance(op.request, SetRequest) else ""
                for op in operations]
        keys = sorted({op.request.key for op in operations})
        if not keys:
            return
        with self._mapped(StateTransactionError, "transaction"):
            self._redis.transaction(self._transaction_body(checks, ttls), *keys)

    def _transaction_body(self, checks: list[tuple[TransactionOperation, int | None]],
                          ttls: list[str]) -> Callable[[Any], None]:
        def body(pipe: Any) -> None:
            for op, expected in checks:
                _check_version(pipe, op, expected)
            pipe.multi()
            for (op, _), ttl in zip(checks, ttls, strict=True):
                _queue(pipe, op.request, ttl)
        return body

    def close(self) -> None:
        self._redis.close()


def _check_version(pipe: Any, op: TransactionOperation, expected: int | None) -> None:
    """Runs while the keys are WATCHed, before MULTI: an etag failure aborts everything."""
    stored = pipe.hget(op.request.key, "version")
    if expected is not None:
        if stored is None or int(stored) != expected:
            raise ETagMismatch(f"possible etag mismatch. error from state store: etag "
                               f"{expected} does not match key {op.request.key}")
    elif op.request.concurrency == "first-write" and op.operation == "upsert" and stored:
        raise ETagMismatch(f"possible etag mismatch. error from state store: key "
                           f"{op.request.key} exists and first-write needs an etag")


def _queue(pipe: Any, request: SetRequest | DeleteRequest, ttl: str) -> None:
    if isinstance(request, DeleteRequest):
        pipe.delete(request.key)
        return
    pipe.hset(request.key, "data", request.value)
    pipe.hincrby(request.key, "version", 1)
    if ttl == "-1":
        pipe.persist(request.key)
    elif ttl:
        pipe.expire(request.key, int(ttl))

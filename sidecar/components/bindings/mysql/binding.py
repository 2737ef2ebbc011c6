"""``bindings.mysql``: daprd's MySQL/MariaDB output binding on PyMySQL (plus a sqlite: extension).

Metadata: ``url`` (required; go-sql-driver DSN ``user:pass@tcp(host:port)/db?opts``, see
_mysql_dsn.py, or ``sqlite:<path>`` / ``sqlite::memory:``, see _sqlite.py), ``pemPath``,
``maxIdleConns``, ``maxOpenConns``, ``connMaxLifetime``, ``connMaxIdleTime``.

Operations, as components-contrib ``bindings/mysql/mysql.go``:

- ``exec``: request metadata ``sql`` and optional ``params`` (a JSON array for the ``?``
  placeholders). No data back; metadata ``operation``, ``sql``, ``start-time``, ``end-time``,
  ``duration``, ``rows-affected``.
- ``query``: same request; data is a JSON array of column -> value objects, with daprd's
  quirks: zero rows give ``null``, NULL columns are left out of their row, keys are sorted,
  integers and floats are numbers, DECIMAL and TIME are strings, DATE/DATETIME/TIMESTAMP are
  RFC 3339 strings in the DSN's ``loc`` (UTC by default), binary columns (BLOB, BINARY, BIT)
  and MySQL JSON columns are base64 strings (Go's []byte). Same metadata minus rows-affected.
- ``close``: closes the pool; later exec/query fail with "component is closed".

Connections: a thread-safe pool (_pool.py) with database/sql's semantics: ``maxOpenConns``
caps open connections (0 = no cap), ``maxIdleConns`` (default 2) are kept idle,
``connMaxLifetime`` / ``connMaxIdleTime`` retire old ones. Sessions run in autocommit mode.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any, ClassVar, Protocol

import pymysql
import pymysql.converters
from pymysql.constants import FIELD_TYPE

from ....errors import BindingInvokeError, BindingRequestError, ComponentConfigError
from ...base import metadata_duration, metadata_int
from ...go_values import format_go_duration, format_rfc3339_nano, go_json_dumps, utc_from_ns
from .._request import check_operation
from ..base import BindingRequest, BindingResponse, OutputBinding
from .dsn import MySQLDSN, parse_dsn
from .pool import ConnectionPool, PoolClosed, PoolExhausted
from .rows import row_object
from .sqlite import SQLITE_PREFIX, SQLiteBackend

__all__ = ["MySQLBinding", "to_pyformat"]

_log = logging.getLogger(__name__)

EXEC, QUERY, CLOSE = "exec", "query", "close"
SQL_KEY, PARAMS_KEY = "sql", "params"
# PyMySQL error codes that mean the connection, not the statement, failed (CR_* client errors
# are 2000-2999) or the server is overloaded: those are 500s, every other server error a 400.
_SERVER_SIDE_CODES = frozenset({1040, 1053, 1203, 1205, 1213, 1317})
# A pooled connection that raised one of these is thrown away rather than reused.
_BROKEN = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
# Idle connections older than this are pinged (and reconnected) before reuse.
_PING_AFTER_IDLE_SECONDS = 5.0


class _Backend(Protocol):
    def execute(self, sql: str, params: list[Any]) -> int: ...
    def query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def to_pyformat(sql: str) -> tuple[str, int]:
    """Rewrite ``?`` placeholders as PyMySQL's ``%s``; return the SQL and the placeholder count.

    ``?`` inside '...', "..." and `...` quotes and inside comments is left alone; every ``%``
    is doubled because PyMySQL applies ``%`` formatting to the whole statement.
    """
    out: list[str] = []
    count, i, quote = 0, 0, ""
    while i < len(sql):
        char = sql[i]
        if quote:
            if char == "\\" and quote != "`" and i + 1 < len(sql):
                out.append(sql[i:i + 2].replace("%", "%%"))
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif sql.startswith(("-- ", "--\t", "--\n", "#", "/*"), i):
            end = _comment_end(sql, i)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        elif char == "?":
            out.append("%s")
            count += 1
            i += 1
            continue
        out.append("%%" if char == "%" else char)
        i += 1
    return "".join(out), count


def _comment_end(sql: str, start: int) -> int:
    if sql.startswith("/*", start):
        end = sql.find("*/", start + 2)
        return len(sql) if end < 0 else end + 2
    end = sql.find("\n", start)
    return len(sql) if end < 0 else end


def _decoders(location: tzinfo | None) -> dict[int, Any]:
    """PyMySQL decoders that give each column the JSON type go-sql-driver + daprd give it."""
    def as_time(text: str) -> str:
        if text.startswith("0000-00-00"):
            return "0001-01-01T00:00:00Z"  # Go's zero time, what the driver returns
        moment = datetime.fromisoformat(text if len(text) > 10 else text + " 00:00:00")
        frac = text.partition(".")[2]
        nanos = int(frac.ljust(9, "0")) if frac else 0
        moment = moment.replace(tzinfo=location) if location else moment.astimezone()
        return format_rfc3339_nano(moment, nanos)

    conv = dict(pymysql.converters.conversions)
    for kind in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.TIME):
        conv[kind] = str
    for kind in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
        conv[kind] = as_time
    # daprd scans MySQL JSON columns into sql.RawBytes and marshals them as base64.
    conv[FIELD_TYPE.JSON] = lambda text: text.encode("utf-8") if isinstance(text, str) else text
    return conv


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn PyMySQL and pool errors into the runtime's errors, keeping the server's text."""
    try:
        yield
    except (PoolClosed, PoolExhausted) as err:
        raise BindingInvokeError(f"error executing query: {err}") from err
    except pymysql.err.Error as err:
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        text = err.args[1] if len(err.args) > 1 else str(err)
        server_side = code in _SERVER_SIDE_CODES or 2000 <= code < 3000 or code == 0
        error = BindingInvokeError if server_side else BindingRequestError
        raise error(f"error executing query: Error {code}: {text}") from err


class _PyMySQLBackend:
    """exec/query on a pool of PyMySQL connections."""

    def __init__(self, dsn: MySQLDSN, pool_options: dict[str, Any]) -> None:
        self._kwargs = dict(dsn.connect_kwargs, autocommit=True, conv=_decoders(dsn.location))
        self._pool: ConnectionPool[pymysql.connections.Connection] = ConnectionPool(
            self._connect, lambda conn: conn.close(), on_reuse=self._revive,
            broken_errors=_BROKEN, **pool_options)

    def _connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(**self._kwargs)

    @contextmanager
    def _cursor(self) -> Iterator[pymysql.cursors.Cursor]:
        with self._pool.acquire() as conn, conn.cursor() as cursor:
            yield cursor

    @staticmethod
    def _revive(conn: pymysql.connections.Connection, idle_seconds: float) -> None:
        # The server may have dropped a connection that sat idle (wait_timeout, a restart).
        if idle_seconds > _PING_AFTER_IDLE_SECONDS:
            conn.ping(reconnect=True)

    def ping(self) -> None:
        with self._cursor():
            pass

    def execute(self, sql: str, params: list[Any]) -> int:
        statement, args = _bind(sql, params)
        with _mapped_errors(), self._cursor() as cursor:
            return cursor.execute(statement, args)

    def query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        statement, args = _bind(sql, params)
        with _mapped_errors(), self._cursor() as cursor:
            cursor.execute(statement, args)
            names = [d[0] for d in cursor.description or ()]
            return [row_object(names, row) for row in cursor.fetchall()]

    def close(self) -> None:
        self._pool.close()


def _bind(sql: str, params: list[Any]) -> tuple[str, tuple[Any, ...] | None]:
    """The statement and arguments for PyMySQL; no arguments means no %-formatting at all."""
    if not params:
        return sql, None
    statement, count = to_pyformat(sql)
    if count != len(params):
        raise BindingRequestError(
            f"error executing query: sql: expected {count} arguments, got {len(params)}")
    return statement, tuple(params)


def _parse_params(text: str) -> list[Any]:
    try:
        params = json.loads(text)
    except ValueError as err:
        raise BindingRequestError(
            f"invalid metadata property {PARAMS_KEY}: failed to unserialize into an array: {err}"
        ) from None
    if not isinstance(params, list):
        raise BindingRequestError(
            f"invalid metadata property {PARAMS_KEY}: failed to unserialize into an array: "
            f"got a JSON {type(params).__name__}, expected an array such as [1, \"a\"]")
    for index, value in enumerate(params):
        if isinstance(value, (list, dict)):
            raise BindingRequestError(
                f"invalid metadata property {PARAMS_KEY}: element {index} is a JSON "
                f"{type(value).__name__}; only strings, numbers, booleans and null are allowed")
    return params


class MySQLBinding(OutputBinding):
    """Dapr ``bindings.mysql`` (metadata: url, pemPath, maxIdleConns, maxOpenConns,
    connMaxLifetime, connMaxIdleTime)."""

    type_name: ClassVar[str] = "bindings.mysql"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"url"})
    optional_metadata: ClassVar[frozenset[str]] = frozenset(
        {"pemPath", "maxIdleConns", "maxOpenConns", "connMaxLifetime", "connMaxIdleTime"})
    operations: ClassVar[tuple[str, ...]] = (EXEC, QUERY, CLOSE)

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        url = self.metadata.get("url", "")
        if not url:
            raise ComponentConfigError(f"component {name!r}: missing MySql connection string (url)")
        self._closed = False
        self._backend: _Backend = (self._open_sqlite(url) if url.startswith(SQLITE_PREFIX)
                                   else self._open_mysql(url))

    def _open_sqlite(self, url: str) -> _Backend:
        try:
            return SQLiteBackend(url)
        except (ValueError, OSError, sqlite3.Error) as err:
            raise ComponentConfigError(
                f"component {self.name!r}: cannot open {url!r}: {err}") from err

    def _open_mysql(self, url: str) -> _Backend:
        dsn = parse_dsn(url, self.metadata.get("pemPath", ""))
        get = self.metadata.get
        name = self.name
        options: dict[str, Any] = {
            "max_open": metadata_int(name, "maxOpenConns", get("maxOpenConns")),
            "max_lifetime": metadata_duration(name, "connMaxLifetime", get("connMaxLifetime")),
            "max_idle_time": metadata_duration(name, "connMaxIdleTime", get("connMaxIdleTime"))}
        max_idle = metadata_int(self.name, "maxIdleConns", get("maxIdleConns"))
        if max_idle > 0:
            options["max_idle"] = max_idle
        backend = _PyMySQLBackend(dsn, options)
        try:
            backend.ping()
        except pymysql.err.Error as err:
            raise ComponentConfigError(f"component {self.name!r}: unable to ping the DB at "
                                       f"{dsn.describe()}: {err}") from err
        return backend

    def invoke(self, request: BindingRequest) -> BindingResponse:
        check_operation(self.name, request.operation, self.operations)
        if request.operation == CLOSE:
            self.close()  # as daprd: closing twice is fine
            return BindingResponse()
        if self._closed:
            raise BindingInvokeError(f"binding {self.name!r}: component is closed")
        sql = request.metadata.get(SQL_KEY, "")
        if not sql:
            raise BindingRequestError(f"required metadata not set: {SQL_KEY}")
        params_text = request.metadata.get(PARAMS_KEY, "")
        params = _parse_params(params_text) if params_text else []
        start_ns = time.time_ns()
        meta = {"operation": request.operation, "sql": sql,
                "start-time": format_rfc3339_nano(utc_from_ns(start_ns), start_ns % 10**9)}
        data: bytes | None = None
        if request.operation == EXEC:
            meta["rows-affected"] = str(self._backend.execute(sql, params))
        else:
            rows = self._backend.query(sql, params)
            data = go_json_dumps(rows or None)  # Go marshals a nil slice as null
        end_ns = time.time_ns()
        meta["end-time"] = format_rfc3339_nano(utc_from_ns(end_ns), end_ns % 10**9)
        meta["duration"] = format_go_duration(end_ns - start_ns)
        return BindingResponse(data=data, metadata=meta)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._backend.close()

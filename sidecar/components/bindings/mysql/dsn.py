"""Parse a go-sql-driver Data Source Name into PyMySQL connection arguments.

The form is ``[user[:password]@][net[(addr)]]/dbname[?param1=value1&paramN=valueN]``, split
exactly as go-sql-driver's ``ParseDSN`` does: the *last* "/" ends the address part, the *last*
"@" before it ends the credentials and the *first* ":" splits user from password (so a
password may hold ":" or "@").

Supported parameters and what they become:

    ===================  ==============================================================
    parseTime            accepted; always on, because daprd forces ``ParseTime = true``
    loc                  time zone DATETIME/TIMESTAMP values are read in (UTC default)
    charset, collation   connection character set (first of a comma list) / collation
    timeout              connect timeout (Go duration)
    readTimeout          socket read timeout (Go duration)
    writeTimeout         socket write timeout (Go duration)
    clientFoundRows      rows-affected counts matched rows, not changed ones
    multiStatements      allow several statements in one ``sql``
    tls                  true | skip-verify | preferred | false | custom (with pemPath)
    ===================  ==============================================================

Any other parameter is ignored with a debug log. (go-sql-driver would send it to the server
as a system variable; this runtime does not.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pymysql.constants import CLIENT

from ....errors import ComponentConfigError
from ...base import is_truthy
from ...go_values import parse_go_duration

__all__ = ["MySQLDSN", "parse_dsn"]

_log = logging.getLogger(__name__)

_DEFAULT_PORT = 3306
#: The connection's character set when the DSN names none: go-sql-driver's default collation
#: is utf8mb4_general_ci, so daprd's binding talks utf8mb4 whatever the server's default.
_DEFAULT_CHARSET = "utf8mb4"
_DEFAULT_TCP_ADDR = f"127.0.0.1:{_DEFAULT_PORT}"
_DEFAULT_UNIX_ADDR = "/tmp/mysql.sock"
_TIMEOUT_PARAMS = {"timeout": "connect_timeout", "readTimeout": "read_timeout",
                   "writeTimeout": "write_timeout"}
_ACCEPTED_NOOP = frozenset({"allowNativePasswords", "allowOldPasswords", "interpolateParams",
                            "columnsWithAlias", "checkConnLiveness", "maxAllowedPacket",
                            "rejectReadOnly", "allowCleartextPasswords"})


@dataclass
class MySQLDSN:
    """A parsed DSN: ``connect_kwargs`` go straight to ``pymysql.connect``."""

    connect_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Zone that DATETIME/TIMESTAMP values are interpreted in (go-sql-driver ``loc``).
    location: tzinfo | None = None

    def describe(self) -> str:
        """Where this DSN points, without the password (for logs and errors)."""
        kw = self.connect_kwargs
        where = kw.get("unix_socket") or f"{kw.get('host')}:{kw.get('port')}"
        return f"{kw.get('user') or '(no user)'}@{where}/{kw.get('database') or ''}"


def _fail(reason: str) -> ComponentConfigError:
    # daprd says only "illegal Data Source Name (DSN) specified by url"; we add why, never the
    # DSN itself, which holds the password.
    return ComponentConfigError(f"illegal Data Source Name (DSN) specified by url: {reason}")


def parse_dsn(dsn: str, pem_path: str = "") -> MySQLDSN:
    """Parse ``dsn``; raise ComponentConfigError saying which part is wrong."""
    slash = dsn.rfind("/")
    if slash < 0:
        raise _fail("missing the '/' before the database name (form: user:pass@tcp(host:port)/db)")
    kwargs: dict[str, Any] = {"user": "", "password": "", "charset": _DEFAULT_CHARSET}
    head, tail = dsn[:slash], dsn[slash + 1:]
    at = head.rfind("@")
    if at >= 0:
        user, _, password = head[:at].partition(":")
        kwargs.update(user=user, password=password)
    _parse_address(head[at + 1:], kwargs)
    dbname, _, query = tail.partition("?")
    kwargs["database"] = unquote(dbname) or None
    result = MySQLDSN(connect_kwargs=kwargs, location=ZoneInfo("UTC"))
    if query:
        for pair in query.split("&"):
            key, sep, value = pair.partition("=")
            if not sep:
                raise _fail(f"parameter {key!r} has no '=value'")
            _apply_param(result, key, unquote(value), pem_path)
    return result


def _parse_address(spec: str, kwargs: dict[str, Any]) -> None:
    net, paren, rest = spec.partition("(")
    if paren and not rest.endswith(")"):
        raise _fail("the network address must be closed with ')' (form: tcp(host:port))")
    addr = rest[:-1] if paren else ""
    net = net or "tcp"
    if net == "unix":
        kwargs["unix_socket"] = addr or _DEFAULT_UNIX_ADDR
        return
    if net not in ("tcp", "tcp4", "tcp6"):
        raise _fail(f"unsupported network {net!r} (use tcp or unix)")
    addr = addr or _DEFAULT_TCP_ADDR
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]")
        port = port.lstrip(":")
    elif addr.count(":") == 1:
        host, _, port = addr.partition(":")
    else:
        host, port = addr, ""
    try:
        kwargs.update(host=host or "127.0.0.1", port=int(port) if port else _DEFAULT_PORT)
    except ValueError:
        raise _fail(f"port {port!r} is not a number") from None


def _apply_param(result: MySQLDSN, key: str, value: str, pem_path: str) -> None:
    kwargs = result.connect_kwargs
    if key == "parseTime":
        if not is_truthy(value):
            _log.debug("DSN parseTime=%s ignored: daprd always parses times", value)
    elif key == "loc":
        result.location = _location(value)
    elif key == "charset":
        kwargs["charset"] = value.split(",")[0]
    elif key == "collation":
        kwargs["collation"] = value
    elif key in _TIMEOUT_PARAMS:
        try:
            kwargs[_TIMEOUT_PARAMS[key]] = parse_go_duration(value) / 1e9 or None
        except ValueError as err:
            raise _fail(f"{key}: {err}") from None
    elif key in ("clientFoundRows", "multiStatements"):
        if is_truthy(value):
            flag = CLIENT.FOUND_ROWS if key == "clientFoundRows" else CLIENT.MULTI_STATEMENTS
            kwargs["client_flag"] = kwargs.get("client_flag", 0) | flag
    elif key == "tls":
        _apply_tls(kwargs, value, pem_path)
    elif key in _ACCEPTED_NOOP:
        _log.debug("DSN parameter %s has no PyMySQL equivalent; ignored", key)
    else:
        _log.debug("unknown DSN parameter %s ignored", key)


def _location(value: str) -> tzinfo | None:
    if value == "Local":
        return None  # naive datetimes are read as local time by .astimezone()
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"loc: unknown time zone {value!r}") from None


def _apply_tls(kwargs: dict[str, Any], value: str, pem_path: str) -> None:
    mode = value.lower()
    if mode in ("false", "0", ""):
        return
    if mode in ("true", "1"):
        kwargs["ssl"] = {"check_hostname": True}
    elif mode in ("skip-verify", "preferred"):
        # PyMySQL only switches to TLS when the server offers it, which is "preferred" already.
        kwargs.update(ssl={"check_hostname": False}, ssl_verify_cert=False)
    elif mode == "custom":
        if not pem_path:
            raise _fail("tls=custom needs the pemPath metadata field (the CA certificate)")
        kwargs.update(ssl_ca=pem_path, ssl_verify_cert=True)
    else:
        raise _fail(f"tls: invalid value {value!r} (true, skip-verify, preferred, false, custom)")

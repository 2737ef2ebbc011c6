"""go-sql-driver DSN parsing for bindings.mysql (no database needed)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from pymysql.constants import CLIENT

from sidecar.components.bindings.mysql.dsn import parse_dsn
from sidecar.errors import ComponentConfigError


def test_full_dsn():
    dsn = parse_dsn("app:p@ss:w/rd@tcp(db.example:3307)/events?parseTime=true&charset=utf8mb4,utf8"
                    "&timeout=1.5s&readTimeout=1m&writeTimeout=500ms&loc=Europe%2FBerlin"
                    "&clientFoundRows=true&somethingNew=1")
    kw = dsn.connect_kwargs
    assert (kw["user"], kw["password"]) == ("app", "p@ss:w/rd")
    assert (kw["host"], kw["port"], kw["database"]) == ("db.example", 3307, "events")
    assert kw["charset"] == "utf8mb4"
    assert (kw["connect_timeout"], kw["read_timeout"], kw["write_timeout"]) == (1.5, 60.0, 0.5)
    assert kw["client_flag"] & CLIENT.FOUND_ROWS
    assert dsn.location == ZoneInfo("Europe/Berlin")
    assert "p@ss" not in dsn.describe() and "db.example:3307" in dsn.describe()


@pytest.mark.parametrize("text, host, port, user, database", [
    ("root:@tcp(127.0.0.1:3306)/test", "127.0.0.1", 3306, "root", "test"),
    ("/test", "127.0.0.1", 3306, "", "test"),
    ("u@tcp(dbhost)/", "dbhost", 3306, "u", None),
    ("u:p@tcp([::1]:3310)/d", "::1", 3310, "u", "d"),
    ("u@tcp()/d", "127.0.0.1", 3306, "u", "d"),
])
def test_defaults_like_go(text, host, port, user, database):
    kw = parse_dsn(text).connect_kwargs
    assert (kw["host"], kw["port"], kw["user"], kw["database"]) == (host, port, user, database)


def test_unix_socket_and_tls_custom():
    dsn = parse_dsn("u:p@unix(/run/mysqld/mysqld.sock)/d?tls=custom", pem_path="/ca.pem")
    assert dsn.connect_kwargs["unix_socket"] == "/run/mysqld/mysqld.sock"
    assert dsn.connect_kwargs["ssl_ca"] == "/ca.pem"


@pytest.mark.parametrize("text, reason", [
    ("user:pass@localhost", "missing the '/'"),
    ("u@tcp(host:3306/d", "closed with ')'"),
    ("u@udp(host)/d", "unsupported network 'udp'"),
    ("u@tcp(host:abc)/d", "port 'abc' is not a number"),
    ("u@tcp(host)/d?timeout=soon", "timeout: invalid duration"),
    ("u@tcp(host)/d?loc=Mars%2FBase", "unknown time zone"),
    ("u@tcp(host)/d?tls=custom", "pemPath"),
    ("u@tcp(host)/d?tls=maybe", "tls: invalid value"),
    ("u@tcp(host)/d?flag", "has no '=value'"),
])
def test_bad_dsn_says_which_part(text, reason):
    with pytest.raises(ComponentConfigError, match="illegal Data Source Name") as info:
        parse_dsn(text)
    assert reason in info.value.message

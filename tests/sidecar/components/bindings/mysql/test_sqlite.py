"""The sqlite: extension of bindings.mysql: the events function's statements and the fix-ups."""

from __future__ import annotations

import json
import sqlite3
from http import HTTPStatus

import pytest

from sidecar.components.bindings.base import BindingRequest
from sidecar.components.bindings.mysql.binding import MySQLBinding
from sidecar.components.bindings.mysql.sqlite import translate
from sidecar.errors import BindingInvokeError
from tests.sidecar.components.bindings.helpers import sql_request

CREATE_EVENTS = ("CREATE TABLE IF NOT EXISTS events (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                 "event_ts BIGINT NOT NULL, op_type VARCHAR(20) NOT NULL, "
                 "input_size BIGINT NOT NULL)")
INSERT_EVENT = "INSERT INTO events (event_ts, op_type, input_size) VALUES (?, ?, ?)"
SELECT_EVENTS = ("SELECT id, event_ts, op_type, input_size FROM events WHERE id > ? "
                 "ORDER BY id LIMIT ?")


@pytest.fixture()
def sqlite_binding(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    binding = MySQLBinding("events-db", {"url": "sqlite:.data/nested/events.db"})
    yield binding
    binding.close()


def test_events_statements_round_trip(sqlite_binding, tmp_path):
    for _ in range(2):  # IF NOT EXISTS: a restart re-runs it
        assert sqlite_binding.invoke(sql_request("exec", CREATE_EVENTS)).metadata[
            "rows-affected"] == "0"
    for ts, op, size in [(1700000000000, "grayscale", 1234), (1700000000500, "classify", 99),
                         (1700000001000, "grayscale", 7)]:
        params = json.dumps([ts, op, size])
        response = sqlite_binding.invoke(sql_request("exec", INSERT_EVENT, params))
        assert response.metadata["rows-affected"] == "1"
    page = sqlite_binding.invoke(sql_request("query", SELECT_EVENTS, "[1, 5]"))
    assert json.loads(page.data) == [
        {"id": 2, "event_ts": 1700000000500, "op_type": "classify", "input_size": 99},
        {"id": 3, "event_ts": 1700000001000, "op_type": "grayscale", "input_size": 7}]
    assert page.data.startswith(b'[{"event_ts":')  # sorted keys, as Go marshals a map
    assert sqlite_binding.invoke(sql_request("query", SELECT_EVENTS, "[3, 5]")).data == b"null"
    assert (tmp_path / ".data" / "nested" / "events.db").is_file()


def test_auto_increment_ids_are_not_reused(sqlite_binding):
    sqlite_binding.invoke(sql_request("exec", CREATE_EVENTS))
    for size in (1, 2):
        sqlite_binding.invoke(sql_request("exec", INSERT_EVENT, json.dumps([0, "x", size])))
    sqlite_binding.invoke(sql_request("exec", "DELETE FROM events WHERE id = ?", "[2]"))
    sqlite_binding.invoke(sql_request("exec", INSERT_EVENT, '[0, "x", 3]'))
    rows = json.loads(sqlite_binding.invoke(sql_request("query", "SELECT id FROM events")).data)
    assert rows == [{"id": 1}, {"id": 3}]


def test_unsigned_auto_increment_becomes_integer_primary_key():
    sql = translate("CREATE TABLE t (id INT UNSIGNED NOT NULL AUTO_INCREMENT, v INT, "
                    "PRIMARY KEY (id)) ENGINE=InnoDB")
    assert "id INTEGER" in sql and "AUTOINCREMENT" in sql
    conn = sqlite3.connect(":memory:")
    conn.execute(sql)  # sqlite would reject "UINT ... AUTOINCREMENT"
    conn.execute("INSERT INTO t (v) VALUES (5)")
    assert conn.execute("SELECT id, v FROM t").fetchall() == [(1, 5)]


def test_translation_is_cached():
    sql = "SELECT id FROM events WHERE op_type = ? /* cache probe */"
    before = translate.cache_info().hits
    assert translate(sql) == translate(sql)
    assert translate.cache_info().hits == before + 1


def test_memory_database_nulls_and_blobs():
    binding = MySQLBinding("db", {"url": "sqlite::memory:"})
    try:
        binding.invoke(sql_request("exec", "CREATE TABLE t (a INT, b VARCHAR(5), c BLOB)"))
        binding.invoke(sql_request("exec", "INSERT INTO t VALUES (?, ?, ?)", '[1, null, null]'))
        binding.invoke(sql_request("exec", "INSERT INTO t VALUES (2, 'x?', X'00FF')"))
        sql = "SELECT * FROM t WHERE b = 'x?' OR a = ?"
        rows = binding.invoke(sql_request("query", sql, "[1]"))
        assert rows.data is not None
        assert json.loads(rows.data) == [{"a": 1}, {"a": 2, "b": "x?", "c": "AP8="}]
    finally:
        binding.close()


@pytest.mark.parametrize("sql, params, expected", [
    ("SELECT * FROM missing_table", None, "no such table: missing_table"),
    ("SELECT 1; SELECT 2", None, "expected exactly one SQL statement, got 2"),
    ("SELECT ?, ?", "[1]", "Incorrect number of bindings"),
])
def test_statement_errors_are_daprds_500_with_the_reason(sqlite_binding, sql, params, expected):
    with pytest.raises(BindingInvokeError, match=expected) as info:
        sqlite_binding.invoke(sql_request("query", sql, params))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_close_then_query_errors(sqlite_binding):
    sqlite_binding.invoke(BindingRequest("close"))
    with pytest.raises(BindingInvokeError, match="component is closed"):
        sqlite_binding.invoke(sql_request("query", "SELECT 1"))

"""bindings.mysql against the real MariaDB: operations, daprd's result quirks, errors."""

from __future__ import annotations

import json
import re
import socket
from http import HTTPStatus

import pytest

from sidecar.components.bindings.base import BindingRequest
from sidecar.components.bindings.mysql.binding import MySQLBinding, to_pyformat
from sidecar.errors import BindingInvokeError, ComponentConfigError
from tests.conftest import MYSQL_DSN
from tests.sidecar.components.bindings.helpers import sql_request

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
GO_DURATION = re.compile(r"^\d+(\.\d+)?(ns|µs|ms|s)$")


def create_people(binding: MySQLBinding, table: str) -> None:
    binding.invoke(sql_request("exec", (
        f"CREATE TABLE `{table}` (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "name VARCHAR(40) NOT NULL, nick VARCHAR(40) NULL, score DECIMAL(8,2) NULL, "
        "born DATE NULL, seen DATETIME(6) NULL, ratio DOUBLE NULL, blob_col BLOB NULL)")))
    rows = [("ann", "a", "12.50", "1990-05-17", "2024-01-02 03:04:05.123456", 0.5, "bin"),
            ("bob", None, None, None, None, None, None),
            ("cy?", "c'?", "-3.00", "2000-02-29", "2000-02-29 23:59:59", 2.25, None)]
    for row in rows:
        binding.invoke(sql_request(
            "exec", f"INSERT INTO `{table}` (name, nick, score, born, seen, ratio, blob_col) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", json.dumps(list(row))))


def query(binding: MySQLBinding, sql: str, params: str | None = None) -> object:
    response = binding.invoke(sql_request("query", sql, params))
    assert response.data is not None
    return json.loads(response.data)


def test_exec_reports_rows_affected_and_daprd_metadata(mysql_binding, mysql_table):
    create = mysql_binding.invoke(sql_request(
        "exec", f"CREATE TABLE `{mysql_table}` (id INT PRIMARY KEY, v VARCHAR(10))"))
    insert = mysql_binding.invoke(sql_request(
        "exec", f"INSERT INTO `{mysql_table}` VALUES (1, 'a'), (2, 'b'), (3, 'c')"))
    assert create.data is None and insert.data is None
    assert create.metadata["rows-affected"] == "0"
    assert insert.metadata["rows-affected"] == "3"
    assert insert.metadata["operation"] == "exec"
    assert insert.metadata["sql"].startswith("INSERT INTO")
    assert RFC3339_NANO.match(insert.metadata["start-time"])
    assert RFC3339_NANO.match(insert.metadata["end-time"])
    assert insert.metadata["end-time"] >= insert.metadata["start-time"]
    assert GO_DURATION.match(insert.metadata["duration"])


def test_exec_with_params_and_update_count(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    response = mysql_binding.invoke(sql_request(
        "exec", f"UPDATE `{mysql_table}` SET nick = ? WHERE name IN (?, ?)", '["z", "ann", "bob"]'))
    assert response.metadata["rows-affected"] == "2"
    assert query(mysql_binding, f"SELECT nick FROM `{mysql_table}` ORDER BY id") == [
        {"nick": "z"}, {"nick": "z"}, {"nick": "c'?"}]


def test_query_by_id_gives_go_typed_values(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    rows = query(mysql_binding, f"SELECT * FROM `{mysql_table}` WHERE id = ?", "[1]")
    assert rows == [{"id": 1, "name": "ann", "nick": "a", "score": "12.50",
                     "born": "1990-05-17T00:00:00Z", "seen": "2024-01-02T03:04:05.123456Z",
                     "ratio": 0.5, "blob_col": "Ymlu"}]


def test_query_keys_are_sorted_like_go_maps(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    response = mysql_binding.invoke(sql_request(
        "query", f"SELECT name, id FROM `{mysql_table}` WHERE id = 1"))
    assert response.data == b'[{"id":1,"name":"ann"}]'
    assert response.metadata["operation"] == "query"
    assert "rows-affected" not in response.metadata


def test_query_in_list_with_params(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    sql = f"SELECT id FROM `{mysql_table}` WHERE name IN (?, ?) ORDER BY id"
    rows = query(mysql_binding, sql, '["cy?", "ann"]')
    assert rows == [{"id": 1}, {"id": 3}]


def test_question_mark_inside_a_literal_is_not_a_placeholder(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    rows = query(mysql_binding,
                 f"SELECT id FROM `{mysql_table}` WHERE name = 'cy?' AND nick = ? AND 'a%' = 'a%'",
                 '["c\'?"]')
    assert rows == [{"id": 3}]


def test_zero_rows_give_null(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    response = mysql_binding.invoke(sql_request(
        "query", f"SELECT * FROM `{mysql_table}` WHERE id > ?", "[100]"))
    assert response.data == b"null"


def test_null_columns_are_left_out(mysql_binding, mysql_table):
    create_people(mysql_binding, mysql_table)
    assert query(mysql_binding, f"SELECT * FROM `{mysql_table}` WHERE name = 'bob'") == [
        {"id": 2, "name": "bob"}]


def test_close_then_query_errors_and_close_again_is_fine(mysql_binding):
    assert mysql_binding.invoke(BindingRequest("close")).data is None
    with pytest.raises(BindingInvokeError, match="component is closed"):
        mysql_binding.invoke(sql_request("query", "SELECT 1"))
    mysql_binding.invoke(BindingRequest("close"))


@pytest.mark.parametrize("params, expected", [
    ("[1, ", "failed to unserialize into an array"),
    ('{"a": 1}', "expected an array"),
    ("[[1, 2]]", "element 0 is a JSON list"),
])
def test_bad_params_are_daprds_500_saying_why(mysql_binding, params, expected):
    with pytest.raises(BindingInvokeError, match=re.escape(expected)) as info:
        mysql_binding.invoke(sql_request("query", "SELECT ?", params))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "params" in info.value.message


def test_param_count_mismatch_are_daprds_500(mysql_binding):
    with pytest.raises(BindingInvokeError, match="expected 2 arguments, got 1") as info:
        mysql_binding.invoke(sql_request("query", "SELECT ?, ?", "[1]"))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_unknown_operation_names_the_supported_ones(mysql_binding):
    with pytest.raises(BindingInvokeError) as info:
        mysql_binding.invoke(sql_request("select", "SELECT 1"))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "'select'" in info.value.message
    assert "exec, query, close" in info.value.message


def test_missing_sql_are_daprds_500(mysql_binding):
    with pytest.raises(BindingInvokeError, match="required metadata not set: sql") as info:
        mysql_binding.invoke(BindingRequest("exec"))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_sql_error_carries_the_server_text(mysql_binding, mysql_table):
    with pytest.raises(BindingInvokeError, match=f"(?i){mysql_table}.*doesn't exist") as info:
        mysql_binding.invoke(sql_request("query", f"SELECT * FROM `{mysql_table}`"))
    assert info.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert info.value.to_json()["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"
    with pytest.raises(BindingInvokeError, match="SQL syntax"):
        mysql_binding.invoke(sql_request("exec", "CREATE TABLE"))


def test_binding_keeps_working_after_errors(mysql_binding):
    for _ in range(3):
        with pytest.raises(BindingInvokeError):
            mysql_binding.invoke(sql_request("query", "SELEC 1"))
    assert query(mysql_binding, "SELECT 1 AS one") == [{"one": 1}]


def test_pool_metadata_is_honoured(mysql_params):
    binding = MySQLBinding("db", {"url": MYSQL_DSN, "maxOpenConns": "1", "maxIdleConns": "5",
                                  "connMaxLifetime": "1m", "connMaxIdleTime": "30"})
    try:
        pool = binding._backend._pool  # type: ignore[attr-defined] # the MySQL backend's
        assert (pool.max_open, pool.max_idle) == (1, 1)
        assert query(binding, "SELECT CONNECTION_ID() AS c") == query(
            binding, "SELECT CONNECTION_ID() AS c")
    finally:
        binding.close()


def test_unreachable_server_fails_at_start_with_where_not_password():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ComponentConfigError, match="unable to ping the DB") as info:
        MySQLBinding("db", {"url": f"root:s3cret@tcp(127.0.0.1:{port})/test?timeout=2s"})
    assert f"127.0.0.1:{port}" in info.value.message
    assert "s3cret" not in info.value.message


@pytest.mark.parametrize("metadata, expected", [
    ({"url": ""}, "missing MySql connection string"),
    ({"url": "root@localhost"}, "missing the '/'"),
    ({"url": MYSQL_DSN, "maxOpenConns": "many"}, "maxOpenConns"),
    ({"url": MYSQL_DSN, "connMaxLifetime": "soon"}, "connMaxLifetime"),
])
def test_bad_metadata_is_a_config_error(metadata, expected):
    with pytest.raises(ComponentConfigError, match=expected):
        MySQLBinding("db", metadata)


@pytest.mark.parametrize("sql, expected, count", [
    ("SELECT ?", "SELECT %s", 1),
    ("SELECT '?', \"?\", `?`, ?", "SELECT '?', \"?\", `?`, %s", 1),
    ("SELECT 'it''s ?', 'a\\'?', ?", "SELECT 'it''s ?', 'a\\'?', %s", 1),
    ("SELECT 1 -- ?\n, ? # ?\n, /* ? */ ?", "SELECT 1 -- ?\n, %s # ?\n, /* ? */ %s", 2),
    ("SELECT 5 % 2, '%s', ?", "SELECT 5 %% 2, '%%s', %s", 1),
])
def test_to_pyformat_only_rewrites_real_placeholders(sql, expected, count):
    assert to_pyformat(sql) == (expected, count)

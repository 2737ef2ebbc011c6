"""Fixtures for the binding component tests: a MySQL binding on the real MariaDB with a
uniquely named table per test, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymysql
import pytest

from sidecar.components.bindings.mysql.binding import MySQLBinding
from tests.conftest import MYSQL_DSN


@pytest.fixture()
def mysql_binding(mysql_params: dict) -> Iterator[MySQLBinding]:
    binding = MySQLBinding("events-db", {"url": MYSQL_DSN})
    yield binding
    binding.close()


@pytest.fixture()
def mysql_table(mysql_params: dict) -> Iterator[str]:
    """A fresh table name; the table (if the test made it) is dropped afterwards."""
    name = f"bind_test_{uuid.uuid4().hex[:12]}"
    yield name
    conn = pymysql.connect(**mysql_params)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
        conn.commit()
    finally:
        conn.close()


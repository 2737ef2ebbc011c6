"""The ``sqlite:`` extension of ``bindings.mysql``: MySQL statements run on Python's sqlite3.

A local-only convenience (daprd has no such thing) so the embedded profile needs no database
server. ``url`` is ``sqlite:<path>`` (relative to the working directory; parent folders are
created) or ``sqlite::memory:``. Each statement is parsed as MySQL and written as SQLite by
sqlglot, and the translation is cached per distinct SQL text.

One connection serves the whole binding, behind a lock: SQLite allows a single writer anyway,
and an in-memory database lives only as long as its connection. It runs in autocommit mode,
as a MySQL session does by default.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from ....errors import BindingInvokeError, BindingRequestError
from .rows import row_object

__all__ = ["SQLITE_PREFIX", "SQLiteBackend", "translate"]

# sqlglot warns about MySQL table options SQLite has no use for (DEFAULT CHARSET=...), on
# every such statement; what matters here is whether the translation runs, which it checks.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

SQLITE_PREFIX = "sqlite:"
_MEMORY = ":memory:"
_BUSY_TIMEOUT_SECONDS = 5.0
_TRANSLATION_CACHE_SIZE = 512
# Failures of the database file or of concurrency, not of the statement: a 500, not a 400.
_SERVER_SIDE_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL",
                                 "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_NOMEM",
                                 "SQLITE_READONLY"})


@functools.lru_cache(maxsize=_TRANSLATION_CACHE_SIZE)
def translate(sql: str) -> str:
    """One MySQL statement rewritten for SQLite; ``?`` placeholders stay as they are.

    Raises BindingRequestError if sqlglot cannot parse it or it holds several statements.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
    except sqlglot.errors.SqlglotError as err:
        raise BindingRequestError(
            f"error executing query: cannot parse SQL as MySQL: {err}") from None
    if len(statements) != 1:
        raise BindingRequestError(
            f"error executing query: expected exactly one SQL statement, got {len(statements)}")
    return _fix_auto_increment(statements[0]).sql(dialect="sqlite")


def _fix_auto_increment(statement: exp.Expr) -> exp.Expr:
    """The one place where sqlglot's output needs help.

    SQLite accepts AUTOINCREMENT only on a column typed exactly INTEGER PRIMARY KEY (the rowid
    alias). sqlglot writes ``INT AUTO_INCREMENT`` as INTEGER but keeps ``INT UNSIGNED``,
    ``BIGINT UNSIGNED`` and the like as UINT/UBIGINT, which SQLite rejects, so every
    auto-increment column is retyped INT (written INTEGER for SQLite).
    """
    for column in statement.find_all(exp.ColumnDef):
        if any(isinstance(c.args.get("kind"), exp.AutoIncrementColumnConstraint)
               for c in column.constraints):
            column.set("kind", exp.DataType.build("INT"))
    return statement


class SQLiteBackend:
    """Runs the binding's ``exec`` and ``query`` on one sqlite3 connection."""

    def __init__(self, url: str) -> None:
        target = url[len(SQLITE_PREFIX):]
        if not target:
            raise ValueError("sqlite: URL needs a path or :memory: (e.g. sqlite:.data/events.db)")
        if target != _MEMORY:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(target, timeout=_BUSY_TIMEOUT_SECONDS,
                                     isolation_level=None, check_same_thread=False)
        if target != _MEMORY:
            # WAL lets other processes (a report, a test) read while the binding writes.
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()

    def execute(self, sql: str, params: list[Any]) -> int:
        """Run a statement; return the rows affected (0 for DDL, as MySQL reports it)."""
        with self._lock:
            cursor = self._run(sql, params)
            return max(cursor.rowcount, 0)

    def query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """Run a query; rows as column -> value, NULL columns left out (as daprd does)."""
        with self._lock:
            cursor = self._run(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [row_object(names, row) for row in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, sql: str, params: list[Any]) -> sqlite3.Cursor:
        translated = translate(sql)
        try:
            return self._conn.execute(translated, params)
        except sqlite3.Error as err:
            name = getattr(err, "sqlite_errorname", "")
            error = BindingInvokeError if name in _SERVER_SIDE_ERRORS else BindingRequestError
            raise error(f"error executing query: {err} (sqlite SQL: {translated})") from None

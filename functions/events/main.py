"""events (app ``events-service``): records and lists what the image functions did.

The table lives behind the ``events-db`` MySQL output binding, whose URL comes from the secret
store: this module never sees a host, a driver or a credential. Statements use ``?``
placeholders with a ``params`` JSON array; no SQL is built from request data.

    POST|GET /init       create the table if it does not exist (never drops) -> {"status":true}
    POST /create_event   {"event_ts": ms, "op_type": str, "input_size": int} -> {"status":true}
                         or a JSON array of 1..1000 such objects, validated all-or-nothing and
                         inserted with one multi-row INSERT -> {"status":true,"count":n};
                         an optional "event_id" (1..64 characters) makes a retry harmless
    POST /event          what Dapr delivers from topic ``events`` (subscription events-to-db):
                         a CloudEvent, or a bulk envelope of them -> {"status": "SUCCESS"},
                         "RETRY" while the database is down (the broker keeps the event),
                         "DROP" for a malformed one (to the dead-letter topic)
    GET  /events         [{"id","event_ts","op_type","input_size"}, ...] oldest first,
                         ?limit=1..1000 (default 100) &after=<id> for paging

Every event carries a unique id (the CloudEvent ``id`` its publisher set) kept in the
``event_id`` column under a unique index, and rows go in with ``INSERT IGNORE``: a redelivered
event never makes a second row. A table from before the column gains it (and the index) on
first use, every row kept.

Settings only events reads (the shared ones are in bindings/settings.py):

    name                default     meaning
    EVENTS_BINDING      events-db   MySQL output binding holding the events table
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import flask
from events_delivery import MAX_EVENT_ID, read_delivery, statuses

from bindings import settings
from bindings.dapr.client import deadline, get_client
from bindings.http.errors import BadRequest, HttpError, ServiceUnavailable
from bindings.http.inputs import parse_json, read_body
from bindings.http.router import Router, json_response

__all__ = ["EventsSettings", "config", "events", "insert_statement", "load_settings",
           "validate_event", "validate_events", "validate_paging"]

_log = logging.getLogger(__name__)

_HELP = "The valid endpoints are /init /create_event /events"  # the seed's words
#: utf8mb4 named on the table, so any op_type is stored as sent whatever the server's default
#: character set (latin1 on many MySQL installs; utf8mb3 cannot hold emoji). The sqlite
#: backend drops the table option.
_CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS events (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                "event_ts BIGINT NOT NULL, op_type VARCHAR(20) NOT NULL, "
                "input_size BIGINT NOT NULL, event_id VARCHAR(64) NULL) DEFAULT CHARSET=utf8mb4")
#: The event id column of tables made before it existed, and the unique index on it (made
#: apart from CREATE TABLE: SQLite cannot add a UNIQUE column, and both dialects take this).
_PROBE_EVENT_ID = "SELECT event_id FROM events WHERE 1 = 0"
_ADD_EVENT_ID = "ALTER TABLE events ADD COLUMN event_id VARCHAR(64) NULL"
_INDEX_EVENT_ID = "CREATE UNIQUE INDEX events_event_id ON events (event_id)"
#: What the databases say when the column is missing, or the index exists already.
_NO_COLUMN = ("unknown column", "no such column")
_INDEX_EXISTS = ("duplicate key name", "already exists")
#: A table made before (or by hand) in another character set: its op_type column's charset,
#: and the in-place conversion (every row kept; latin1 and utf8mb3 convert without loss).
_COLUMN_CHARSET = ("SELECT CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events' "
                   "AND COLUMN_NAME = 'op_type'")
_CONVERT_TABLE = "ALTER TABLE events CONVERT TO CHARACTER SET utf8mb4"
_UTF8MB4 = "utf8mb4"
_INSERT = "INSERT IGNORE INTO events (event_id, event_ts, op_type, input_size) VALUES "
_ROW = "(?, ?, ?, ?)"
_SELECT = ("SELECT id, event_ts, op_type, input_size FROM events WHERE id > ? "
          "ORDER BY id LIMIT ?")
#: Most events in one request, and the body cap that follows: an event is a few dozen bytes
#: of JSON, so 256 bytes each is ample.
_MAX_BATCH = 1000
_MAX_BODY_BYTES = _MAX_BATCH * 256
#: A delivery is a CloudEvent (or a bulk envelope of up to 1000) with its Dapr fields around
#: each event: 2 KiB an event is ample.
_MAX_DELIVERY_BYTES = _MAX_BATCH * 2048
_BIGINT_MAX = 2**63 - 1
_OP_TYPE_MAX = 20
_DEFAULT_LIMIT, _MAX_LIMIT = 100, 1000
#: Paging numbers: ASCII digits only (str.isdigit() also takes "²", which int() refuses), and
#: no more than a BIGINT can have, so nothing long is ever converted.
_PAGING_NUMBER = re.compile(r"[0-9]{1,19}")
_FIELDS = ("event_ts", "op_type", "input_size")
_EVENT_ID = "event_id"

#: Bound on each schema statement (once per process): DDL waits for a metadata lock while
#: other connections use the table, longer than an insert should ever take.
_SCHEMA_TIMEOUT_SECONDS = 10.0

_table_lock = threading.Lock()
_table_ready = False


@dataclass(frozen=True)
class EventsSettings:
    """events' own configuration; see the module docstring."""

    events_binding: str = "events-db"


def load_settings(environ: Mapping[str, str] | None = None) -> EventsSettings:
    """events' settings from ``environ`` (default ``os.environ``)."""
    return settings.read(EventsSettings, environ)


#: Read once, when the module loads.
config = load_settings()


def _invoke(operation: str, sql: str, params: list[Any] | None = None,
            timeout: float | None = None) -> bytes | None:
    """Run ``sql`` through the events binding (within ``timeout``, default
    BINDING_TIMEOUT_SECONDS); ServiceUnavailable when that fails."""
    timeout = settings.get().binding_timeout_seconds if timeout is None else timeout
    metadata = {"sql": sql}
    if params is not None:
        metadata["params"] = json.dumps(params)
    try:
        with deadline(timeout):
            client = get_client()
            return client.invoke_binding(config.events_binding, operation, b"",
                                         binding_metadata=metadata).data
    # DB down, sidecar down, timeout: whatever it is, the caller gets a 503 saying so.
    except Exception as err:
        _log.warning("events binding %r failed on %s: %s", config.events_binding, operation, err)
        raise ServiceUnavailable("the events database is not available",
                                 {"binding": config.events_binding,
                                  "reason": _short_reason(err)}) from err


def _short_reason(err: Exception) -> str:
    """A one-word reason for an answer: the gRPC status name, or the error's type.

    The full error (with gRPC's debug_error_string, the SQL error) goes to the log only.
    """
    code = getattr(err, "code", None)
    name = getattr(code(), "name", None) if callable(code) else None
    return str(name) if name else type(err).__name__


def _ensure_table() -> None:
    """Create the table once per process (idempotent: IF NOT EXISTS)."""
    global _table_ready
    if _table_ready:
        return
    with _table_lock:
        if not _table_ready:
            _create_table()
            _table_ready = True


def _create_table() -> None:
    """CREATE TABLE IF NOT EXISTS, then bring a table made earlier up to date."""
    _invoke("exec", _CREATE_TABLE, timeout=_SCHEMA_TIMEOUT_SECONDS)
    _convert_to_utf8mb4()
    _ensure_event_id()


def _convert_to_utf8mb4() -> None:
    """Convert an existing table that is not utf8mb4 (every row kept)."""
    try:
        data = _invoke("query", _COLUMN_CHARSET, timeout=_SCHEMA_TIMEOUT_SECONDS)
    except ServiceUnavailable:
        # No information_schema: the sqlite backend, whose text is always Unicode.
        return
    rows = json.loads(data) if data else None
    charset = str((rows or [{}])[0].get("charset") or _UTF8MB4)
    if charset.lower() != _UTF8MB4:
        _log.warning("converting table events from %s to %s", charset, _UTF8MB4)
        _invoke("exec", _CONVERT_TABLE, timeout=_SCHEMA_TIMEOUT_SECONDS)


def _ensure_event_id() -> None:
    """Give a table from before event ids its column and unique index; idempotent."""
    missing = _attempt("query", _PROBE_EVENT_ID)
    if missing is not None:
        if not any(text in missing.lower() for text in _NO_COLUMN):
            raise ServiceUnavailable("the events database is not available",
                                     {"binding": config.events_binding})
        _log.warning("adding column event_id to table events (existing rows keep NULL)")
        _invoke("exec", _ADD_EVENT_ID, timeout=_SCHEMA_TIMEOUT_SECONDS)
    exists = _attempt("exec", _INDEX_EVENT_ID)
    if exists is not None and not any(text in exists.lower() for text in _INDEX_EXISTS):
        raise ServiceUnavailable("the events database is not available",
                                 {"binding": config.events_binding})


def _attempt(operation: str, sql: str) -> str | None:
    """Run ``sql``; None when it worked, else the database's error text (for the caller to
    tell an expected refusal from an outage)."""
    try:
        _invoke(operation, sql, timeout=_SCHEMA_TIMEOUT_SECONDS)
    except ServiceUnavailable as err:
        return str(err.__cause__)
    return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_unicode(text: str) -> bool:
    """Whether ``text`` holds only Unicode scalar values (JSON can carry lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_event(payload: Any) -> list[Any]:
    """The insert parameters for ``payload``, or BadRequest saying what is wrong."""
    if not isinstance(payload, dict):
        raise BadRequest("the event must be a JSON object", {"expected": list(_FIELDS)})
    problems: dict[str, str] = {}
    for name in sorted(set(payload) - set(_FIELDS) - {_EVENT_ID}):
        problems[name] = "unknown field"
    event_id = payload.get(_EVENT_ID)
    if _EVENT_ID in payload and not (isinstance(event_id, str) and _is_unicode(event_id)
                                     and 1 <= len(event_id) <= MAX_EVENT_ID):
        problems[_EVENT_ID] = f"must be a string of 1..{MAX_EVENT_ID} characters"
    for name in _FIELDS:
        if name not in payload:
            problems[name] = "missing"
    for name in ("event_ts", "input_size"):
        value = payload.get(name)
        if name in payload and not (_is_int(value) and 0 <= value <= _BIGINT_MAX):
            problems[name] = f"must be an integer 0..{_BIGINT_MAX}"
    op_type = payload.get("op_type")
    if "op_type" in payload and not (isinstance(op_type, str)
                                     and 1 <= len(op_type) <= _OP_TYPE_MAX):
        problems["op_type"] = f"must be a string of 1..{_OP_TYPE_MAX} characters"
    elif isinstance(op_type, str) and not _is_unicode(op_type):
        problems["op_type"] = "must be valid Unicode (a lone surrogate escape is not)"
    if problems:
        raise BadRequest("invalid event", problems)
    return [event_id, *(payload[name] for name in _FIELDS)]


def validate_events(payload: Any) -> list[list[Any]]:
    """One parameter row per event: ``payload`` is one event object or an array of 1..1000.

    All or nothing: BadRequest lists every bad element by its index (as a string key).
    """
    if not isinstance(payload, list):
        return [validate_event(payload)]
    if not 1 <= len(payload) <= _MAX_BATCH:
        raise BadRequest(f"an array of events must hold 1..{_MAX_BATCH} events",
                         {"count": len(payload)})
    rows: list[list[Any]] = []
    problems: dict[str, Any] = {}
    for index, item in enumerate(payload):
        try:
            rows.append(validate_event(item))
        except BadRequest as err:
            problems[str(index)] = err.detail
    if problems:
        raise BadRequest("invalid events", problems)
    return rows


def insert_statement(count: int) -> str:
    """``INSERT IGNORE ... VALUES (?, ?, ?, ?), ...`` for ``count`` rows (event id first);
    built from the count only."""
    return _INSERT + ", ".join([_ROW] * count)


def validate_paging(args: Any) -> tuple[int, int]:
    """(after, limit) from the query string, or BadRequest."""
    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = args.get(name)
        if raw is None:
            return default
        if not _PAGING_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
            raise BadRequest(f"{name} must be an integer {low}..{high}", {name: raw})
        return int(raw)
    return integer("after", 0, 0, _BIGINT_MAX), integer("limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)


def _init(request: flask.Request) -> flask.Response:
    global _table_ready
    with _table_lock:
        _create_table()
        _table_ready = True
    return json_response({"status": True})


def _create_event(request: flask.Request) -> flask.Response:
    payload = parse_json(read_body(request, _MAX_BODY_BYTES))
    rows = validate_events(payload)
    _ensure_table()
    _invoke("exec", insert_statement(len(rows)), [value for row in rows for value in row])
    if isinstance(payload, list):
        return json_response({"status": True, "count": len(rows)})
    return json_response({"status": True})


def _event_row(data: Any) -> list[Any]:
    """A delivered event's insert parameters (its id comes from the CloudEvent, not here)."""
    if isinstance(data, dict) and _EVENT_ID in data:
        raise ValueError("the event data must not carry event_id (the CloudEvent id is it)")
    try:
        return validate_event(data)[1:]
    except BadRequest as err:
        raise ValueError(f"{err.message}: {json.dumps(err.detail)}") from None


def _delivered_event(request: flask.Request) -> flask.Response:
    """What Dapr delivers from topic events: store each event once, or ask for it again."""
    try:
        body = parse_json(read_body(request, _MAX_DELIVERY_BYTES))
    except HttpError as err:
        _log.warning("dropping an unreadable delivery: %s", err.message)
        return json_response({"status": "DROP", "error": err.message})
    bulk, entries = read_delivery(body, _event_row)
    for entry in entries:
        if entry.problem:
            _log.warning("dropping event %r: %s", entry.event_id or entry.entry_id,
                         entry.problem)
    good = [e for e in entries if not e.problem]
    stored = True
    if good:
        try:
            _ensure_table()
            _invoke("exec", insert_statement(len(good)),
                    [value for e in good for value in (e.event_id, *e.row)])
        except ServiceUnavailable:
            stored = False  # logged by _invoke; the broker keeps the events
    if bulk:
        return json_response({"statuses": statuses(entries, stored)})
    if entries[0].problem:
        return json_response({"status": "DROP", "error": entries[0].problem})
    return json_response({"status": "SUCCESS" if stored else "RETRY"})


def _list_events(request: flask.Request) -> flask.Response:
    after, limit = validate_paging(request.args)
    _ensure_table()
    data = _invoke("query", _SELECT, [after, limit])
    rows = json.loads(data) if data else None
    return json_response([{"id": int(row["id"]), "event_ts": int(row["event_ts"]),
                           "op_type": str(row["op_type"]), "input_size": int(row["input_size"])}
                          for row in rows or []])


_router = Router(_HELP, {
    "/init": {"GET": _init, "POST": _init},
    "/create_event": {"POST": _create_event},
    "/event": {"POST": _delivered_event},
    "/events": {"GET": _list_events},
})


def events(request: flask.Request) -> flask.Response:
    """The functions-framework entry point."""
    return _router(request)

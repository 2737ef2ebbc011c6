"""One-line log records for every process of the stack, and repeated faults summarised.

Both the runtime (``python -m sidecar``) and the functions (``python -m bindings.http.serving``)
call ``configure`` once per process. Three things it guarantees:

1. **One line per record.** An exception among a record's arguments is written by
   ``describe_error`` (type, gRPC status code name, short details: never the several-line repr
   of ``grpc._channel._InactiveRpcError``); line breaks in a message are folded; a record
   with ``exc_info`` gets the error and where it was raised on the same line (the traceback
   follows only at DEBUG).
2. **A repeated fault is summarised** (``RepeatFilter``): a warning or error with the same
   logger, message template and kind of error is written once; further ones within
   ``repeat_seconds`` are counted and written as one line at the end of that interval
   (``... (repeated 57 times in the last 10 s)``), for as long as they go on.
3. **JSON on request** (``LOG_FORMAT=json``): one object per line with ``time``, ``level``,
   ``logger``, ``message`` and the record's ``fields`` (e.g. an access line's status, ms).

Why it lives here: the runtime must not import ``bindings``, and the function image holds
``bindings/`` and ``functions/`` only; so the one implementation sits in the runtime's package,
imports nothing from it (standard library only), and the image copies this file alone.

Settings (environment, both kinds of process):

    name                 default  meaning
    LOG_FORMAT           text     ``text`` (``key=value`` lines) or ``json``
    LOG_REPEAT_SECONDS   10       interval of a repeated fault's summary; 0 writes every one
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

__all__ = [
    "DEFAULT_REPEAT_SECONDS",
    "FIELDS",
    "FORMATS",
    "LEVELS",
    "TEXT_FIELDS",
    "JsonFormatter",
    "LogOptions",
    "OneLineFormatter",
    "RepeatFilter",
    "configure",
    "describe_error",
    "load_options",
    "render_message",
]

#: Level names as daprd's ``--log-level`` takes them.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "error": logging.ERROR, "fatal": logging.CRITICAL}
FORMATS = ("text", "json")
DEFAULT_REPEAT_SECONDS = 10.0
#: The ``extra`` key whose dict a JSON line adds as fields: ``_log.info(..., extra={FIELDS: {}})``.
FIELDS = "fields"
#: With ``extra={TEXT_FIELDS: True}`` a text line ends with the ``FIELDS`` too, as key=value.
TEXT_FIELDS = "text_fields"
#: Longest details kept of an error, in characters.
_MAX_DETAILS = 300
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_JSON_BASE = ("time", "level", "logger", "message")


@dataclass(frozen=True)
class LogOptions:
    """``LOG_FORMAT`` and ``LOG_REPEAT_SECONDS``; see the module docstring."""

    format: str = "text"
    repeat_seconds: float = DEFAULT_REPEAT_SECONDS


def load_options(environ: Mapping[str, str] | None = None) -> LogOptions:
    """The options from ``environ`` (default ``os.environ``); ValueError naming a bad one."""
    environ = os.environ if environ is None else environ
    fmt = (environ.get("LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {fmt!r}")
    raw = (environ.get("LOG_REPEAT_SECONDS") or "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_REPEAT_SECONDS
    except ValueError:
        raise ValueError(f"LOG_REPEAT_SECONDS must be a number, got {raw!r}") from None
    if seconds < 0:
        raise ValueError(f"LOG_REPEAT_SECONDS must be 0 or more, got {raw!r}")
    return LogOptions(fmt, seconds)


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip() if "\n" in text or "\r" in text else text


def _code_name(exc: BaseException) -> str:
    """A gRPC error's status code name (``UNAVAILABLE``), or a runtime error's code string."""
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            code = code()
        except Exception:  # noqa: BLE001 - a code we cannot read is left out, nothing more
            return ""
    if isinstance(code, str):
        return code
    return str(getattr(code, "name", "") or "")


def describe_error(exc: BaseException) -> str:
    """``exc`` in one line: ``Type CODE: details`` (details folded and shortened)."""
    details: object = exc
    reader = getattr(exc, "details", None)
    if callable(reader):
        try:
            found = reader()
        except Exception:  # noqa: BLE001 - fall back on str(exc)
            found = None
        if isinstance(found, str) and found:
            details = found
    text = " ".join(str(details).split())
    if len(text) > _MAX_DETAILS:
        text = text[:_MAX_DETAILS - 3] + "..."
    head = " ".join(part for part in (type(exc).__name__, _code_name(exc)) if part)
    return f"{head}: {text}" if text else head


def _kind(record: logging.LogRecord) -> str:
    """The kind of error a record is about (type and code), "" for none."""
    found = _error_of(record)
    return f"{type(found).__name__} {_code_name(found)}" if found is not None else ""


def _error_of(record: logging.LogRecord) -> BaseException | None:
    if record.exc_info and record.exc_info[1] is not None:
        return record.exc_info[1]
    args = record.args if isinstance(record.args, tuple) else ()
    return next((arg for arg in args if isinstance(arg, BaseException)), None)


def render_message(record: logging.LogRecord) -> str:
    """The record's message in one line, each exception argument by ``describe_error``."""
    args = record.args
    if isinstance(args, tuple) and any(isinstance(arg, BaseException) for arg in args):
        args = tuple(describe_error(a) if isinstance(a, BaseException) else a for a in args)
    try:
        message = str(record.msg) % args if args else str(record.msg)
    except (TypeError, ValueError):
        message = record.getMessage()
    return _one_line(message)


def _raised_at(exc: BaseException) -> str:
    """``file.py:12 in func``, where ``exc`` was raised (its innermost frame)."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{os.path.basename(code.co_filename)}:{tb.tb_lineno} in {code.co_name}"


class OneLineFormatter(logging.Formatter):
    """``logging.Formatter`` over ``render_message``; ``exc_info`` on the same line.

    ``tracebacks``: write the full traceback after the line (configure sets it at DEBUG).
    """

    def __init__(self, fmt: str, tracebacks: bool = False) -> None:
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        record.message = render_message(record)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if getattr(record, TEXT_FIELDS, False):
            line += "".join(f' {key}="{value}"' if " " in str(value) else f" {key}={value}"
                            for key, value in (getattr(record, FIELDS, None) or {}).items())
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            where = _raised_at(error)
            line += f" error=\"{describe_error(error)}\"" + (f" at={where}" if where else "")
            if self.tracebacks and record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then
    ``static`` fields and the record's ``fields``; an error as ``error`` and ``error_at``."""

    def __init__(self, static: Mapping[str, Any] | None = None,
                 tracebacks: bool = False) -> None:
        super().__init__()
        self.static = dict(static or {})
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": logging.getLevelName(record.levelno).lower(),
            "logger": record.name, "message": render_message(record)}
        extra = getattr(record, FIELDS, None)
        for key, value in {**self.static, **(extra or {})}.items():
            if key not in _JSON_BASE:
                out[key] = value
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            out["error"] = describe_error(error)
            out["error_at"] = _raised_at(error)
            if self.tracebacks and record.exc_info:
                out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


@dataclass
class _Window:
    """One fault being summarised: when its interval ends, how many were held back, the last."""

    ends: float
    count: int = 0
    last: logging.LogRecord | None = None


class RepeatFilter(logging.Filter):
    """Writes the first of a repeated warning or error, then one summary line per interval.

    Records are the same fault when logger, level, message template and kind of error (type,
    gRPC code) match. A summary is written by a background thread at the end of each interval
    in which the fault occurred again, through ``emit`` (the handler's ``handle``); an interval
    with no repeat ends the fault, and its next occurrence is written in full. Whatever is
    counted at exit is written by ``flush``. Records below WARNING always pass.
    """

    def __init__(self, seconds: float, emit: Callable[[logging.LogRecord], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.seconds = seconds
        self.emit = emit
        self.clock = clock
        self._windows: dict[tuple[str, int, str, str], _Window] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread_pid = 0
        os.register_at_fork(after_in_child=self._after_fork)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.seconds <= 0 or record.levelno < logging.WARNING or getattr(
                record, "repeat_summary", False):
            return True
        key = (record.name, record.levelno, str(record.msg), _kind(record))
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(self.clock() + self.seconds)
                self._ensure_thread()
                return True
            window.count += 1
            window.last = record
            return False

    def flush(self, everything: bool = True) -> None:
        """Write the summaries due (all of them with ``everything``, as at exit)."""
        now = self.clock()
        due: list[tuple[logging.LogRecord, int]] = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if not everything and window.ends > now:
                    continue
                if window.count and window.last is not None:
                    due.append((window.last, window.count))
                    self._windows[key] = _Window(now + self.seconds)
                else:
                    del self._windows[key]
        for record, count in due:
            self.emit(self._summary(record, count))

    def _summary(self, record: logging.LogRecord, count: int) -> logging.LogRecord:
        summary = logging.makeLogRecord(record.__dict__)
        seconds = f"{self.seconds:g}"
        summary.msg = "%s (repeated %d times in the last %s s)"
        summary.args = (render_message(record), count, seconds)
        summary.exc_info = summary.exc_text = None
        summary.repeat_summary = True
        fields = dict(getattr(record, FIELDS, None) or {})
        setattr(summary, FIELDS, {**fields, "repeated": count, "interval_s": self.seconds})
        return summary

    def _ensure_thread(self) -> None:
        if self._thread_pid != os.getpid():
            self._thread_pid = os.getpid()
            threading.Thread(target=self._run, name="log-repeats", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                ends = min((w.ends for w in self._windows.values()), default=None)
            wait = self.seconds if ends is None else max(ends - self.clock(), 0.0)
            self._wake.wait(wait)
            self.flush(everything=False)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._windows.clear()
        self._thread_pid = 0


#: The handler ``configure`` installed last (replaced by the next call).
_installed: logging.Handler | None = None


def configure(level: int, text_format: str, options: LogOptions | None = None, *,
              static: Mapping[str, Any] | None = None,
              stream: IO[str] | None = None) -> logging.Handler:
    """Send every record at ``level`` or above to ``stream`` (stderr), one line each.

    ``text_format`` is a ``logging`` format for text lines; with ``options.format == "json"``
    lines are ``JsonFormatter``'s, with ``static`` fields on each. Returns the handler.
    """
    global _installed
    options = options or LogOptions()
    debug = level <= logging.DEBUG
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter(static, debug) if options.format == "json"
                         else OneLineFormatter(text_format, debug))
    repeats = RepeatFilter(options.repeat_seconds, handler.handle)
    handler.addFilter(repeats)
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    for old in list(root.handlers):  # basicConfig's, if anything called it first
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    atexit.register(repeats.flush)
    return handler

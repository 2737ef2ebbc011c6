"""How the functions are served: the one place that configures the HTTP server.

``python -m bindings.http.serving`` takes ``functions-framework``'s flags and environment
(``--target``/FUNCTION_TARGET, ``--source``/FUNCTION_SOURCE, ``--signature-type``,
``--host``/HOST, ``--port``/PORT, ``--debug``; WORKERS, THREADS, GUNICORN_LOG_LEVEL,
CLOUD_RUN_TIMEOUT_SECONDS) and builds the app with ``functions_framework.create_app``, exactly
as ``functions-framework`` does. Only the server differs: gunicorn with
``bindings.http.worker.BufferingWorker`` (requests read in the event loop, JSON parse errors,
lingering close) and the limits below. Why a command of our own: functions-framework 3.10.2
starts gunicorn with a fixed option set (bind, workers, threads, timeout, log level,
``limit_request_line=0``) and no way to name a worker class or a config file.

Settings (environment, read once per process; docs/functions.md has the same table):

    name                        default   unit / meaning
    READ_TIMEOUT_SECONDS        10        first byte to whole request; past it a JSON 408
    KEEPALIVE_SECONDS           5         idle connection (before any byte) is closed
    MAX_HEAD_BYTES              65536     request line + headers; past it a JSON 431
    LINGER_SECONDS              10        after a closing answer, how long to drop what the
    LINGER_BYTES                67108864  client still sends (and how much) before closing
    LIMIT_REQUEST_FIELDS        100       header fields (gunicorn's check; past it 431)
    LIMIT_REQUEST_FIELD_SIZE    8190      bytes of one header field (past it 431)
    LIMIT_REQUEST_LINE          8190      bytes of the request line (past it 414)
    LOG_LEVEL                   info      debug, info, warn, error: the function's log
    LOG_FORMAT                  text      text (key=value lines) or json (one object a line)
    LOG_REPEAT_SECONDS          10        a repeated fault: first line, then one summary per
                                          interval (0: every one)

Logging (``sidecar.logfmt``, configured once in the master before the workers fork): one line
per record, one access line per request (``access.py``), repeated faults summarised.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gunicorn.app.base

from sidecar import logfmt

from .. import memory, settings

__all__ = ["ServingApplication", "ServingSettings", "configure_logging", "get", "gunicorn_options",
           "load", "main"]

_WORKER_CLASS = "bindings.http.worker.BufferingWorker"
_LOGGER_CLASS = "bindings.http.access.AccessLogger"
_TEXT_FORMAT = "time=%(asctime)s level=%(levelname)s scope=%(name)s msg=%(message)s"
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class ServingSettings:
    """The server's limits and timeouts; see the module docstring."""

    read_timeout_seconds: float = 10.0
    keepalive_seconds: int = 5
    max_head_bytes: int = 64 * 1024
    linger_seconds: float = 10.0
    linger_bytes: int = 64 * 1024 * 1024
    limit_request_fields: int = 100
    limit_request_field_size: int = 8190
    limit_request_line: int = 8190
    log_level: str = "info"


def _parse_level(name: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in logfmt.LEVELS:
        raise ValueError(f"{name} must be one of {', '.join(logfmt.LEVELS)}, got {raw!r}")
    return level


def load(environ: Mapping[str, str] | None = None) -> ServingSettings:
    """The serving settings from ``environ`` (default ``os.environ``)."""
    return settings.read(ServingSettings, environ, {"log_level": _parse_level})


@functools.cache
def get() -> ServingSettings:
    """The process-wide serving settings, read on first use."""
    return load()


def gunicorn_options(host: str, port: int,
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """gunicorn's settings: functions-framework's own (same variables), then ours."""
    environ = os.environ if environ is None else environ
    serving = load(environ)
    return {
        "bind": f"{host}:{port}",
        "workers": int(environ.get("WORKERS") or 1),
        "threads": int(environ.get("THREADS") or (os.cpu_count() or 1) * 4),
        "timeout": int(environ.get("CLOUD_RUN_TIMEOUT_SECONDS") or 0),
        "loglevel": environ.get("GUNICORN_LOG_LEVEL") or "error",
        "worker_class": _WORKER_CLASS,
        "logger_class": _LOGGER_CLASS,
        "post_worker_init": _connect_to_sidecar,
        "keepalive": serving.keepalive_seconds,
        "limit_request_fields": serving.limit_request_fields,
        "limit_request_field_size": serving.limit_request_field_size,
        "limit_request_line": serving.limit_request_line,
    }


def configure_logging(environ: Mapping[str, str] | None = None) -> None:
    """The process's logging: LOG_LEVEL, LOG_FORMAT, LOG_REPEAT_SECONDS (module docstring)."""
    environ = os.environ if environ is None else environ
    level = logfmt.LEVELS[load(environ).log_level]
    logfmt.configure(level, _TEXT_FORMAT, logfmt.load_options(environ))


def _connect_to_sidecar(worker: Any) -> None:
    """gunicorn's post_worker_init: start the new worker's Dapr client in the background, so its
    first request does not wait for the health check and channel (bindings/dapr/client.py)."""
    from ..dapr import client

    client.connect()


class ServingApplication(gunicorn.app.base.BaseApplication):
    """gunicorn serving one WSGI app with ``gunicorn_options``."""

    def __init__(self, app: Any, options: Mapping[str, Any]) -> None:
        self.app = app
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m bindings.http.serving",
        description="functions-framework's command, served by gunicorn with BufferingWorker")
    parser.add_argument("--target", default=env("FUNCTION_TARGET"), required=not env(
        "FUNCTION_TARGET"))
    parser.add_argument("--source", default=env("FUNCTION_SOURCE"))
    parser.add_argument("--signature-type", default=env("FUNCTION_SIGNATURE_TYPE") or "http",
                        choices=["http", "event", "cloudevent", "typed"])
    parser.add_argument("--host", default=env("HOST") or "0.0.0.0")
    parser.add_argument("--port", type=int, default=int(env("PORT") or 8080))
    parser.add_argument("--debug", action="store_true",
                        default=(env("DEBUG") or "").strip().lower() in _TRUE)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Build the function's app as functions-framework does and serve it."""
    # Loading the app creates a few hundred thousand objects that live as long as the process,
    # so the collections they trigger meanwhile find nothing to free: without them classify's
    # imports and model load take ~30 ms less (docs/benchmarks.md). Once loaded, they are
    # frozen: collections in the forked workers never visit them, so never write to (and
    # copy) their pages; gc.freeze's documented use, before a fork.
    gc.disable()
    import functions_framework

    args = _parser().parse_args(argv)
    memory.configure()  # before the function module loads and gunicorn forks (bindings/memory.py)
    try:
        configure_logging()
    except ValueError as err:
        _parser().error(str(err))
    try:
        app = functions_framework.create_app(args.target, args.source, args.signature_type)
    finally:
        gc.freeze()
        gc.enable()
    if args.debug:
        from functions_framework._http import create_server

        create_server(app, True).run(args.host, args.port)
        return
    ServingApplication(app, gunicorn_options(args.host, args.port)).run()


if __name__ == "__main__":
    main()

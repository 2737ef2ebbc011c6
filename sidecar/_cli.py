"""daprd's command-line flags, each with an environment fallback, parsed into ``Settings``.

Only parsing lives here; ``__main__.main`` hands the result to ``__main__.run``. Precedence: flag,
then environment variable, then the default in ``settings.py``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import settings as defaults
from .settings import Settings

__all__ = ["build_parser", "parse_settings"]


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    """The parser, with daprd's flag names; defaults are None so env fallbacks can apply."""
    parser = argparse.ArgumentParser(
        prog="python -m sidecar",
        description="A local runtime serving the Dapr HTTP and gRPC APIs for one app id.")
    add = parser.add_argument
    add("--app-id", help="the app id this runtime serves (env APP_ID)")
    add("--app-port", type=_port, help="port the app listens on (env APP_PORT)")
    add("--app-protocol", choices=defaults.APP_PROTOCOLS,
        help=f"protocol of the app (env APP_PROTOCOL, default {defaults.DEFAULT_APP_PROTOCOL})")
    add("--dapr-http-port", type=_port,
        help=f"HTTP API port (env DAPR_HTTP_PORT, default {defaults.DEFAULT_HTTP_PORT})")
    add("--dapr-grpc-port", type=_port,
        help=f"gRPC API port (env DAPR_GRPC_PORT, default {defaults.DEFAULT_GRPC_PORT})")
    add("--resources-path", "--components-path", action="append", dest="resources_path",
        help="folder of component files; repeatable (env DAPR_RESOURCES_PATH, "
             f"{os.pathsep}-separated; default {defaults.DEFAULT_RESOURCES_PATH})")
    add("--config", action="append", dest="config",
        help="Dapr Configuration file; repeatable, later files override earlier ones "
             f"(env DAPR_CONFIG, {os.pathsep}-separated)")
    add("--log-level", choices=tuple(defaults.LOG_LEVELS),
        help=f"log level (env DAPR_LOG_LEVEL, default {defaults.DEFAULT_LOG_LEVEL})")
    add("--dapr-listen-addresses",
        help="address the APIs listen on (env DAPR_LISTEN_ADDRESSES, "
             f"default {defaults.DEFAULT_LISTEN_ADDRESS})")
    add("--registry-dir",
        help="name-resolution folder shared by local runtimes (env DAPR_LOCAL_REGISTRY_DIR)")
    return parser


def _env_port(parser: argparse.ArgumentParser, environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        return _port(text)
    except argparse.ArgumentTypeError as err:
        parser.error(f"environment variable {name}: {err}")


def _choice(parser: argparse.ArgumentParser, value: str, name: str,
            choices: Sequence[str]) -> str:
    if value not in choices:
        parser.error(f"{name}: invalid choice {value!r} (choose from {', '.join(choices)})")
    return value


def _listen_address(text: str) -> str:
    # daprd accepts a comma-separated list; this runtime binds the first address only.
    return text.split(",")[0].strip() or defaults.DEFAULT_LISTEN_ADDRESS


def parse_settings(argv: Sequence[str] | None = None,
                   environ: Mapping[str, str] | None = None) -> Settings:
    """Parse ``argv`` (default ``sys.argv[1:]``) with fallbacks from ``environ``."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    app_port = args.app_port if args.app_port is not None else _env_port(
        parser, environ, "APP_PORT")
    http_port = args.dapr_http_port if args.dapr_http_port is not None else _env_port(
        parser, environ, "DAPR_HTTP_PORT")
    grpc_port = args.dapr_grpc_port if args.dapr_grpc_port is not None else _env_port(
        parser, environ, "DAPR_GRPC_PORT")
    paths = args.resources_path or [
        p for p in environ.get("DAPR_RESOURCES_PATH", "").split(os.pathsep) if p
    ] or [defaults.DEFAULT_RESOURCES_PATH]
    configs = args.config or [p for p in environ.get("DAPR_CONFIG", "").split(os.pathsep) if p]
    registry_dir = args.registry_dir or environ.get("DAPR_LOCAL_REGISTRY_DIR")
    return Settings(
        app_id=args.app_id or environ.get("APP_ID", ""),
        app_port=app_port,
        app_protocol=_choice(parser, args.app_protocol or environ.get(
            "APP_PROTOCOL", defaults.DEFAULT_APP_PROTOCOL), "APP_PROTOCOL",
            defaults.APP_PROTOCOLS),
        http_port=defaults.DEFAULT_HTTP_PORT if http_port is None else http_port,
        grpc_port=defaults.DEFAULT_GRPC_PORT if grpc_port is None else grpc_port,
        resources_paths=tuple(Path(p) for p in paths),
        configs=tuple(Path(p) for p in configs),
        log_level=_choice(parser, args.log_level or environ.get(
            "DAPR_LOG_LEVEL", defaults.DEFAULT_LOG_LEVEL), "DAPR_LOG_LEVEL",
            tuple(defaults.LOG_LEVELS)),
        listen_address=_listen_address(
            args.dapr_listen_addresses or environ.get("DAPR_LISTEN_ADDRESSES", "")),
        registry_dir=Path(registry_dir) if registry_dir else defaults.default_registry_dir(
            environ),
        # daprd reads both tokens from its environment only (no flags).
        api_token=environ.get("DAPR_API_TOKEN", ""),
        app_api_token=environ.get("APP_API_TOKEN", ""),
    )

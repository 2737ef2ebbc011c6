"""daprd's command-line flags, each with an environment fallback, parsed into ``Settings``.

Only parsing lives here; ``__main__.main`` hands the result to ``__main__.run``. Precedence: flag,
then environment variable, then the default in ``settings.py``.

The whole of daprd's command line is taken (``cmd/daprd/options/options.go`` and dapr/kit's
logger and metrics flags), written as daprd takes it: ``-app-id`` as well as ``--app-id``,
``--flag=value``, Go booleans (``--enable-mtls``, ``--enable-metrics=false``), comma-separated
``--resources-path`` and ``--config`` lists. So a command line written for daprd, as ``dapr run``
or the sidecar injector writes one, starts this runtime. What a local runtime has no part of
(control plane, actors, metrics, app health probes) is taken and ignored: ``NOT_SERVED`` says
why, and one warning at start-up names each such flag that was given a value asking for it.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import settings as defaults
from .settings import Settings

__all__ = ["NOT_SERVED", "build_parser", "parse_settings"]

# Why a flag is ignored, for the flags that share a reason.
_NO_INTERNAL_PORT = "runtimes call each other on the gRPC API port"
_NO_PUBLIC_PORT = "health and metadata are served on the HTTP API port"
_NO_PROFILING = "there is no profiling server"
_NO_CONTROL_PLANE = "there is no control plane"
_NO_ACTORS = "there are no actors"
_NO_SCHEDULER = "there is no scheduler (jobs, actor reminders)"
_NO_METRICS = "there is no metrics endpoint"
_NO_HEALTH_PROBES = "the app's health is not probed"
_NO_HEADER_LIMIT = "request headers are not limited by size"

#: daprd flags this runtime takes and ignores: flag -> (the value that asks for nothing, as
#: daprd parses it, or None when any value given asks for something; why it is ignored).
NOT_SERVED: dict[str, tuple[object, str]] = {
    "dapr-internal-grpc-port": ("", _NO_INTERNAL_PORT),
    "dapr-internal-grpc-listen-address": ("", _NO_INTERNAL_PORT),
    "dapr-public-port": ("", _NO_PUBLIC_PORT),
    "dapr-public-listen-address": ("", _NO_PUBLIC_PORT),
    "enable-profiling": (False, _NO_PROFILING),
    "profile-port": ("7777", _NO_PROFILING),
    "control-plane-address": ("", _NO_CONTROL_PLANE),
    "control-plane-trust-domain": ("localhost", _NO_CONTROL_PLANE),
    "control-plane-namespace": ("default", _NO_CONTROL_PLANE),
    "sentry-address": ("", _NO_CONTROL_PLANE),
    "sentry-request-jwt-audiences": ("", _NO_CONTROL_PLANE),
    "enable-mtls": (False, "there is no mTLS, runtimes authenticate each other with "
                           "DAPR_API_TOKEN"),
    "placement-host-address": ("", _NO_ACTORS),
    "actors-service": ("", _NO_ACTORS),
    "reminders-service": ("", _NO_ACTORS),
    "scheduler-host-address": ("", _NO_SCHEDULER),
    "scheduler-job-streams": ("3", _NO_SCHEDULER),
    "enable-metrics": (False, _NO_METRICS),
    "metrics-port": (None, _NO_METRICS),
    "metrics-listen-address": (None, _NO_METRICS),
    "enable-app-health-check": (False, _NO_HEALTH_PROBES),
    "app-health-check-path": ("/healthz", _NO_HEALTH_PROBES),
    "app-health-probe-interval": ("5", _NO_HEALTH_PROBES),
    "app-health-probe-timeout": ("500", _NO_HEALTH_PROBES),
    "app-health-threshold": ("3", _NO_HEALTH_PROBES),
    "allowed-origins": ("*", "the HTTP API sends no CORS headers"),
    "read-buffer-size": ("4Ki", _NO_HEADER_LIMIT),
    "dapr-http-read-buffer-size": ("4", _NO_HEADER_LIMIT),
    "dapr-block-shutdown-duration": (None, "shutdown is not held for the app"),
}
# Boolean flags among them (the rest take a value).
_NOT_SERVED_BOOLS = frozenset(k for k, (quiet, _) in NOT_SERVED.items() if quiet is False)
# Go's strconv.ParseBool, which daprd's boolean flags use.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_NEGATIVE_NUMBER = re.compile(r"-\d+")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def _go_bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r} (true or false)")


def _byte_size(text: str) -> int | None:
    try:
        return defaults.parse_byte_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {seconds}")
    return seconds


def _go_style(argv: Sequence[str]) -> list[str]:
    """daprd's own translation (options.go): Go's flag package took ``-app-id``, so a
    single-dash word of three characters or more gets a second dash (a negative number stays
    a value)."""
    return [f"-{arg}" if len(arg) > 2 and arg[0] == "-" and arg[1] != "-"
            and not _NEGATIVE_NUMBER.fullmatch(arg) else arg for arg in argv]


def _listed(values: Sequence[str] | None) -> list[str]:
    """pflag's string slices: each value is a comma-separated list; an empty one adds nothing."""
    return [item for value in values or () for item in next(csv.reader([value]), []) if item]


def build_parser() -> argparse.ArgumentParser:
    """The parser, with daprd's flag names; defaults are None so env fallbacks can apply."""
    parser = argparse.ArgumentParser(
        prog="python -m sidecar",
        description="A local runtime serving the Dapr HTTP and gRPC APIs for one app id.",
        epilog="daprd's other flags are taken too; those that ask for what a local runtime "
               "has no part of (control plane, actors, metrics, app health probes) are "
               "ignored with one warning (docs/sidecar.md, Flags).")
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
        help="folder of component files; repeatable or comma-separated (env "
             f"DAPR_RESOURCES_PATH, {os.pathsep}-separated; default "
             f"{defaults.DEFAULT_RESOURCES_PATH})")
    add("--config", action="append", dest="config",
        help="Dapr Configuration file; repeatable or comma-separated, later files override "
             f"earlier ones (env DAPR_CONFIG, {os.pathsep}-separated)")
    add("--log-level", choices=tuple(defaults.LOG_LEVELS),
        help=f"log level (env DAPR_LOG_LEVEL, default {defaults.DEFAULT_LOG_LEVEL})")
    add("--dapr-listen-addresses",
        help="address the APIs listen on (env DAPR_LISTEN_ADDRESSES, "
             f"default {defaults.DEFAULT_LISTEN_ADDRESS})")
    add("--registry-dir",
        help="name-resolution folder shared by local runtimes (env DAPR_LOCAL_REGISTRY_DIR)")
    # daprd's flags without an environment variable, as in daprd.
    add("--max-body-size", type=_byte_size,
        help="largest request body of the HTTP and gRPC APIs, a quantity such as 16Mi "
             "(default 4Mi; a negative one keeps it)")
    add("--dapr-http-max-request-size", type=int, metavar="MB",
        help="the same in MB (deprecated by daprd; --max-body-size wins, 0 or less is 4)")
    add("--app-channel-address", help=f"address the app listens on (default "
                                      f"{defaults.DEFAULT_APP_HOST})")
    add("--app-max-concurrency", type=int, metavar="N",
        help="calls to the app at once; -1 (default) for no limit")
    add("--app-ssl", type=_go_bool, nargs="?", const=True,
        help="the app speaks TLS: http becomes https (deprecated by daprd)")
    add("--dapr-graceful-shutdown-seconds", type=_seconds, metavar="SECONDS",
        help=f"time in-flight API calls get at shutdown (default "
             f"{defaults.SHUTDOWN_GRACE:g})")
    add("--log-as-json", type=_go_bool, nargs="?", const=True,
        help="one JSON object per log line (as LOG_FORMAT=json)")
    add("--enable-api-logging", type=_go_bool, nargs="?", const=True,
        help="log every API call; wins over the --config file's spec.logging.apiLogging")
    add("--mode", help="standalone, the only mode served")
    add("--unix-domain-socket", help="not served: the APIs listen on TCP ports")
    add("--wait", type=_go_bool, nargs="?", const=True,
        help="wait until the runtime on --dapr-http-port is outbound ready, then exit")
    add("--version", "--build-info", action="version", version=defaults.RUNTIME_VERSION)
    add("--disable-builtin-k8s-secret-store", type=_go_bool, nargs="?", const=True,
        help="no effect: standalone daprd has no Kubernetes secret store either")
    for flag, (_, why) in NOT_SERVED.items():
        if flag in _NOT_SERVED_BOOLS:
            add(f"--{flag}", type=_go_bool, nargs="?", const=True, help=f"ignored: {why}")
        else:
            add(f"--{flag}", help=f"ignored: {why}")
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


def _max_body_bytes(args: argparse.Namespace) -> int:
    # daprd: --max-body-size wins over --dapr-http-max-request-size; `dapr run` passes either
    # as -1 when unset, which keeps the default.
    if args.max_body_size is not None:
        return int(args.max_body_size)
    megabytes = args.dapr_http_max_request_size
    return megabytes << 20 if megabytes is not None and megabytes > 0 else (
        defaults.MAX_BODY_BYTES)


def _ignored(args: argparse.Namespace) -> tuple[str, ...]:
    """Each ignored flag given a value that asks for something, and why it is ignored."""
    lines = []
    for flag, (quiet, why) in NOT_SERVED.items():
        value = getattr(args, flag.replace("-", "_"))
        if value is None or (quiet is not None and value == quiet):
            continue
        shown = f"--{flag}" if value is True else f"--{flag} {value}"
        lines.append(f"{shown} ({why})")
    return tuple(lines)


def _app_protocol(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  environ: Mapping[str, str]) -> str:
    protocol = _choice(parser, args.app_protocol or environ.get(
        "APP_PROTOCOL", defaults.DEFAULT_APP_PROTOCOL), "APP_PROTOCOL", defaults.APP_PROTOCOLS)
    if args.app_ssl:  # daprd turns http into https and grpc into grpcs
        if protocol == "grpc":
            parser.error("--app-ssl with --app-protocol grpc means grpcs, which this runtime "
                         "does not serve")
        protocol = "https"
    return protocol


def parse_settings(argv: Sequence[str] | None = None,
                   environ: Mapping[str, str] | None = None) -> Settings:
    """Parse ``argv`` (default ``sys.argv[1:]``) with fallbacks from ``environ``."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(_go_style(sys.argv[1:] if argv is None else argv))
    if args.mode not in (None, "standalone"):
        parser.error(f"--mode {args.mode}: this runtime runs in standalone mode only")
    if args.unix_domain_socket:
        parser.error("--unix-domain-socket: this runtime's APIs listen on TCP ports only "
                     "(--dapr-http-port, --dapr-grpc-port)")
    app_port = args.app_port if args.app_port is not None else _env_port(
        parser, environ, "APP_PORT")
    http_port = args.dapr_http_port if args.dapr_http_port is not None else _env_port(
        parser, environ, "DAPR_HTTP_PORT")
    grpc_port = args.dapr_grpc_port if args.dapr_grpc_port is not None else _env_port(
        parser, environ, "DAPR_GRPC_PORT")
    paths = _listed(args.resources_path) or [
        p for p in environ.get("DAPR_RESOURCES_PATH", "").split(os.pathsep) if p
    ] or [defaults.DEFAULT_RESOURCES_PATH]
    configs = _listed(args.config) or [
        p for p in environ.get("DAPR_CONFIG", "").split(os.pathsep) if p]
    registry_dir = args.registry_dir or environ.get("DAPR_LOCAL_REGISTRY_DIR")
    return Settings(
        app_id=args.app_id or environ.get("APP_ID", ""),
        app_port=app_port,
        app_protocol=_app_protocol(parser, args, environ),
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
        max_body_bytes=_max_body_bytes(args),
        app_host=args.app_channel_address or defaults.DEFAULT_APP_HOST,
        app_max_concurrency=(defaults.UNLIMITED if args.app_max_concurrency is None
                             else args.app_max_concurrency),
        shutdown_grace=(defaults.SHUTDOWN_GRACE if args.dapr_graceful_shutdown_seconds is None
                        else float(args.dapr_graceful_shutdown_seconds)),
        log_as_json=bool(args.log_as_json),
        api_logging=args.enable_api_logging,
        wait=bool(args.wait),
        ignored_flags=_ignored(args),
    )

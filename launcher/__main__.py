"""``python -m launcher``: run every app of a Dapr multi-app run file with a local runtime each,
serve the web page with a proxy to the functions, restart any process that dies (with back-off,
as Kubernetes does), and stop it all on Ctrl-C or SIGTERM.

Every runtime requires one API token per run (``DAPR_API_TOKEN`` when set, else a random one),
which each app gets in its environment too; the token is never printed.

Exit codes: 0 after a requested stop, 1 when a port is taken, a process cannot start or keeps
crashing, 2 for a bad run file or command line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sidecar.settings import default_registry_dir

from .plan import (
    API_TOKEN_ENV,
    PROFILES,
    AppPlan,
    build_plan,
    find_taken_ports,
    new_api_token,
    proxy_routes,
)
from .restart import RestartPolicy
from .runfile import RunFileError, load_run_file
from .supervisor import CrashLoop, StartupError, Supervisor
from .web import WebServer

__all__ = ["build_parser", "main"]

#: Seconds every process gets to answer after start (classify loads its model first).
_DEFAULT_STARTUP_TIMEOUT = 60.0
#: Seconds between SIGTERM and SIGKILL at shutdown.
_DEFAULT_GRACE = 10.0


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number 0-65535: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number >= 1: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m launcher",
        description="Run the apps of a Dapr multi-app run file on local runtimes, serve the web "
                    "page and proxy /api/<function>/ to the functions.")
    add = parser.add_argument
    add("--file", "-f", default="dapr.yaml", type=Path,
        help="the run file, or a folder holding dapr.yaml (default: dapr.yaml)")
    add("--profile", choices=PROFILES, default="embedded",
        help="embedded: <resources path>/embedded, nothing to install; services: the run "
             "file's resources paths (Redis, MySQL). Default: embedded")
    add("--web-port", type=_port, default=8080,
        help="port of the page and proxy (default 8080; 0 picks a free one)")
    add("--host", default="127.0.0.1", help="address the page listens on (default 127.0.0.1)")
    add("--registry-dir", type=Path, default=None,
        help="name-resolution folder shared by the runtimes "
             f"(default {default_registry_dir()})")
    add("--startup-timeout", type=float, default=_DEFAULT_STARTUP_TIMEOUT,
        help=f"seconds to wait for every process to answer (default {_DEFAULT_STARTUP_TIMEOUT:g})")
    policy = RestartPolicy()
    restart = parser.add_argument_group(
        "restarts", "A process that exits is restarted after a delay that doubles at each exit "
                    "in a row, as a pod's restartPolicy: Always with CrashLoopBackOff.")
    restart.add_argument(
        "--restart-delay", type=_seconds, default=policy.initial_delay, metavar="SECONDS",
        help=f"delay before the first restart (default {policy.initial_delay:g})")
    restart.add_argument(
        "--max-restart-delay", type=_seconds, default=policy.max_delay, metavar="SECONDS",
        help=f"the delay stops doubling here (default {policy.max_delay:g})")
    restart.add_argument(
        "--healthy-after", type=_seconds, default=policy.healthy_after, metavar="SECONDS",
        help="a run this long resets the delay and the crash count "
             f"(default {policy.healthy_after:g})")
    restart.add_argument(
        "--crash-limit", type=_count, default=policy.crash_limit, metavar="N",
        help="stop the stack at the N-th exit of one process within --crash-window seconds "
             f"without a healthy run in between; 1 stops at the first (default "
             f"{policy.crash_limit})")
    restart.add_argument(
        "--crash-window", type=_seconds, default=policy.crash_window, metavar="SECONDS",
        help=f"see --crash-limit (default {policy.crash_window:g})")
    return parser


def _policy(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RestartPolicy:
    try:
        return RestartPolicy(initial_delay=args.restart_delay, max_delay=args.max_restart_delay,
                             healthy_after=args.healthy_after, crash_limit=args.crash_limit,
                             crash_window=args.crash_window)
    except ValueError as err:
        parser.error(str(err))


def _port_owners(plans: Sequence[AppPlan], web_port: int) -> dict[int, str]:
    owners = {web_port: "--web-port, the page and proxy"}
    for plan in plans:
        app = plan.app
        if app.app_port is not None:
            owners[app.app_port] = f"appPort of {app.app_id}"
        owners[plan.http_port] = f"daprHTTPPort of {app.app_id}"
        owners[plan.grpc_port] = f"daprGRPCPort of {app.app_id}"
    return owners


def _table(plans: Sequence[AppPlan], web: WebServer, profile: str) -> str:
    rows = [("app id", "function", "app", "dapr HTTP", "dapr gRPC")]
    for plan in plans:
        rows.append((plan.app.app_id, plan.app.target or "-", plan.app_url or "-",
                     plan.dapr_url, f"127.0.0.1:{plan.grpc_port}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]
    lines.append(f"web page  {web.url}   proxy {web.url}api/<function>/<path>   "
                 f"profile {profile}")
    return "\n".join(lines)


def _token_note(given: bool) -> str:
    source = f"${API_TOKEN_ENV}" if given else "a random one made for this run"
    return f"runtimes require an API token ({source}; each function has it as ${API_TOKEN_ENV})"


def _ready_line(plans: Sequence[AppPlan], web: WebServer, token_given: bool) -> str:
    """The one line saying the stack is up, with every URL a user may want."""
    functions = [f"{plan.app.target or plan.app.app_id} {plan.app_url}" for plan in plans
                 if plan.app_url]
    runtimes = [f"{plan.app.app_id} {plan.dapr_url}" for plan in plans]
    return (f"ready: web page {web.url} | functions {', '.join(functions) or '-'} | "
            f"runtimes (Dapr HTTP) {', '.join(runtimes)} | {_token_note(token_given)} | "
            "Ctrl-C stops everything")


def _run(plans: Sequence[AppPlan], web: WebServer, supervisor: Supervisor,
         stop: threading.Event, timeout: float, token_given: bool) -> int:
    for plan in plans:
        supervisor.start(plan.runtime)
    for plan in plans:
        supervisor.start(plan.command)
    web.start()
    supervisor.wait_ready(timeout, stop.is_set)
    if stop.is_set():
        return 0
    supervisor.say(_ready_line(plans, web, token_given))
    supervisor.run(stop.is_set)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    policy = _policy(parser, args)
    registry_dir = args.registry_dir or default_registry_dir()
    # One token per run, so no other local process can use a runtime's API (secrets included).
    token_given = bool(os.environ.get(API_TOKEN_ENV))
    try:
        plans = build_plan(load_run_file(args.file), args.profile, registry_dir.resolve(),
                           new_api_token())
        routes = proxy_routes(plans)
    except RunFileError as err:
        print(f"launcher: {err}", file=sys.stderr)
        return 2
    taken = find_taken_ports(_port_owners(plans, args.web_port))
    if taken:
        print(f"launcher: cannot start, already in use: {'; '.join(taken)}", file=sys.stderr)
        return 1
    supervisor = Supervisor(policy=policy)
    try:
        web = WebServer(args.host, args.web_port, routes,
                        log=lambda line: supervisor.emit("web", line))
    except OSError as err:
        print(f"launcher: cannot serve the page on {args.host}:{args.web_port}: {err.strerror}",
              file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(_table(plans, web, args.profile), flush=True)
    try:
        code = _run(plans, web, supervisor, stop, args.startup_timeout, token_given)
    except (StartupError, CrashLoop) as err:
        print(f"launcher: {err}", file=sys.stderr, flush=True)
        code = 1
    print("launcher: stopping every process", flush=True)
    supervisor.stop_all(_DEFAULT_GRACE)
    web.stop()
    print("launcher: stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""What to start for a run file: one runtime and one app command per app, as the dapr CLI would.

``build_plan(run_file, profile, registry_dir, api_token)`` is pure apart from picking free ports
for apps that leave ``daprHTTPPort`` / ``daprGRPCPort`` out (the dapr CLI picks random ones too).
Each ``ProcessSpec`` says what to run, where, with which environment, and which URL answers once
it is ready. ``api_token``, when given, is every runtime's and every app's ``DAPR_API_TOKEN``:
the runtimes then refuse any caller without it (daprd's API token authentication) and the dapr
SDK in each app sends it. ``find_taken_ports`` says which of the planned ports something else
already holds. ``new_api_token`` makes a token for one run.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .runfile import AppSpec, RunFile, RunFileError

__all__ = ["API_TOKEN_ENV", "PROFILES", "AppPlan", "ProcessSpec", "build_plan",
           "find_taken_ports", "free_port", "new_api_token", "proxy_routes"]

#: services: the run file's resources paths (Redis, MySQL); embedded: the ``embedded/`` folder
#: inside each (nothing to install). A path that already is an ``embedded/`` folder counts as
#: its parent for the services profile.
PROFILES = ("embedded", "services")
_EMBEDDED_DIR = "embedded"
_LOOPBACK = "127.0.0.1"
#: daprd's (and the dapr SDK's) variable for the token every API call must carry.
API_TOKEN_ENV = "DAPR_API_TOKEN"
#: Random bytes in a generated token (43 URL-safe characters).
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class ProcessSpec:
    """One child process: ``label`` prefixes its log lines; ``ready_url`` answers when it is up."""

    label: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    ready_url: str | None


@dataclass(frozen=True)
class AppPlan:
    """An app with every port settled, its runtime and its command."""

    app: AppSpec
    http_port: int
    grpc_port: int
    runtime: ProcessSpec
    command: ProcessSpec

    @property
    def app_url(self) -> str | None:
        return None if self.app.app_port is None else f"http://{_LOOPBACK}:{self.app.app_port}"

    @property
    def dapr_url(self) -> str:
        return f"http://{_LOOPBACK}:{self.http_port}"


def free_port(avoid: Iterable[int] = ()) -> int:
    """A port that was free a moment ago (bind to port 0), not one of ``avoid``."""
    avoid = set(avoid)
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port


def new_api_token(environ: Mapping[str, str] = os.environ) -> str:
    """``DAPR_API_TOKEN`` from ``environ`` when set and not empty, else a fresh random one."""
    return environ.get(API_TOKEN_ENV) or secrets.token_urlsafe(_TOKEN_BYTES)


def _with_token(env: Mapping[str, str], api_token: str | None) -> dict[str, str]:
    # Without a token, none may leak in from the launcher's own environment either: the
    # runtime and its app must agree on one.
    env = {k: v for k, v in env.items() if k != API_TOKEN_ENV}
    if api_token:
        env[API_TOKEN_ENV] = api_token
    return env


def _profile_path(path: Path, profile: str) -> Path:
    # dapr.yaml may point at either profile's folder (serverless.yaml's local.runProfile
    # chooses); the embedded one is always the `embedded` folder inside the services one.
    services = path.parent if path.name == _EMBEDDED_DIR else path
    return services if profile == "services" else services / _EMBEDDED_DIR


def _resources(app: AppSpec, profile: str) -> tuple[Path, ...]:
    paths = tuple(_profile_path(path, profile) for path in app.resources_paths)
    missing = [str(path) for path in paths if not path.is_dir()]
    if missing or not paths:
        raise RunFileError(f"{app.app_id}: the {profile} profile needs the folder(s) "
                           f"{', '.join(missing) or '(no resources path given)'}")
    return paths


def _runtime(app: AppSpec, ports: tuple[int, int], resources: tuple[Path, ...],
             registry_dir: Path, api_token: str | None) -> ProcessSpec:
    argv = [sys.executable, "-m", "sidecar", "--app-id", app.app_id, "--app-protocol", "http",
            "--dapr-http-port", str(ports[0]), "--dapr-grpc-port", str(ports[1]),
            "--log-level", app.log_level, "--registry-dir", str(registry_dir)]
    if app.app_port is not None:
        argv += ["--app-port", str(app.app_port)]
    for path in resources:
        argv += ["--resources-path", str(path)]
    if app.config_file is not None:
        argv += ["--config", str(app.config_file)]
    argv += app.daprd_flags
    # Relative paths inside component files (secretsFile, rootPath) resolve from here.
    # The health endpoint answers without the token, as daprd's does.
    return ProcessSpec(f"{app.app_id}:dapr", tuple(argv), app.app_dir,
                       _with_token({**os.environ, "PYTHONUNBUFFERED": "1"}, api_token),
                       f"http://{_LOOPBACK}:{ports[0]}/v1.0/healthz")


def _command(app: AppSpec, ports: tuple[int, int], api_token: str | None) -> ProcessSpec:
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {**os.environ, **app.env,
           "DAPR_HTTP_PORT": str(ports[0]), "DAPR_GRPC_PORT": str(ports[1]),
           "APP_ID": app.app_id, "PYTHONUNBUFFERED": "1",
           # The venv's bin first, so `python` (and `functions-framework`) are the ones beside us.
           "PATH": os.pathsep.join([bin_dir, path]) if path else bin_dir}
    if app.app_port is not None:
        env["APP_PORT"] = str(app.app_port)
    ready = None if app.app_port is None else f"http://{_LOOPBACK}:{app.app_port}/"
    return ProcessSpec(app.app_id, app.command, app.app_dir, _with_token(env, api_token), ready)


def build_plan(run_file: RunFile, profile: str, registry_dir: Path,
               api_token: str | None = None) -> list[AppPlan]:
    """Runtimes and commands for every app of ``run_file`` under ``profile``; with
    ``api_token``, each runtime and each command gets it as ``DAPR_API_TOKEN``."""
    if profile not in PROFILES:
        raise RunFileError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    taken = {port for app in run_file.apps
             for port in (app.app_port, app.http_port, app.grpc_port) if port is not None}
    plans: list[AppPlan] = []
    for app in run_file.apps:
        http_port = app.http_port or free_port(taken)
        taken.add(http_port)
        grpc_port = app.grpc_port or free_port(taken)
        taken.add(grpc_port)
        ports = (http_port, grpc_port)
        plans.append(AppPlan(app, http_port, grpc_port,
                             _runtime(app, ports, _resources(app, profile), registry_dir,
                                      api_token),
                             _command(app, ports, api_token)))
    return plans


def proxy_routes(plans: Iterable[AppPlan]) -> dict[str, int]:
    """Function name (the command's ``--target``) -> app port, for the launcher's proxy."""
    routes: dict[str, int] = {}
    owners: dict[str, str] = {}
    for plan in plans:
        target, port = plan.app.target, plan.app.app_port
        if not target or port is None:
            continue
        if target in routes:
            raise RunFileError(f"apps {owners[target]} and {plan.app.app_id} both serve function "
                               f"{target!r}; /api/{target}/ could reach only one of them")
        routes[target], owners[target] = port, plan.app.app_id
    return routes


def _in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: a port with only TIME_WAIT connections left is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # The wildcard address clashes with a listener on any local address.
            sock.bind(("0.0.0.0", port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def find_taken_ports(ports: Mapping[int, str]) -> list[str]:
    """``"port N (what)"`` for each of ``ports`` (port -> what it is for) already in use."""
    return [f"port {port} ({what})" for port, what in ports.items() if _in_use(port)]

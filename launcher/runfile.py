"""The Dapr multi-app run file (``dapr.yaml``, the one ``dapr run -f .`` reads), parsed and checked.

``load_run_file(path)`` returns a ``RunFile`` of ``AppSpec`` values or raises ``RunFileError``
naming the file, the app and the field. Path rules are the documented ones:

- absolute paths are used as they are;
- ``appDirPath`` and relative paths under ``common`` are relative to the run file;
- an app's own relative paths (``resourcesPath(s)``, ``configFilePath``) are relative to its
  ``appDirPath``.

``common`` holds values shared by every app; an app's own value wins, and ``env`` maps merge
(the app's keys override common's). ``appMaxConcurrency``, ``maxBodySize``,
``daprHTTPMaxRequestSize`` and ``appChannelAddress`` go to the runtime as the daprd flags
``dapr run`` makes of them. Documented properties this launcher has no use for (metrics,
profiling, log destinations, ...) are accepted and ignored; any other key is an error, so a
typo such as ``appPorts`` never passes silently.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sidecar.settings import LOG_LEVELS, parse_byte_size

__all__ = ["AppSpec", "RunFile", "RunFileError", "load_run_file", "parse_run_file"]

#: Properties passed to the runtime, as the daprd flag ``dapr run`` makes of each.
_DAPRD_FLAGS = {"appMaxConcurrency": "--app-max-concurrency",
                "maxBodySize": "--max-body-size",
                "daprHTTPMaxRequestSize": "--dapr-http-max-request-size",
                "appChannelAddress": "--app-channel-address"}
#: Properties this launcher acts on.
_USED = frozenset({"appID", "appDirPath", "appPort", "daprHTTPPort", "daprGRPCPort", "command",
                   "resourcesPath", "resourcesPaths", "env", "logLevel", "configFilePath",
                   "appProtocol", *_DAPRD_FLAGS})
#: Documented self-hosted properties that make no difference to the local runtime.
_IGNORED = frozenset({"daprInternalGRPCPort", "metricsPort", "schedulerHostAddress",
                      "unixDomainSocket", "profilePort", "enableProfiling", "apiListenAddresses",
                      "placementHostAddress", "appSSL", "readBufferSize",
                      "daprHTTPReadBufferSize", "enableAppHealthCheck",
                      "appHealthCheckPath", "appHealthProbeInterval", "appHealthProbeTimeout",
                      "appHealthThreshold", "enableApiLogging", "runtimePath",
                      "appLogDestination", "daprdLogDestination", "containerImage",
                      "createService"})
_PATH_KEYS = ("resourcesPath", "resourcesPaths", "configFilePath")
_PORT_KEYS = ("appPort", "daprHTTPPort", "daprGRPCPort")


class RunFileError(ValueError):
    """The run file cannot be read or breaks a rule; the message says where and what."""


@dataclass(frozen=True)
class AppSpec:
    """One entry of ``apps:``, with ``common`` merged in and every path absolute."""

    app_id: str
    app_dir: Path
    command: tuple[str, ...]
    resources_paths: tuple[Path, ...]
    app_port: int | None = None
    http_port: int | None = None
    grpc_port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    config_file: Path | None = None
    #: More daprd flags for the runtime (``_DAPRD_FLAGS``), e.g. ``("--max-body-size", "16Mi")``.
    daprd_flags: tuple[str, ...] = ()

    @property
    def target(self) -> str | None:
        """The function name: the ``--target`` of a functions-framework command, if any."""
        args = list(self.command)
        for index, arg in enumerate(args):
            if arg == "--target" and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith("--target="):
                return arg.split("=", 1)[1]
        return self.env.get("FUNCTION_TARGET") or None


@dataclass(frozen=True)
class RunFile:
    """A whole run file: where it lives and its apps, in file order."""

    path: Path
    apps: tuple[AppSpec, ...]


def _fail(where: str, message: str) -> RunFileError:
    return RunFileError(f"{where}: {message}")


def _port(where: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _fail(where, f"{key} must be a port number 1-65535, got {value!r}")
    try:
        port = int(value)
    except ValueError:
        raise _fail(where, f"{key} must be a port number 1-65535, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise _fail(where, f"{key} must be a port number 1-65535, got {port}")
    return port


def _env(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, f"env must be a mapping of NAME: value, got {type(value).__name__}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or isinstance(item, (Mapping, list)):
            raise _fail(where, f"env entry {key!r} must be a name with a scalar value")
        if item is None:
            item = ""
        # YAML reads `true` as a bool; the process should see "true", as the dapr CLI passes it.
        env[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return env


def _command(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        # The dapr CLI wants a list; a plain string is split as a shell would, for convenience.
        value = shlex.split(value)
    if not isinstance(value, list) or not value:
        raise _fail(where, "command must be a non-empty list such as "
                           "[functions-framework, --target, name]")
    if not all(isinstance(arg, (str, int, float)) and not isinstance(arg, bool) for arg in value):
        raise _fail(where, f"command items must be strings, got {value!r}")
    return tuple(str(arg) for arg in value)


def _path_list(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _fail(where, f"{key} must be a path, a comma-separated string or a list of paths")


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _resolved_paths(entry: Mapping[str, Any], base: Path, where: str) -> dict[str, Any]:
    """``entry``'s path-valued keys made absolute against ``base``."""
    out: dict[str, Any] = {}
    for key in _PATH_KEYS:
        if entry.get(key) is None:
            continue
        if key == "configFilePath":
            if not isinstance(entry[key], str):
                raise _fail(where, f"configFilePath must be a path, got {entry[key]!r}")
            out[key] = _resolve(base, entry[key])
        else:
            out[key] = [_resolve(base, text) for text in _path_list(entry[key], where, key)]
    return out


def _daprd_flags(where: str, merged: Mapping[str, Any]) -> tuple[str, ...]:
    """The daprd flags of the run file's properties, each value checked as the runtime will."""
    flags: list[str] = []
    for key, flag in _DAPRD_FLAGS.items():
        value = merged.get(key)
        if value is None:
            continue
        text = str(value).strip()
        if key == "maxBodySize":
            try:
                parse_byte_size(text)
            except ValueError as err:
                raise _fail(where, f"maxBodySize: {err}") from None
        elif key == "appChannelAddress":
            if not isinstance(value, str) or not text:
                raise _fail(where, f"appChannelAddress must be a host name or address, "
                                   f"got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, f"{key} must be a whole number, got {value!r}")
        flags += [flag, text]
    return tuple(flags)


def _check_keys(where: str, entry: Mapping[str, Any]) -> None:
    unknown = sorted(str(key) for key in entry if key not in _USED | _IGNORED)
    if unknown:
        raise _fail(where, f"unknown propert{'y' if len(unknown) == 1 else 'ies'} "
                           f"{', '.join(unknown)} (known: {', '.join(sorted(_USED))}, ...)")


def _app_dir(where: str, value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise _fail(where, "appDirPath is required (the folder the command runs in)")
    app_dir = _resolve(base, value)
    if not app_dir.is_dir():
        raise _fail(where, f"appDirPath {value!r} is not a folder ({app_dir})")
    return app_dir


def _build_app(index: int, raw: Any, common: Mapping[str, Any], base: Path) -> AppSpec:
    where = f"apps[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(where, f"each app must be a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("appID"), str):
        where = f"{where} ({raw['appID']})"
    _check_keys(where, raw)
    app_dir = _app_dir(where, raw.get("appDirPath"), base)
    merged = {**common, **{k: v for k, v in raw.items() if v is not None}}
    app_id = merged.get("appID") or app_dir.name
    if not isinstance(app_id, str):
        raise _fail(where, f"appID must be a string, got {app_id!r}")
    own = _resolved_paths(raw, app_dir, where)
    source = own if ("resourcesPaths" in own or "resourcesPath" in own) else common
    paths = source.get("resourcesPaths") or source.get("resourcesPath") or []
    for path in paths:
        if not path.is_dir():
            raise _fail(where, f"resources path {path} is not a folder")
    level = merged.get("logLevel", "info")
    if level not in LOG_LEVELS:
        raise _fail(where, f"logLevel must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    if merged.get("appProtocol", "http") != "http":
        raise _fail(where, f"appProtocol {merged['appProtocol']!r} is not supported (only http)")
    if "command" not in merged:
        raise _fail(where, "command is required (the local runtime does not start apps "
                           "without one)")
    return AppSpec(
        app_id=app_id, app_dir=app_dir, command=_command(where, merged["command"]),
        resources_paths=tuple(paths),
        **{name: _port(where, key, merged.get(key)) for name, key in zip(
            ("app_port", "http_port", "grpc_port"), _PORT_KEYS, strict=True)},
        env={**_env(f"{where} common", common.get("env")), **_env(where, raw.get("env"))},
        log_level=level, config_file=own.get("configFilePath") or common.get("configFilePath"),
        daprd_flags=_daprd_flags(where, merged))


def _check_unique(apps: list[AppSpec]) -> None:
    seen_ids: set[str] = set()
    seen_ports: dict[int, str] = {}
    for app in apps:
        if app.app_id in seen_ids:
            raise RunFileError(f"appID {app.app_id!r} appears more than once")
        seen_ids.add(app.app_id)
        for key, port in zip(_PORT_KEYS, (app.app_port, app.http_port, app.grpc_port),
                             strict=True):
            if port is None:
                continue
            if port in seen_ports:
                raise RunFileError(f"port {port} is used twice: {seen_ports[port]} and "
                                   f"{app.app_id} {key}")
            seen_ports[port] = f"{app.app_id} {key}"


def parse_run_file(document: Any, path: Path) -> RunFile:
    """Check a loaded YAML ``document`` read from ``path``; relative paths resolve from there."""
    base = path.resolve().parent
    if not isinstance(document, Mapping):
        raise RunFileError("the run file must be a mapping with version and apps")
    if document.get("version") != 1:
        raise RunFileError(f"version must be 1, got {document.get('version')!r}")
    unknown = sorted(str(key) for key in document if key not in ("version", "common", "apps"))
    if unknown:
        raise RunFileError(f"unknown top-level key(s) {', '.join(unknown)} "
                           "(expected version, common, apps)")
    common = document.get("common") or {}
    if not isinstance(common, Mapping):
        raise RunFileError("common must be a mapping of properties shared by every app")
    _check_keys("common", common)
    common = {**common, **_resolved_paths(common, base, "common")}
    raw_apps = document.get("apps")
    if not isinstance(raw_apps, list) or not raw_apps:
        raise RunFileError("apps must be a non-empty list")
    apps = [_build_app(index, raw, common, base) for index, raw in enumerate(raw_apps)]
    _check_unique(apps)
    return RunFile(path=path.resolve(), apps=tuple(apps))


def load_run_file(path: str | Path) -> RunFile:
    """Read and check the run file at ``path``; ``RunFileError`` messages start with the path."""
    path = Path(path)
    if path.is_dir():
        path = path / "dapr.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RunFileError(f"{path}: cannot read the run file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise RunFileError(f"{path}: not valid YAML: {err}") from err
    try:
        return parse_run_file(document, path)
    except RunFileError as err:
        raise RunFileError(f"{path}: {err}") from None

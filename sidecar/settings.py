"""Every default of the runtime, in one place, and the ``Settings`` one process runs with.

``_cli.py`` builds a ``Settings`` from daprd's flags, each with an environment fallback
(precedence: flag, then environment variable, then the default below). Nothing else in the
runtime reads ``os.environ`` for its configuration.

    flag                      environment variable        default
    --app-id                  APP_ID                      "" (required in practice)
    --app-port                APP_PORT                    none (no app channel)
    --app-protocol            APP_PROTOCOL                http (also https, grpc)
    --dapr-http-port          DAPR_HTTP_PORT              3500
    --dapr-grpc-port          DAPR_GRPC_PORT              50001
    --resources-path          DAPR_RESOURCES_PATH         ./components (os.pathsep-separated)
    --config (repeatable)     DAPR_CONFIG                 none (os.pathsep-separated)
    --log-level               DAPR_LOG_LEVEL              info
    --dapr-listen-addresses   DAPR_LISTEN_ADDRESSES       127.0.0.1
    --registry-dir            DAPR_LOCAL_REGISTRY_DIR     $XDG_RUNTIME_DIR/dapr-local or
                                                          /tmp/dapr-local-<uid>
    (environment only)        DAPR_API_TOKEN              none: the APIs take any caller
    (environment only)        APP_API_TOKEN               none: the app gets no token
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "APP_CHANNEL_TIMEOUT",
    "APP_PROTOCOLS",
    "COMPONENT_INIT_TIMEOUT",
    "CONNECT_TIMEOUT",
    "DEFAULT_APP_PROTOCOL",
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_LISTEN_ADDRESS",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_RESOURCES_PATH",
    "INPUT_BINDING_PROBE_ATTEMPTS",
    "INPUT_BINDING_PROBE_INTERVAL",
    "LOG_LEVELS",
    "MAX_BODY_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_STREAMING_SUBSCRIPTIONS",
    "MESSAGE_HEADROOM_BYTES",
    "REDIS_SOCKET_TIMEOUT",
    "RUNTIME_VERSION",
    "SHUTDOWN_GRACE",
    "Settings",
    "default_registry_dir",
]

DEFAULT_HTTP_PORT = 3500
DEFAULT_GRPC_PORT = 50001
DEFAULT_APP_PROTOCOL = "http"
#: What ``--app-protocol`` takes (see docs/sidecar.md, "App protocols"); daprd's grpcs and h2c
#: are not served.
APP_PROTOCOLS = ("grpc", "http", "https")
DEFAULT_LOG_LEVEL = "info"
#: daprd's log level names and the Python levels they map to.
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "error": logging.ERROR, "fatal": logging.CRITICAL}
DEFAULT_LISTEN_ADDRESS = "127.0.0.1"
#: daprd's default when no --resources-path is given (relative to the working directory).
DEFAULT_RESOURCES_PATH = "./components"
#: Reported as ``runtimeVersion`` by the metadata API.
RUNTIME_VERSION = "1.15.0-local"
#: daprd's default --max-body-size (4 MiB) for HTTP request bodies.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Room for a gRPC message around a body (field tags, metadata, Any wrapper) at the limit.
MESSAGE_HEADROOM_BYTES = 64 * 1024
#: daprd's ``--max-body-size`` limits gRPC messages both ways, as it does HTTP bodies.
MAX_MESSAGE_BYTES = MAX_BODY_BYTES + MESSAGE_HEADROOM_BYTES
#: Streaming subscriptions (SubscribeTopicEventsAlpha1) open at once; each holds a gRPC worker,
#: so the gRPC pool gets this many workers on top of its own (docs/pubsub.md).
MAX_STREAMING_SUBSCRIPTIONS = 32
#: daprd's default ``spec.initTimeout`` for a component's init, in seconds.
COMPONENT_INIT_TIMEOUT = 5.0
#: Seconds to wait for a TCP connection to the app or to another runtime.
CONNECT_TIMEOUT = 5.0
#: Seconds an app (or a remote runtime) may take to answer one invocation.
APP_CHANNEL_TIMEOUT = 60.0
#: Seconds a Redis command may block before the store reports an error (never hang).
REDIS_SOCKET_TIMEOUT = 5.0
#: How often, and how far apart in seconds, input bindings ask the app whether it subscribes.
INPUT_BINDING_PROBE_ATTEMPTS = 20
INPUT_BINDING_PROBE_INTERVAL = 0.5
#: Seconds the servers get to finish in-flight requests at shutdown.
SHUTDOWN_GRACE = 5.0


def default_registry_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/dapr-local``, else ``/tmp/dapr-local-<uid>``."""
    environ = os.environ if environ is None else environ
    runtime_dir = environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return Path(runtime_dir) / "dapr-local"
    return Path(tempfile.gettempdir()) / f"dapr-local-{os.getuid()}"


@dataclass(frozen=True)
class Settings:
    """What one runtime process runs with; built by ``_cli.parse_settings``."""

    app_id: str = ""
    app_port: int | None = None
    app_protocol: str = DEFAULT_APP_PROTOCOL
    http_port: int = DEFAULT_HTTP_PORT
    grpc_port: int = DEFAULT_GRPC_PORT
    resources_paths: tuple[Path, ...] = (Path(DEFAULT_RESOURCES_PATH),)
    #: ``--config`` files, in order (``sidecar/configuration.py`` reads them).
    configs: tuple[Path, ...] = ()
    log_level: str = DEFAULT_LOG_LEVEL
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    registry_dir: Path | None = None
    #: ``DAPR_API_TOKEN``: callers of the APIs must send it as ``dapr-api-token``.
    api_token: str = field(default="", repr=False)
    #: ``APP_API_TOKEN``: sent to the app as ``dapr-api-token`` on every call.
    app_api_token: str = field(default="", repr=False)

    @property
    def config(self) -> Path | None:
        """The first ``--config`` file, if any."""
        return self.configs[0] if self.configs else None

    @property
    def app_host(self) -> str:
        """Where the app listens: daprd's app channel always uses the loopback address."""
        return "127.0.0.1"

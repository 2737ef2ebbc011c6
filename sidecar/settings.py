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

daprd's other flags, as daprd takes them (no environment variable):

    --max-body-size 4Mi (or --dapr-http-max-request-size 4, in MB), --app-channel-address
    127.0.0.1, --app-max-concurrency -1 (no limit), --dapr-graceful-shutdown-seconds 5,
    --log-as-json, --enable-api-logging, --app-ssl, --version, --wait; the rest of daprd's
    flags are taken and ignored, with one warning naming those given a value that asks for
    something (``_cli.py``).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

__all__ = [
    "APP_CHANNEL_TIMEOUT",
    "APP_PROTOCOLS",
    "COMPONENT_INIT_TIMEOUT",
    "CONNECT_TIMEOUT",
    "DEFAULT_APP_HOST",
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
    "UNLIMITED",
    "Settings",
    "default_registry_dir",
    "parse_byte_size",
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
#: daprd's default --app-channel-address: where the app listens.
DEFAULT_APP_HOST = "127.0.0.1"
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
#: daprd's --app-max-concurrency default: no limit on calls to the app at once.
UNLIMITED = -1


# A Kubernetes resource quantity, as --max-body-size takes it: 4Mi, 16M, 4194304, 4e6.
_QUANTITY = re.compile(
    r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([kMGTPE])|[eE]([+-]?\d+))?")
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL_SUFFIXES = ("k", "M", "G", "T", "P", "E")


def parse_byte_size(text: str) -> int | None:
    """A Kubernetes quantity of bytes (``16Mi``, ``4M``, ``4194304``), as daprd parses
    ``--max-body-size``; None for a negative one, which ``dapr run`` passes for "not set".
    ValueError names what is wrong."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (bytes, or a quantity such as 4Mi or 16M)")
    if match[1] == "-":
        return None
    number = Decimal(match[2])
    if match[3]:
        number *= 1024 ** (_BINARY_SUFFIXES.index(match[3]) + 1)
    elif match[4]:
        number *= 1000 ** (_DECIMAL_SUFFIXES.index(match[4]) + 1)
    elif match[5]:
        number *= Decimal(10) ** int(match[5])
    if number <= 0 or number != number.to_integral_value():
        raise ValueError(f"not a whole number of bytes above 0: {text!r}")
    return int(number)


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
    #: ``--max-body-size``: the largest request body the APIs take, in bytes.
    max_body_bytes: int = MAX_BODY_BYTES
    #: ``--app-channel-address``: where the app listens.
    app_host: str = DEFAULT_APP_HOST
    #: ``--app-max-concurrency``: calls to the app at once; ``UNLIMITED`` (-1) for no limit.
    app_max_concurrency: int = UNLIMITED
    #: ``--dapr-graceful-shutdown-seconds``: how long in-flight API calls get at shutdown.
    shutdown_grace: float = SHUTDOWN_GRACE
    #: ``--log-as-json``: one JSON object per log line (as ``LOG_FORMAT=json``).
    log_as_json: bool = False
    #: ``--enable-api-logging``; None when not given (the ``--config`` files decide).
    api_logging: bool | None = None
    #: ``--wait``: only wait until the runtime on ``http_port`` is outbound ready, then exit.
    wait: bool = False
    #: daprd flags that were given but ask for what this runtime lacks, each with why; one
    #: warning names them once logging is set up.
    ignored_flags: tuple[str, ...] = ()

    @property
    def config(self) -> Path | None:
        """The first ``--config`` file, if any."""
        return self.configs[0] if self.configs else None

    @property
    def max_message_bytes(self) -> int:
        """The largest gRPC message, either way: a body at the limit and its envelope."""
        return self.max_body_bytes + MESSAGE_HEADROOM_BYTES

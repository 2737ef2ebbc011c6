"""``python -m sidecar``: parse daprd's flags, load components, serve HTTP and gRPC until
SIGTERM/SIGINT, then shut down in order (servers, input bindings, registry entry, components).

Start-up failures (a bad component file, a port in use) print one line on stderr and exit 1.
``--wait`` only waits for the runtime on ``--dapr-http-port`` to be outbound ready, as daprd's.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType
from typing import Any

from ._cli import parse_settings
from .components.loader import load_components
from .configuration import ConfigurationError, load_configuration
from .errors import ComponentConfigError
from .logfmt import configure, load_options
from .runtime import Runtime
from .settings import LOG_LEVELS, Settings

__all__ = ["main", "run", "wait_until_outbound_ready"]

_log = logging.getLogger("sidecar")


def _configure_logging(settings: Settings) -> None:
    # One line per record, repeated faults summarised, LOG_FORMAT=json (sidecar/logfmt.py).
    try:
        options = load_options()
    except ValueError as err:  # a bad value exits as a bad flag does (argparse: 2)
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.log_as_json:
        options = replace(options, format="json")
    configure(LOG_LEVELS[settings.log_level],
              f"time=%(asctime)s level=%(levelname)s app_id={settings.app_id} "
              "scope=%(name)s msg=%(message)s", options,
              static={"app_id": settings.app_id}, stream=sys.stderr)
    # werkzeug and httpx log every request at INFO; daprd does not.
    for noisy in ("werkzeug", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, LOG_LEVELS[settings.log_level]))
    if settings.ignored_flags:
        _log.warning("daprd flags taken and ignored: %s", "; ".join(settings.ignored_flags))


def _start_grpc(runtime: Runtime, settings: Settings) -> Any:
    try:
        from .grpc_api import serve as serve_grpc
    except ImportError as err:
        _log.warning("gRPC API not available (%s); serving HTTP only", err)
        return None
    return serve_grpc(runtime, settings.listen_address, settings.grpc_port)


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (by a signal when run from ``main``); returns the exit code."""
    from .http_api import serve as serve_http

    stop = stop or threading.Event()
    try:
        # daprd reads --config before anything else; a bad file stops it.
        configuration = load_configuration(settings.configs)
    except ConfigurationError as err:
        print(f"error loading configuration: {err}", file=sys.stderr)
        return 1
    try:
        components = load_components(settings.resources_paths, settings.app_id)
    except ComponentConfigError as err:
        print(f"error loading components: {err.message}", file=sys.stderr)
        return 1
    try:
        runtime = Runtime(settings, components, configuration=configuration)
    except ComponentConfigError as err:  # a bad Subscription resource
        components.close()
        print(f"error loading resources: {err.message}", file=sys.stderr)
        return 1
    servers: list[Any] = []
    try:
        http = serve_http(runtime, settings.listen_address, settings.http_port)
        servers.append(http)
        runtime.settings = replace(settings, http_port=http.port)
        grpc_server = _start_grpc(runtime, settings)
        if grpc_server is not None:
            servers.append(grpc_server)
    except OSError as err:
        print(f"error starting the Dapr API servers: {err}", file=sys.stderr)
        for server in servers:
            server.stop(0)
        runtime.stop()
        return 1
    runtime.start()
    _log.info("dapr initialized. Status: Running. HTTP %s:%d, gRPC %s:%d, app port %s",
              settings.listen_address, runtime.settings.http_port, settings.listen_address,
              settings.grpc_port, settings.app_port)
    stop.wait()
    _log.info("shutting down")
    for server in servers:
        server.stop(settings.shutdown_grace)
    runtime.stop()
    _log.info("stopped")
    return 0


def wait_until_outbound_ready(http_port: int, timeout: float = 60.0) -> int:
    """daprd ``--wait``: poll ``/v1.0/healthz/outbound`` every 0.1 s for up to ``timeout``
    seconds, printing as daprd prints; the exit code is 0 either way, as daprd's."""
    url = f"http://localhost:{http_port}/v1.0/healthz/outbound"
    print(f"Waiting for Dapr to be outbound ready (timeout: {timeout:g} seconds): url={url}",
          file=sys.stderr)
    deadline = time.monotonic() + timeout
    next_report = time.monotonic()
    error = "not tried"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as reply:
                if reply.status == 204:
                    print("Dapr is outbound ready!", file=sys.stderr)
                    return 0
                error = f"HTTP status code {reply.status}"
        except OSError as err:  # refused, timed out, or an error status (HTTPError)
            error = str(err)
        if time.monotonic() >= next_report:  # one line a second, not ten
            next_report = time.monotonic() + 1
            print(f"Dapr outbound NOT ready yet: {error}", file=sys.stderr)
        time.sleep(0.1)
    print(f"timeout waiting for Dapr to become outbound ready. Last error: {error}",
          file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    if settings.wait:
        return wait_until_outbound_ready(settings.http_port)
    _configure_logging(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return run(settings, stop)


if __name__ == "__main__":
    sys.exit(main())

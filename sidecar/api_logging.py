"""API logging: one info line per call of the Dapr HTTP or gRPC API, as daprd writes it.

On with daprd's ``--enable-api-logging`` or a ``--config`` file's ``spec.logging.apiLogging``
(the flag wins either way, as in daprd):

    spec:
      logging:
        apiLogging:
          enabled: true
          obfuscateURLs: false     # log the endpoint's name (GetState) instead of its path
          omitHealthChecks: false  # leave /v1.0/healthz calls out

HTTP calls are logged by ``dapr.runtime.http-info`` as ``HTTP API Called`` with ``method``
(``GET /v1.0/state/statestore/k``), ``useragent``, ``code``, ``size`` (bytes of the answer) and
``duration`` (ms), gRPC calls of the Dapr service by ``dapr.runtime.grpc-info`` as ``gRPC API
Called`` with ``method`` (``/dapr.proto.runtime.v1.Dapr/GetState``), ``useragent``, ``code`` (the
status number) and ``duration``: daprd's fields (``pkg/api/http/server.go`` ``useAPILogging``,
``pkg/api/grpc/server.go`` ``printAPILog``). The fields are on the text line and, with JSON
logs, fields of the object. Like every info line they show at ``--log-level`` info or debug.
One difference: a streaming subscription (``SubscribeTopicEventsAlpha1``) is logged when it
opens, where daprd logs it when it ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .logfmt import FIELDS, TEXT_FIELDS

__all__ = ["ApiLogging", "api_logging", "log_grpc_call", "log_http_call"]

_http_log = logging.getLogger("dapr.runtime.http-info")
_grpc_log = logging.getLogger("dapr.runtime.grpc-info")


@dataclass(frozen=True)
class ApiLogging:
    """``spec.logging.apiLogging`` of the ``--config`` files."""

    enabled: bool = False
    obfuscate_urls: bool = False
    omit_health_checks: bool = False


def api_logging(flag: bool | None, configured: ApiLogging) -> ApiLogging | None:
    """What to log with, or None when off: ``--enable-api-logging`` (``flag``, None when not
    given) wins over the configuration's ``enabled``, as in daprd."""
    enabled = configured.enabled if flag is None else flag
    return configured if enabled else None


def log_http_call(method: str, useragent: str, code: int, size: int,
                  duration_ms: float) -> None:
    """Write the line of one HTTP API call (``method``: verb and path, or endpoint name)."""
    fields: dict[str, Any] = {"method": method}
    if useragent:
        fields["useragent"] = useragent
    fields.update(code=code, size=size, duration=int(duration_ms))
    _http_log.info("HTTP API Called", extra={FIELDS: fields, TEXT_FIELDS: True})


def log_grpc_call(method: str, useragent: str, code: int, duration_ms: float) -> None:
    """Write the line of one gRPC API call (``method``: the full method name)."""
    fields: dict[str, Any] = {"method": method}
    if useragent:
        fields["useragent"] = useragent
    fields.update(code=code, duration=int(duration_ms))
    _grpc_log.info("gRPC API Called", extra={FIELDS: fields, TEXT_FIELDS: True})

"""W3C trace context, created and propagated as daprd does (``pkg/diagnostics``).

daprd starts a span for every API call except health checks (``HTTPTraceMiddleware``,
``GRPCTraceUnaryServerInterceptor``), as a child of the caller's ``traceparent`` (HTTP header or
gRPC metadata; ``grpc-trace-bin`` too) or as a new trace. Tracing is on unless
``spec.tracing.samplingRate`` parses to 0; a rate that does not parse is daprd's default 1e-4.
A span with a parent keeps the parent's sampled flag; a root span is sampled with probability
``samplingRate`` (by trace id, as OpenTelemetry's ratio sampler).

Front ends call ``Tracer.span(name, traceparent, tracestate)`` around a request; the span is the
*current* one (a context variable) for as long as the request runs, so the building blocks
read it with ``current()`` and hand it on: to the app (``traceparent``/``tracestate``
headers), to another runtime (gRPC metadata), into a CloudEvent (``traceid``/``traceparent``/
``tracestate``) and into output-binding metadata. The HTTP API answers with the span's
``traceparent`` when the reply has none; the gRPC API sends ``grpc-trace-bin`` with every reply
but ``InvokeService``'s.

With ``spec.tracing.stdout: true`` every sampled span is written to stdout when it ends, one
JSON object a line (daprd's stdout exporter prints OpenTelemetry's format instead).
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_SAMPLING_RATE",
    "GRPC_TRACE_BIN",
    "TRACEPARENT",
    "TRACESTATE",
    "Span",
    "SpanContext",
    "Tracer",
    "child",
    "context_headers",
    "current",
    "from_grpc_trace_bin",
    "incoming",
    "outgoing_headers",
    "parse_traceparent",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
GRPC_TRACE_BIN = "grpc-trace-bin"
#: daprd's rate when ``samplingRate`` is empty or does not parse (``GetTraceSamplingRate``).
DEFAULT_SAMPLING_RATE = 1e-4
_MAX_TRACESTATE = 512
_SAMPLED = 0x01
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_current: ContextVar[Span | None] = ContextVar("dapr_span", default=None)


@dataclass(frozen=True)
class SpanContext:
    """What travels between processes: trace id, span id, flags, tracestate."""

    trace_id: str
    span_id: str
    sampled: bool
    tracestate: str = ""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{_SAMPLED if self.sampled else 0:02x}"

    def grpc_trace_bin(self) -> bytes:
        """OpenCensus' binary format (``propagation.Binary``), daprd's ``grpc-trace-bin``."""
        return (b"\x00\x00" + bytes.fromhex(self.trace_id) + b"\x01"
                + bytes.fromhex(self.span_id) + b"\x02" + bytes([int(self.sampled)]))


def parse_traceparent(text: str | None, tracestate: str | None = None) -> SpanContext | None:
    """A W3C ``traceparent`` (and its ``tracestate``), or None when it is not valid."""
    match = _TRACEPARENT.fullmatch((text or "").strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} \
            or set(span_id) == {"0"}:
        return None
    state = (tracestate or "").strip()
    return SpanContext(trace_id, span_id, bool(int(flags, 16) & _SAMPLED),
                       state if len(state) <= _MAX_TRACESTATE else "")


def from_grpc_trace_bin(data: bytes) -> SpanContext | None:
    """The span context in a ``grpc-trace-bin`` value, or None."""
    if len(data) < 29 or data[0] != 0 or data[1] != 0 or data[18] != 1 or data[27] != 2:
        return None
    trace_id, span_id = data[2:18].hex(), data[19:27].hex()
    if set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return SpanContext(trace_id, span_id, bool(data[28] & _SAMPLED))


@dataclass
class Span:
    """One span of this runtime; ``context`` is what is propagated."""

    name: str
    context: SpanContext
    parent_id: str
    kind: str
    start: float = field(default_factory=time.time)
    status: str = "OK"


def current() -> SpanContext | None:
    """The span context of the request being served on this thread, if any."""
    span = _current.get()
    return None if span is None else span.context


class Tracer:
    """Creates spans with ``spec.tracing``'s sampling rate; writes them out if ``stdout``."""

    def __init__(self, sampling_rate: str = "", stdout: bool = False, app_id: str = "") -> None:
        try:
            self.rate = float(sampling_rate)
        except ValueError:
            self.rate = DEFAULT_SAMPLING_RATE
        self.stdout = stdout
        self.app_id = app_id
        self._random = random.SystemRandom()

    @property
    def enabled(self) -> bool:
        """daprd's ``IsTracingEnabled``: off only when the rate is explicitly 0."""
        return self.rate != 0

    def _sampled(self, trace_id: str) -> bool:
        # OpenTelemetry's TraceIDRatioBased: the low 63 bits of the trace id under the bound.
        return int(trace_id[16:], 16) >> 1 < int(min(max(self.rate, 0.0), 1.0) * (1 << 63))

    def start(self, name: str, parent: SpanContext | None, kind: str = "server") -> Span:
        span_id = f"{self._random.getrandbits(64) or 1:016x}"
        if parent is None:
            trace_id = f"{self._random.getrandbits(128) or 1:032x}"
            context = SpanContext(trace_id, span_id, self._sampled(trace_id))
            return Span(name, context, "", kind)
        context = SpanContext(parent.trace_id, span_id, parent.sampled, parent.tracestate)
        return Span(name, context, parent.span_id, kind)

    @contextmanager
    def span(self, name: str, parent: SpanContext | None,
             kind: str = "server") -> Iterator[Span | None]:
        """Make a new span the current one while the block runs (None when tracing is off)."""
        if not self.enabled:
            yield None
            return
        span = self.start(name, parent, kind)
        token = _current.set(span)
        try:
            yield span
        finally:
            _current.reset(token)
            self.end(span)

    def end(self, span: Span) -> None:
        if not (self.stdout and span.context.sampled):
            return
        line = json.dumps({
            "name": span.name, "kind": span.kind, "appId": self.app_id,
            "traceId": span.context.trace_id, "spanId": span.context.span_id,
            "parentSpanId": span.parent_id, "start": span.start, "end": time.time(),
            "status": span.status}, separators=(",", ":"))
        print(line, file=sys.stdout, flush=True)


def child(parent: SpanContext) -> SpanContext:
    """A new span id under ``parent`` (same trace, flags and tracestate)."""
    return SpanContext(parent.trace_id, f"{random.getrandbits(64) or 1:016x}", parent.sampled,
                       parent.tracestate)


def context_headers(context: SpanContext | None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate`` when there is one) for ``context``; {} for None."""
    if context is None:
        return {}
    headers = {TRACEPARENT: context.traceparent}
    if context.tracestate:
        headers[TRACESTATE] = context.tracestate
    return headers


def outgoing_headers() -> dict[str, str]:
    """The current span's headers, for a call the runtime makes on the request's behalf."""
    return context_headers(current())


def incoming(metadata: Iterable[tuple[str, str | bytes]]) -> SpanContext | None:
    """The caller's span context in HTTP headers or gRPC metadata (``grpc-trace-bin`` first)."""
    values = {key.lower(): value for key, value in metadata}
    binary = values.get(GRPC_TRACE_BIN)
    if isinstance(binary, bytes):
        found = from_grpc_trace_bin(binary)
        if found is not None:
            return found
    parent = values.get(TRACEPARENT)
    state = values.get(TRACESTATE)
    return parse_traceparent(parent if isinstance(parent, str) else None,
                             state if isinstance(state, str) else None)

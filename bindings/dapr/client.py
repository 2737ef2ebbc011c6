"""The process-wide Dapr client, created lazily and never waited on for long.

It is the SDK's gRPC client class (``DaprGrpcClient``), so service invocation too goes over the
one gRPC channel (``InvokeService`` with an HTTP extension, which daprd and our runtime both
serve for HTTP apps). Why not ``DaprClient``: by default it sends ``invoke_method`` over HTTP,
opening a new aiohttp session and TCP connection per call, and its switch
(``DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc``) is an environment variable that every launcher,
manifest and test would have to set; forgetting it in one place would silently bring the
per-call cost back. The protocol is a property of this code, so the code chooses it.

Why in a background thread, per worker: ``functions-framework`` imports the function module in
the gunicorn master *before* forking workers, and gRPC channels and threads do not survive a
fork. So each worker starts creating its client as it starts (``connect()``, gunicorn's
``post_worker_init``, see ``bindings.http.serving``), and its first request usually finds it
ready. Creating the client blocks until the sidecar's health endpoint answers (up to
``DAPR_HEALTH_TIMEOUT``, 60 s by default). A request must never wait that long, so callers wait
at most their budget, measured from the first request that found no client, and get
``SidecarUnavailable`` otherwise; creation goes on in the background and later requests find
the client ready.

Why a health wait of our own before the SDK's: the SDK probes once a second and prints every
failed probe to stdout. A worker that starts a few milliseconds before its runtime would then
answer 503 for up to a second after the runtime is up. ``_wait_for_sidecar`` probes the same
endpoint every 10-200 ms and logs once, so by the time the SDK checks, its first probe passes.

``deadline(seconds)`` bounds every gRPC call made inside it (the SDK's state and binding
methods take no timeout argument), through a channel interceptor reading a context variable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
import warnings
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import grpc

from .. import settings
from ._sdk import DaprGrpcClient

__all__ = ["SidecarUnavailable", "component_names", "connect", "deadline", "get_client",
           "has_component", "reset"]

_log = logging.getLogger(__name__)

#: Absolute ``time.monotonic()`` by which gRPC calls in this context must finish, or None.
_deadline: ContextVar[float | None] = ContextVar("dapr_call_deadline", default=None)
#: How long a failed component lookup is remembered before asking the sidecar again.
_METADATA_RETRY_SECONDS = 5.0
#: Health probes: the first gap, the longest, and after how long a wait is logged.
_PROBE_FIRST_GAP, _PROBE_MAX_GAP, _PROBE_LOG_AFTER = 0.01, 0.2, 5.0

# The SDK deprecates gRPC invoke_method in favour of gRPC proxying, which only reaches gRPC apps;
# ours are HTTP apps, for which InvokeService with an HTTP extension is the gRPC path.
warnings.filterwarnings("ignore", message="invoke_method with protocol gRPC is deprecated",
                        category=DeprecationWarning)


class SidecarUnavailable(RuntimeError):
    """The Dapr sidecar did not answer within the caller's budget."""


class _CallDetails(namedtuple("_CallDetails", ["method", "timeout", "metadata", "credentials",
                                               "wait_for_ready", "compression"]),
                   grpc.ClientCallDetails):
    pass


class _DeadlineInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Gives each unary call the time left until the context's deadline, if one is set."""

    def intercept_unary_unary(self, continuation: Callable[..., Any],
                              client_call_details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        end = _deadline.get()
        if end is None:
            return continuation(client_call_details, request)
        remaining = max(end - time.monotonic(), 0.001)
        if client_call_details.timeout is not None:
            remaining = min(remaining, client_call_details.timeout)
        details = _CallDetails(
            client_call_details.method, remaining, client_call_details.metadata,
            client_call_details.credentials, getattr(client_call_details, "wait_for_ready", None),
            getattr(client_call_details, "compression", None))
        return continuation(details, request)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every gRPC call to the sidecar inside the block ends within ``seconds`` from now."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(end, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


class _Holder:
    """One client per process and the state of its creation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client: DaprGrpcClient | None = None
        self.started: float | None = None
        #: When the first request found no client: callers' budgets run from there, not from
        #: worker start, or a request just after a late runtime came up would find its budget
        #: spent by the worker's head start.
        self.first_wait: float | None = None
        self.components: frozenset[str] | None = None
        self.components_checked = 0.0

    def create(self) -> None:
        try:
            _wait_for_sidecar()
            client = DaprGrpcClient(interceptors=[_DeadlineInterceptor()])
        # The SDK raises TimeoutError, DaprInternalError, grpc errors; whatever it raises, the
        # next request must be able to try again, so nothing may escape this thread.
        except Exception as err:  # noqa: BLE001
            _log.warning("Dapr sidecar not reachable, will retry on the next request: %s", err)
            with self.lock:
                self.started = self.first_wait = None
            return
        with self.lock:
            self.client = client
        self.ready.set()


_holder = _Holder()


def get_client(wait: float | None = None) -> DaprGrpcClient:
    """The shared client; SidecarUnavailable if it is not ready ``wait`` s (default
    SIDECAR_WAIT_SECONDS) after the first request that found it missing."""
    wait = settings.get().sidecar_wait_seconds if wait is None else wait
    holder = _holder
    with holder.lock:
        if holder.client is not None:
            return holder.client
        _start_creating(holder)
        if holder.first_wait is None:
            holder.first_wait = time.monotonic()
        remaining = holder.first_wait + wait - time.monotonic()
    if holder.ready.wait(max(remaining, 0.0)) and holder.client is not None:
        return holder.client
    raise SidecarUnavailable("the Dapr sidecar is not answering yet")


def connect() -> None:
    """Start creating the client in the background, without waiting for it, then list the
    sidecar's components (a serving worker calls this as it starts, so its first request waits
    neither for the health check nor for the channel's connection, and its first event knows
    whether the events pub/sub exists)."""
    holder = _holder
    with holder.lock:
        if holder.client is not None:
            return
        _start_creating(holder)
    threading.Thread(target=_list_components_when_ready, args=(holder,), name="dapr-connect",
                     daemon=True).start()


def _list_components_when_ready(holder: _Holder) -> None:
    if holder.ready.wait(_sdk_health_timeout()) and holder is _holder:
        component_names()


def _sdk_health_timeout() -> float:
    from dapr.conf import settings as sdk_settings

    return float(sdk_settings.DAPR_HEALTH_TIMEOUT)


def _start_creating(holder: _Holder) -> None:
    """Start creating ``holder``'s client unless that is under way (lock held)."""
    if holder.started is None:
        holder.started = time.monotonic()
        threading.Thread(target=holder.create, name="dapr-client", daemon=True).start()


def _wait_for_sidecar() -> None:
    """Return once the sidecar's outbound health endpoint answers 2xx, probing the URL, token
    and DAPR_HEALTH_TIMEOUT the SDK's own check uses; TimeoutError when that budget runs out."""
    from dapr.clients.http.conf import DAPR_API_TOKEN_HEADER
    from dapr.clients.http.helpers import get_api_url
    from dapr.conf import settings as sdk_settings

    url = f"{get_api_url()}/healthz/outbound"
    headers = {} if sdk_settings.DAPR_API_TOKEN is None else {
        DAPR_API_TOKEN_HEADER: sdk_settings.DAPR_API_TOKEN}
    start = time.monotonic()
    end = start + _sdk_health_timeout()
    gap, logged, failure = _PROBE_FIRST_GAP, False, "no answer"
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=max(min(end - time.monotonic(), 1.0), 0.05)):
                return  # urlopen raises HTTPError for any status it does not treat as success
        except OSError as err:  # URLError and HTTPError are OSErrors; so are timeouts
            failure = str(getattr(err, "reason", None) or err)
        now = time.monotonic()
        if now >= end:
            raise TimeoutError(f"the Dapr sidecar at {url} was not healthy after "
                               f"{now - start:.0f} s: {failure}")
        if not logged and now - start >= _PROBE_LOG_AFTER:
            logged = True
            _log.warning("waiting for the Dapr sidecar at %s (%s)", url, failure)
        time.sleep(min(gap, end - now))
        gap = min(gap * 2, _PROBE_MAX_GAP)



def component_names() -> frozenset[str] | None:
    """The names of the sidecar's components, asked once and then cached; None while they are
    not known (the last lookup failed less than a while ago: a sidecar that starts late is
    noticed without asking on every request)."""
    holder = _holder
    now = time.monotonic()
    if holder.components is not None:
        return holder.components
    if now - holder.components_checked < _METADATA_RETRY_SECONDS:
        return None
    holder.components_checked = now
    try:
        with deadline(settings.get().state_timeout_seconds):
            metadata = get_client().get_metadata()
    # Any failure means "not known yet": the caller decides what that means for it.
    except Exception as err:  # noqa: BLE001
        _log.warning("could not list the sidecar's components: %s", err)
        return None
    holder.components = frozenset(c.name for c in metadata.registered_components)
    return holder.components


def has_component(name: str) -> bool:
    """Whether the sidecar has a component called ``name``; not known yet counts as no."""
    names = component_names()
    return names is not None and name in names


def reset() -> None:
    """Forget the client and the component list (after a fork, and between tests)."""
    global _holder
    _holder = _Holder()


os.register_at_fork(after_in_child=reset)

"""Resiliency policies (sidecar/resiliency/): the engine as pure units on a fake clock, the
runtime's state and input-binding paths in process, and service invocation end to end through
a real runtime and a real app that fails on purpose (``FlakyApp``)."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sidecar.components.bindings.base import Deliver, InputBinding
from sidecar.components.registry import Registry
from sidecar.components.state.base import GetResponse
from sidecar.components.state.in_memory import InMemoryStateStore
from sidecar.errors import StateGetError
from sidecar.input_bindings import InputBindingDelivery
from sidecar.invoke.app_channel import HTTPAppChannel
from sidecar.resiliency import (
    BINDING,
    STATESTORE,
    CircuitBreakerOpen,
    Policy,
    PolicyTimeout,
    Resiliency,
    load_resiliency,
)
from sidecar.resiliency.backoff import EXPONENTIAL, RetrySpec
from sidecar.resiliency.breaker import CLOSED, HALF_OPEN, OPEN, BreakerSpec, CircuitBreaker
from sidecar.resiliency.config import BUILT_IN_SERVICE_RETRIES
from sidecar.resiliency.trip import TripSyntaxError, parse_trip
from sidecar.runtime import Runtime
from sidecar.settings import Settings
from sidecar.testing import Sidecar, run_sidecar

from .helpers import unique_id

# -- a fake clock and a real app that fails on purpose -------------------------------------------

class FakeClock:
    """Time that moves only when the engine sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FlakyApp:
    """Per path: fail the first ``fail_first[path]`` requests with ``status``, or sleep."""

    port: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)
    status: int = 500
    delay: dict[str, float] = field(default_factory=dict)
    #: (path, arrival time) of every request.
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    #: path -> GET/POST requests served so far (OPTIONS probes do not count).
    served: dict[str, int] = field(default_factory=dict)

    def times(self, path: str) -> list[float]:
        return [at for p, at in self.arrivals if p == path]

    def gaps(self, path: str) -> list[float]:
        times = self.times(path)
        return [b - a for a, b in itertools.pairwise(times)]


def _flaky_handler(app: FlakyApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            app.arrivals.append((path, time.monotonic()))
            time.sleep(app.delay.get(path, 0.0))
            status = 200
            if self.command in ("POST", "GET"):
                app.served[path] = seen = app.served.get(path, 0) + 1
                status = app.status if seen <= app.fail_first.get(path, 0) else 200
            body = json.dumps({"path": path, "status": status}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_OPTIONS = _handle

    return Handler


@contextmanager
def run_flaky_app() -> Iterator[FlakyApp]:
    app = FlakyApp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _flaky_handler(app))
    server.daemon_threads = True
    app.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()


def _resiliency_doc(policies: Mapping[str, Any], targets: Mapping[str, Any], *,
                    name: str = "resiliency", scopes: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency",
                           "metadata": {"name": name},
                           "spec": {"policies": dict(policies), "targets": dict(targets)}}
    if scopes is not None:
        doc["scopes"] = list(scopes)
    return doc


def _write(folder: Path, *docs: dict[str, Any], filename: str = "resiliency.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return folder


def _resiliency(tmp_path: Path, *docs: dict[str, Any], app_id: str = "me",
                clock: FakeClock | None = None) -> Resiliency:
    spec = load_resiliency([_write(tmp_path / "res", *docs)], app_id)
    return Resiliency(spec, clock=clock or FakeClock(), rand=lambda: 0.5)


# -- trip expressions --------------------------------------------------------------------------

_COUNTS = {"requests": 10, "totalSuccesses": 4, "totalFailures": 6,
           "consecutiveSuccesses": 0, "consecutiveFailures": 6}


@pytest.mark.parametrize(("text", "expected"), [
    ("consecutiveFailures > 5", True),
    ("consecutiveFailures >= 7", False),
    ("requests > 5", True),
    ("totalFailures >3", True),
    ("requests > 5 && totalFailures >= 7", False),
    ("requests > 50 || consecutiveFailures == 6", True),
    ("!(totalSuccesses < 4) && (consecutiveSuccesses != 1)", True),
])
def test_trip_forms_from_the_docs_evaluate(text: str, expected: bool) -> None:
    assert parse_trip(text).evaluate(_COUNTS) is expected


@pytest.mark.parametrize("text", [
    "", "consecutiveFailures", "consecutiveFailures > 5 +", "failures > 5",
    "requests * 2 > 5", "size(requests) > 1", "requests > 5 &&", "(requests > 5",
    "requests > 'x'",
])
def test_other_trip_expressions_are_refused(text: str) -> None:
    with pytest.raises(TripSyntaxError):
        parse_trip(text)


# -- back-off ------------------------------------------------------------------------------------

def _run_failing(policy: Policy, failures: int) -> tuple[int, Any]:
    calls = 0

    def operation() -> str:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise RuntimeError(f"failure {calls}")
        return "ok"

    try:
        result: Any = policy.run(operation)
    except Exception as err:
        result = err
    return calls, result


def test_constant_retries_are_spaced_by_duration_and_capped_by_max_retries() -> None:
    clock = FakeClock()
    policy = Policy("p", retry=RetrySpec(duration=0.25, max_retries=3), clock=clock)
    calls, result = _run_failing(policy, failures=2)
    assert (calls, result, clock.sleeps) == (3, "ok", [0.25, 0.25])
    clock.sleeps.clear()
    calls, result = _run_failing(policy, failures=10)
    assert calls == 4 and str(result) == "failure 4" and clock.sleeps == [0.25] * 3


def test_max_retries_zero_and_unlimited() -> None:
    clock = FakeClock()
    assert _run_failing(Policy("p", retry=RetrySpec(max_retries=0), clock=clock), 5)[0] == 1
    calls, result = _run_failing(Policy("p", retry=RetrySpec(duration=1, max_retries=-1),
                                        clock=clock), failures=40)
    assert (calls, result) == (41, "ok")


def test_exponential_backoff_grows_by_1_5_from_500ms_up_to_max_interval() -> None:
    clock = FakeClock()
    spec = RetrySpec(EXPONENTIAL, duration=9.0, max_interval=2.0, max_retries=6)
    # rand 0.5 is the middle of cenkalti's +-50 % window: the unrandomised interval.
    policy = Policy("p", retry=spec, clock=clock, rand=lambda: 0.5)
    _run_failing(policy, failures=10)
    assert clock.sleeps == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.0, 2.0])
    clock.sleeps.clear()
    _run_failing(Policy("p", retry=spec, clock=clock, rand=lambda: 0.0), failures=2)
    assert clock.sleeps == pytest.approx([0.25, 0.375])  # the low edge of the window


def test_exponential_backoff_stops_after_15_minutes() -> None:
    clock = FakeClock()
    spec = RetrySpec(EXPONENTIAL, max_interval=60.0, max_retries=-1)
    calls, result = _run_failing(Policy("p", retry=spec, clock=clock, rand=lambda: 0.5),
                                 failures=10_000)
    assert isinstance(result, RuntimeError)
    assert 14 * 60 < sum(clock.sleeps) <= 15 * 60 and calls == len(clock.sleeps) + 1


def test_non_retriable_errors_and_status_matching() -> None:
    clock = FakeClock()
    spec = RetrySpec(duration=0.1, max_retries=5, http_status_codes=((429, 429), (500, 599)))
    policy = Policy("p", retry=spec, clock=clock)
    calls, _ = 0, None

    def raise_value_error() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("caller's fault")

    with pytest.raises(ValueError):
        policy.run(raise_value_error, retriable=lambda e: not isinstance(e, ValueError))
    assert calls == 1
    replies = iter([503, 429, 404, 200])
    seen: list[int] = []

    def reply() -> int:
        seen.append(next(replies))
        return seen[-1]

    result = policy.run(reply, failed_status=lambda s: None if s < 400 else s)
    assert result == 404 and seen == [503, 429, 404]  # 404 is not in matching: returned


# -- circuit breaker -----------------------------------------------------------------------------

def test_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("cb", BreakerSpec(max_requests=2, timeout=5.0,
                                               trip=parse_trip("consecutiveFailures >= 3")),
                             clock)
    policy = Policy("p", breaker=breaker, clock=clock)
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("down")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            policy.run(fail)
    assert breaker.state == OPEN
    with pytest.raises(CircuitBreakerOpen, match="circuit breaker is open"):
        policy.run(fail)
    assert calls == 3
    clock.now += 5.0
    assert breaker.state == HALF_OPEN
    assert policy.run(lambda: "a") == "a" and breaker.state == HALF_OPEN
    assert policy.run(lambda: "b") == "b" and breaker.state == CLOSED
    # A failure while half-open opens it again at once.
    for _ in range(3):
        with pytest.raises(RuntimeError):
            policy.run(fail)
    clock.now += 5.0
    with pytest.raises(RuntimeError):
        policy.run(fail)
    assert breaker.state == OPEN


def test_breaker_defaults_trip_after_more_than_5_failures_and_interval_clears() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("cb", BreakerSpec(interval=10.0), clock)
    for _ in range(5):
        breaker.after(breaker.before(), success=False)
    clock.now += 10.0  # the interval clears the counts while closed
    for _ in range(5):
        breaker.after(breaker.before(), success=False)
    assert breaker.state == CLOSED
    breaker.after(breaker.before(), success=False)
    assert breaker.state == OPEN and breaker.open_period == 60.0


def test_open_breaker_is_not_retried() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("cb", BreakerSpec(trip=parse_trip("consecutiveFailures > 0")),
                             clock)
    policy = Policy("p", retry=RetrySpec(duration=1.0, max_retries=10), breaker=breaker,
                    clock=clock)
    calls, result = _run_failing(policy, failures=100)
    assert calls == 1 and isinstance(result, CircuitBreakerOpen) and clock.sleeps == [1.0]


def test_timeout_abandons_a_slow_attempt_and_is_retried() -> None:
    policy = Policy("p", timeout=0.05, retry=RetrySpec(duration=0.01, max_retries=1))
    started = time.monotonic()
    with pytest.raises(PolicyTimeout, match="context deadline exceeded"):
        policy.run(lambda: time.sleep(1.0))
    assert time.monotonic() - started < 0.6
    assert Policy("p", timeout=1.0).run(lambda: 42) == 42


# -- documents -----------------------------------------------------------------------------------

_POLICIES = {
    "timeouts": {"fast": "50ms", "DefaultTimeoutPolicy": "3s",
                 "DefaultStatestoreComponentOutboundTimeoutPolicy": "700"},
    "retries": {"three": {"policy": "constant", "duration": "10ms", "maxRetries": 3},
                "DefaultAppRetryPolicy": {"policy": "exponential", "maxInterval": "5s"}},
    "circuitBreakers": {"cb": {"maxRequests": 1, "timeout": "30s",
                               "trip": "consecutiveFailures > 2"}},
}


def test_targets_and_default_policies_resolve_as_daprd(tmp_path: Path) -> None:
    resiliency = _resiliency(tmp_path, _resiliency_doc(_POLICIES, {
        "apps": {"backend": {"timeout": "fast", "retry": "three", "circuitBreaker": "cb"}},
        "components": {"orders": {"outbound": {"retry": "three"},
                                  "inbound": {"circuitBreaker": "cb"}}}}))
    app = resiliency.app("backend", "m")
    assert (app.timeout, app.retry and app.retry.max_retries) == (0.05, 3)
    assert app.breaker is resiliency.app("backend", "m").breaker
    assert app.breaker is not resiliency.app("backend", "other").breaker  # one per method
    other = resiliency.app("frontend", "m")
    assert other.retry is not None and other.retry.policy == EXPONENTIAL
    assert other.timeout == 3.0 and other.breaker is None
    assert resiliency.component_outbound("store", STATESTORE).timeout == 0.7
    assert resiliency.component_outbound("cron", BINDING).timeout == 3.0
    orders = resiliency.component_outbound("orders", BINDING)
    # A named target wins wholesale: no default timeout beside it.
    assert orders.timeout == 0 and orders.retry is not None and orders.breaker is None
    inbound = resiliency.component_inbound("orders", BINDING)
    assert inbound.breaker is not None and inbound.retry is None
    assert resiliency.has_app_target("backend") and not resiliency.has_app_target("frontend")


def test_scopes_and_built_in_overrides(tmp_path: Path) -> None:
    resiliency = _resiliency(
        tmp_path,
        _resiliency_doc({"retries": {"r": {"maxRetries": 7}}}, {"apps": {"x": {"retry": "r"}}},
                        name="mine", scopes=["me"]),
        _resiliency_doc({"retries": {"r": {"maxRetries": 1}}}, {"apps": {"y": {"retry": "r"}}},
                        name="theirs", scopes=["someone-else"]),
        _resiliency_doc({"retries": {BUILT_IN_SERVICE_RETRIES: {"maxRetries": 1}}}, {},
                        name="weak-built-in"))
    assert resiliency.spec.names == ["mine", "weak-built-in"]
    retry = resiliency.app("x").retry
    assert retry is not None and retry.max_retries == 7 and not resiliency.has_app_target("y")
    built_in = resiliency.built_in(BUILT_IN_SERVICE_RETRIES).retry
    assert built_in is not None and built_in.max_retries == 3  # raised to daprd's minimum


@pytest.mark.parametrize(("policies", "field_path"), [
    ({"timeouts": {"t": "5 seconds"}}, "spec.policies.timeouts.t"),
    ({"retries": {"r": {"policy": "linear"}}}, "spec.policies.retries.r.policy"),
    ({"retries": {"r": {"maxRetries": "three"}}}, "spec.policies.retries.r.maxRetries"),
    ({"retries": {"r": {"matching": {"httpStatusCodes": "500-400"}}}},
     "spec.policies.retries.r.matching.httpStatusCodes"),
    ({"retries": {"r": {"matching": {"gRPCStatusCodes": "1-2-3"}}}},
     "spec.policies.retries.r.matching.gRPCStatusCodes"),
    ({"circuitBreakers": {"c": {"trip": "requests * 2 > 5"}}},
     "spec.policies.circuitBreakers.c.trip"),
    ({"circuitBreakers": {"c": {"interval": "soon"}}}, "spec.policies.circuitBreakers.c.interval"),
])
def test_bad_documents_are_logged_naming_file_and_field_and_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, policies: dict[str, Any],
        field_path: str) -> None:
    good = _resiliency_doc({"timeouts": {"ok": "1s"}}, {"apps": {"a": {"timeout": "ok"}}},
                           name="good")
    bad = _resiliency_doc({**policies, "timeouts": {**policies.get("timeouts", {}),
                                                    "never": "9s"}},
                          {"apps": {"b": {"timeout": "never"}}}, name="bad")
    with caplog.at_level(logging.ERROR):
        resiliency = _resiliency(tmp_path, good, bad)
    assert resiliency.spec.names == ["good"]
    assert resiliency.app("a").timeout == 1.0 and not resiliency.has_app_target("b")
    message = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "resiliency.yaml" in message and "'bad'" in message and field_path in message


def test_unknown_policy_names_and_fields_are_reported(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    doc = _resiliency_doc({"retries": {"r": {"maxRetry": 2}}},
                          {"apps": {"a": {"retry": "r", "timeout": "missing"}}})
    with caplog.at_level(logging.WARNING):
        resiliency = _resiliency(tmp_path, doc)
    text = caplog.text
    assert "maxRetry: unknown field" in text and "no timeout policy named 'missing'" in text
    policy = resiliency.app("a")
    assert policy.timeout == 0 and policy.retry is not None


def test_missing_resources_folder_loads_only_built_ins(tmp_path: Path) -> None:
    spec = load_resiliency([tmp_path / "nope"], "me")
    assert spec.names == [] and BUILT_IN_SERVICE_RETRIES in spec.retries


# -- the runtime's component paths, in process ---------------------------------------------------

class FlakyStore(InMemoryStateStore):
    """Fails the first ``failures`` gets, or sleeps ``delay`` seconds in each."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        super().__init__("store", {})
        self.failures = failures
        self.delay = delay
        self.gets = 0

    def get(self, key: str, metadata: dict[str, str] | None = None) -> GetResponse | None:
        self.gets += 1
        time.sleep(self.delay)
        if self.gets <= self.failures:
            raise ConnectionError("store down")
        return super().get(key, metadata)


def _runtime(tmp_path: Path, store: FlakyStore, outbound: dict[str, str],
             policies: dict[str, Any]) -> Runtime:
    folder = _write(tmp_path / "res", _resiliency_doc(
        policies, {"components": {"store": {"outbound": outbound}}}))
    registry = Registry()
    registry.state_stores["store"] = store
    registry.key_prefixes["store"] = ""
    return Runtime(Settings(app_id="me", resources_paths=(folder,)), registry)


def test_state_calls_are_retried_then_cut_by_timeout_and_breaker(tmp_path: Path) -> None:
    store = FlakyStore(failures=2)
    runtime = _runtime(tmp_path, store, {"retry": "r"},
                       {"retries": {"r": {"duration": "10ms", "maxRetries": 2}}})
    assert runtime.get_state("store", "k", {}) is None and store.gets == 3

    slow = FlakyStore(delay=0.5)
    runtime = _runtime(tmp_path / "slow", slow, {"timeout": "t"}, {"timeouts": {"t": "50ms"}})
    started = time.monotonic()
    with pytest.raises(StateGetError, match="fail to get k from state store store: "
                                            "context deadline exceeded"):
        runtime.get_state("store", "k", {})
    assert time.monotonic() - started < 0.45

    down = FlakyStore(failures=100)
    runtime = _runtime(tmp_path / "down", down, {"circuitBreaker": "c"},
                       {"circuitBreakers": {"c": {"trip": "consecutiveFailures >= 2"}}})
    for _ in range(2):
        with pytest.raises(StateGetError, match="store down"):
            runtime.get_state("store", "k", {})
    with pytest.raises(StateGetError, match="circuit breaker is open") as failure:
        runtime.get_state("store", "k", {})
    assert down.gets == 2 and failure.value.code == "ERR_STATE_GET"


class OneEvent(InputBinding):
    type_name = "bindings.fake"

    def start(self, deliver: Deliver) -> None:
        threading.Thread(target=deliver, args=(b'{"n": 1}', {}), daemon=True).start()

    def stop(self) -> None:
        return


def test_input_binding_delivery_is_retried_under_the_inbound_policy(tmp_path: Path) -> None:
    resiliency = _resiliency(tmp_path, _resiliency_doc(
        {"retries": {"r": {"duration": "30ms", "maxRetries": 5}}},
        {"components": {"ticks": {"inbound": {"retry": "r"}}}}), clock=None)
    resiliency = Resiliency(resiliency.spec)  # the real clock
    with run_flaky_app() as app:
        app.fail_first["/ticks"] = 2
        channel = HTTPAppChannel(Settings(app_id="binder", app_port=app.port))
        delivery = InputBindingDelivery(channel, resiliency)
        delivery.start({"ticks": OneEvent("ticks", {})})
        deadline = time.monotonic() + 10
        while len([p for p, _ in app.arrivals if p == "/ticks"]) < 4 and (
                time.monotonic() < deadline):
            time.sleep(0.02)
        delivery.stop()
        channel.close()
    # OPTIONS, then two failed POSTs and the successful one, 30 ms apart.
    posts = app.times("/ticks")[1:]
    assert len(posts) == 3
    assert all(0.02 <= gap <= 0.5 for gap in app.gaps("/ticks")[1:]), app.gaps("/ticks")


# -- service invocation through a real runtime ---------------------------------------------------

_E2E_POLICIES = {
    "timeouts": {"short": "150ms"},
    "retries": {
        "constant": {"policy": "constant", "duration": "60ms", "maxRetries": 3},
        "exponential": {"policy": "exponential", "maxInterval": "100ms", "maxRetries": 3},
    },
    "circuitBreakers": {"cb": {"maxRequests": 1, "timeout": "400ms",
                               "trip": "consecutiveFailures >= 2"}},
}


@dataclass
class _Stack:
    sidecars: dict[str, Sidecar]
    app: FlakyApp

    def invoke(self, target: str, method: str, caller: str | None = None) -> httpx.Response:
        sidecar = self.sidecars[caller or target]
        return httpx.post(f"{sidecar.http_url}/v1.0/invoke/{self.sidecars[target].app_id}"
                          f"/method/{method}", timeout=20)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Stack]:
    """Three runtimes of one flaky app, each under its own app policy.

    A second document, scoped to an app id nobody has, would give the breaker runtime a retry
    policy instead of its breaker: the breaker test also shows that scopes are honoured.
    """
    kinds = ("constant", "exponential", "breaker")
    ids = {kind: unique_id(f"res-{kind}") for kind in kinds}
    targets = {ids["constant"]: {"timeout": "short", "retry": "constant"},
               ids["exponential"]: {"retry": "exponential"},
               ids["breaker"]: {"circuitBreaker": "cb"}}
    folder = _write(tmp_path_factory.mktemp("res"),
                    _resiliency_doc(_E2E_POLICIES, {"apps": targets}, scopes=list(ids.values())),
                    _resiliency_doc(_E2E_POLICIES,
                                    {"apps": {ids["breaker"]: {"retry": "constant"}}},
                                    name="not-for-us", scopes=["nobody"]))
    registry = tmp_path_factory.mktemp("registry")
    with run_flaky_app() as app, ExitStack() as runtimes:
        sidecars = {kind: runtimes.enter_context(run_sidecar(
            ids[kind], [folder], app_port=app.port, registry_dir=registry)) for kind in kinds}
        yield _Stack(sidecars, app)


def test_constant_retries_reach_the_app_spaced_by_duration(stack: _Stack) -> None:
    stack.app.fail_first["/c1"] = 2
    reply = stack.invoke("constant", "c1")
    assert reply.status_code == 200, reply.text
    gaps = stack.app.gaps("/c1")
    assert len(gaps) == 2 and all(0.05 <= gap <= 0.4 for gap in gaps), gaps
    print(f"constant 60ms gaps measured: {[round(g * 1000) for g in gaps]} ms")


def test_max_retries_is_respected_and_the_last_reply_returned(stack: _Stack) -> None:
    stack.app.fail_first["/c2"] = 100
    reply = stack.invoke("constant", "c2")
    assert reply.status_code == 500 and reply.json() == {"path": "/c2", "status": 500}
    assert len(stack.app.times("/c2")) == 4  # 1 + maxRetries 3


def test_exponential_retries_start_at_500ms_then_cap_at_max_interval(stack: _Stack) -> None:
    stack.app.fail_first["/e1"] = 3
    reply = stack.invoke("exponential", "e1")
    assert reply.status_code == 200, reply.text
    gaps = stack.app.gaps("/e1")
    print(f"exponential gaps measured: {[round(g * 1000) for g in gaps]} ms")
    # cenkalti: 500 ms +-50 % first (maxInterval does not cut the first), then 100 ms +-50 %.
    assert len(gaps) == 3 and 0.24 <= gaps[0] <= 0.95, gaps
    assert all(0.04 <= gap <= 0.4 for gap in gaps[1:]), gaps


def test_timeout_cuts_a_slow_app_call(stack: _Stack) -> None:
    stack.app.delay["/slow"] = 1.0
    started = time.monotonic()
    reply = stack.invoke("constant", "slow")
    elapsed = time.monotonic() - started
    assert reply.status_code == 500 and reply.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "context deadline exceeded" in reply.json()["message"]
    # 4 attempts of 150 ms and 3 gaps of 60 ms: about 0.8 s, never the app's 4 s.
    assert 0.6 <= elapsed < 2.5, elapsed
    assert len(stack.app.times("/slow")) == 4


def test_circuit_breaker_opens_half_opens_and_closes(stack: _Stack) -> None:
    stack.app.fail_first["/cb"] = 2
    assert [stack.invoke("breaker", "cb").status_code for _ in range(2)] == [500, 500]
    blocked = stack.invoke("breaker", "cb")
    assert blocked.status_code == 500 and "circuit breaker is open" in blocked.json()["message"]
    assert len(stack.app.times("/cb")) == 2  # the open breaker did not reach the app
    time.sleep(0.5)  # > timeout 400 ms: half-open, one request may pass
    assert stack.invoke("breaker", "cb").status_code == 200  # ... and closes it
    assert stack.invoke("breaker", "cb").status_code == 200
    assert len(stack.app.times("/cb")) == 4
    # One breaker per method: another method was never blocked.
    assert stack.invoke("breaker", "other").status_code == 200


def test_the_callers_policy_applies_to_a_remote_app(stack: _Stack) -> None:
    # The "constant" runtime forwards to the "exponential" app's runtime, under the
    # exponential retry its own document names for that app id (first gap >= 250 ms).
    stack.app.fail_first["/r1"] = 1
    reply = stack.invoke("exponential", "r1", caller="constant")
    assert reply.status_code == 200, reply.text
    gaps = stack.app.gaps("/r1")
    assert len(gaps) == 1 and gaps[0] >= 0.24, gaps


def test_bad_document_is_logged_and_the_runtime_starts(tmp_path: Path) -> None:
    folder = _write(tmp_path, _resiliency_doc(
        {"circuitBreakers": {"c": {"trip": "requests * 2 > 5"}}}, {}, name="broken"),
        filename="broken.yaml")
    with run_sidecar(unique_id("res-bad"), [folder]) as sidecar:
        assert httpx.get(f"{sidecar.http_url}/v1.0/healthz").status_code == 204
        log = sidecar.log
    assert "broken.yaml" in log and "spec.policies.circuitBreakers.c.trip" in log
    assert "level=ERROR" in log

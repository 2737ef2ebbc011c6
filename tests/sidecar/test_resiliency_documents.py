"""Resiliency documents (sidecar/resiliency/config.py): targets, default policies, scopes and
bad documents, and the runtime's state and input-binding paths under them, in process."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.components.bindings.base import Deliver, InputBinding
from sidecar.components.registry import Registry
from sidecar.components.state.base import GetResponse
from sidecar.components.state.in_memory import InMemoryStateStore
from sidecar.errors import StateGetError
from sidecar.input_bindings import InputBindingDelivery
from sidecar.invoke.app_channel import HTTPAppChannel
from sidecar.resiliency import BINDING, STATESTORE, Resiliency, load_resiliency
from sidecar.resiliency.backoff import EXPONENTIAL
from sidecar.resiliency.config import BUILT_IN_SERVICE_RETRIES
from sidecar.runtime import Runtime
from sidecar.settings import Settings

from .resiliency_helpers import FakeClock, resiliency_doc, run_flaky_app, write


def _resiliency(tmp_path: Path, *docs: dict[str, Any], app_id: str = "me",
                clock: FakeClock | None = None) -> Resiliency:
    spec = load_resiliency([write(tmp_path / "res", *docs)], app_id)
    return Resiliency(spec, clock=clock or FakeClock(), rand=lambda: 0.5)


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
    resiliency = _resiliency(tmp_path, resiliency_doc(_POLICIES, {
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
        resiliency_doc({"retries": {"r": {"maxRetries": 7}}}, {"apps": {"x": {"retry": "r"}}},
                        name="mine", scopes=["me"]),
        resiliency_doc({"retries": {"r": {"maxRetries": 1}}}, {"apps": {"y": {"retry": "r"}}},
                        name="theirs", scopes=["someone-else"]),
        resiliency_doc({"retries": {BUILT_IN_SERVICE_RETRIES: {"maxRetries": 1}}}, {},
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
    good = resiliency_doc({"timeouts": {"ok": "1s"}}, {"apps": {"a": {"timeout": "ok"}}},
                           name="good")
    bad = resiliency_doc({**policies, "timeouts": {**policies.get("timeouts", {}),
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
    doc = resiliency_doc({"retries": {"r": {"maxRetry": 2}}},
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
    folder = write(tmp_path / "res", resiliency_doc(
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
    resiliency = _resiliency(tmp_path, resiliency_doc(
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


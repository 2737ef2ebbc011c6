"""Resiliency end to end: service invocation through real runtimes and a real app that fails
on purpose (``FlakyApp``), and a runtime that starts despite a bad document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sidecar.testing import Sidecar, run_sidecar

from .helpers import unique_id
from .resiliency_helpers import FlakyApp, resiliency_doc, run_flaky_app, write

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
    folder = write(tmp_path_factory.mktemp("res"),
                    resiliency_doc(_E2E_POLICIES, {"apps": targets}, scopes=list(ids.values())),
                    resiliency_doc(_E2E_POLICIES,
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
    folder = write(tmp_path, resiliency_doc(
        {"circuitBreakers": {"c": {"trip": "requests * 2 > 5"}}}, {}, name="broken"),
        filename="broken.yaml")
    with run_sidecar(unique_id("res-bad"), [folder]) as sidecar:
        assert httpx.get(f"{sidecar.http_url}/v1.0/healthz").status_code == 204
        log = sidecar.log
    assert "broken.yaml" in log and "spec.policies.circuitBreakers.c.trip" in log
    assert "level=ERROR" in log

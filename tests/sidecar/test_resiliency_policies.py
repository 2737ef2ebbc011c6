"""Resiliency policies (sidecar/resiliency/): the engine as pure units on a fake clock (trip
expressions, retries and back-off, the circuit breaker, timeouts)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sidecar.resiliency import CircuitBreakerOpen, Policy, PolicyTimeout
from sidecar.resiliency.backoff import EXPONENTIAL, RetrySpec
from sidecar.resiliency.breaker import CLOSED, HALF_OPEN, OPEN, BreakerSpec, CircuitBreaker
from sidecar.resiliency.trip import TripSyntaxError, parse_trip

from .resiliency_helpers import FakeClock

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


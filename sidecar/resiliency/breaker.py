"""A circuit breaker with gobreaker's state machine, as daprd's ``pkg/resiliency/breaker``.

closed: every request passes; each failure is counted and ``trip`` (default
``consecutiveFailures > 5``) is evaluated on the counts; true opens the breaker. The counts
are cleared every ``interval`` (0: never). open: every request fails fast with
``CircuitBreakerOpen`` ("circuit breaker is open") for ``timeout`` (default 60 s), then the
breaker is half-open. half-open: ``maxRequests`` (default 1) requests pass, more fail fast
("too many requests"); that many consecutive successes close it, one failure opens it again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .backoff import SYSTEM_CLOCK, Clock
from .trip import TripExpression

__all__ = [
    "CLOSED",
    "DEFAULT_BREAKER_TIMEOUT",
    "HALF_OPEN",
    "OPEN",
    "BreakerSpec",
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "ResiliencyError",
]

_log = logging.getLogger(__name__)
CLOSED = "closed"
HALF_OPEN = "half-open"
OPEN = "open"
#: gobreaker's default open period (seconds) when ``timeout`` is 0 or not set.
DEFAULT_BREAKER_TIMEOUT = 60.0
#: gobreaker's default trip: more than 5 consecutive failures.
_DEFAULT_TRIP_FAILURES = 5


class ResiliencyError(Exception):
    """A failure of the policy itself (timeout, open breaker); callers wrap it in a DaprError."""


class CircuitBreakerOpen(ResiliencyError):
    """The breaker refused the call: open, or half-open with its requests used up."""


@dataclass(frozen=True)
class BreakerSpec:
    """One ``spec.policies.circuitBreakers`` entry; durations in seconds."""

    max_requests: int = 1
    interval: float = 0.0
    timeout: float = DEFAULT_BREAKER_TIMEOUT
    trip: TripExpression | None = None


class CircuitBreaker:
    """One breaker instance (daprd keeps one per component, one per app id + method)."""

    def __init__(self, name: str, spec: BreakerSpec, clock: Clock = SYSTEM_CLOCK) -> None:
        self.name = name
        self.spec = spec
        self.max_requests = spec.max_requests if spec.max_requests > 0 else 1
        self.open_period = spec.timeout if spec.timeout > 0 else DEFAULT_BREAKER_TIMEOUT
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._generation = 0
        self._counts = dict.fromkeys(("requests", "totalSuccesses", "totalFailures",
                                      "consecutiveSuccesses", "consecutiveFailures"), 0)
        self._expiry: float | None = None
        self._new_generation(clock.monotonic())

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state(self._clock.monotonic())

    def before(self) -> int:
        """Admit one request (its generation) or raise CircuitBreakerOpen."""
        with self._lock:
            state = self._current_state(self._clock.monotonic())
            if state == OPEN:
                raise CircuitBreakerOpen("circuit breaker is open")
            if state == HALF_OPEN and self._counts["requests"] >= self.max_requests:
                raise CircuitBreakerOpen("too many requests")
            self._counts["requests"] += 1
            return self._generation

    def after(self, generation: int, success: bool) -> None:
        """Record the outcome of a request admitted in ``generation``."""
        with self._lock:
            now = self._clock.monotonic()
            state = self._current_state(now)
            if generation != self._generation:
                return
            counts = self._counts
            if success:
                counts["totalSuccesses"] += 1
                counts["consecutiveSuccesses"] += 1
                counts["consecutiveFailures"] = 0
                if state == HALF_OPEN and counts["consecutiveSuccesses"] >= self.max_requests:
                    self._set_state(CLOSED, now)
                return
            counts["totalFailures"] += 1
            counts["consecutiveFailures"] += 1
            counts["consecutiveSuccesses"] = 0
            if state == HALF_OPEN or (state == CLOSED and self._trips()):
                self._set_state(OPEN, now)

    def _trips(self) -> bool:
        trip = self.spec.trip
        if trip is None:
            return self._counts["consecutiveFailures"] > _DEFAULT_TRIP_FAILURES
        return trip.evaluate(self._counts)

    def _current_state(self, now: float) -> str:
        if self._expiry is not None and self._expiry <= now:
            if self._state == CLOSED:
                self._new_generation(now)
            elif self._state == OPEN:
                self._set_state(HALF_OPEN, now)
        return self._state

    def _set_state(self, state: str, now: float) -> None:
        _log.info("Circuit breaker %r changed state from %s to %s", self.name, self._state, state)
        self._state = state
        self._new_generation(now)

    def _new_generation(self, now: float) -> None:
        self._generation += 1
        for key in self._counts:
            self._counts[key] = 0
        if self._state == CLOSED:
            self._expiry = now + self.spec.interval if self.spec.interval > 0 else None
        elif self._state == OPEN:
            self._expiry = now + self.open_period
        else:
            self._expiry = None

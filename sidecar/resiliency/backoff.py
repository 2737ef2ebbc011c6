"""Retry back-off as daprd's (dapr/kit ``retry/retry.go`` over cenkalti/backoff v4).

``constant``: every gap is ``duration``. ``exponential``: cenkalti's ``ExponentialBackOff``
with the values dapr/kit gives it: the first gap is 500 ms (``InitialInterval``; daprd's
Resiliency spec has no field for it and ignores ``duration`` here), randomised by ±50 %
(``RandomizationFactor`` 0.5), each next one 1.5 times the last (``Multiplier``) until it reaches
``maxInterval`` (default 60 s), and no gap after 15 minutes of retrying
(``MaxElapsedTime``). ``maxRetries`` >= 0 caps the number of gaps (cenkalti's
``WithMaxRetries``); -1 means no cap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CONSTANT",
    "DEFAULT_DURATION",
    "DEFAULT_MAX_INTERVAL",
    "EXPONENTIAL",
    "INITIAL_INTERVAL",
    "MAX_ELAPSED_TIME",
    "MULTIPLIER",
    "RANDOMIZATION_FACTOR",
    "SYSTEM_CLOCK",
    "Backoff",
    "Clock",
    "RetrySpec",
    "SystemClock",
]

CONSTANT = "constant"
EXPONENTIAL = "exponential"
#: dapr/kit ``retry.DefaultConfig``: seconds between constant retries.
DEFAULT_DURATION = 5.0
#: cenkalti/backoff defaults that dapr/kit keeps (seconds, factors).
INITIAL_INTERVAL = 0.5
RANDOMIZATION_FACTOR = 0.5
MULTIPLIER = 1.5
DEFAULT_MAX_INTERVAL = 60.0
MAX_ELAPSED_TIME = 15 * 60.0


class Clock(Protocol):
    """Where the engine reads time and waits; tests pass a fake one."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True)
class RetrySpec:
    """One ``spec.policies.retries`` entry; durations in seconds.

    ``http_status_codes`` / ``grpc_status_codes`` are ``matching``'s inclusive ranges; None
    (not set) retries every failure, as daprd.
    """

    policy: str = CONSTANT
    duration: float = DEFAULT_DURATION
    max_interval: float = DEFAULT_MAX_INTERVAL
    max_retries: int = -1
    http_status_codes: tuple[tuple[int, int], ...] | None = None
    grpc_status_codes: tuple[tuple[int, int], ...] | None = None
    initial_interval: float = INITIAL_INTERVAL
    max_elapsed_time: float = MAX_ELAPSED_TIME

    def retries_status(self, status: int) -> bool:
        """Whether an app reply with HTTP ``status`` may be retried (daprd's matching)."""
        ranges = self.http_status_codes
        return ranges is None or any(low <= status <= high for low, high in ranges)

    def backoff(self, clock: Clock = SYSTEM_CLOCK,
                rand: Callable[[], float] = random.random) -> Backoff:
        """A fresh back-off for one operation (they keep state, as cenkalti's do)."""
        return Backoff(self, clock, rand)


class Backoff:
    """``next()`` gives the seconds to wait before the next attempt, or None: give up."""

    def __init__(self, spec: RetrySpec, clock: Clock, rand: Callable[[], float]) -> None:
        self.spec = spec
        self._clock = clock
        self._rand = rand
        self._retries = 0
        self._current = spec.initial_interval
        self._started = clock.monotonic()

    def next(self) -> float | None:
        spec = self.spec
        if 0 <= spec.max_retries <= self._retries:
            return None
        self._retries += 1
        if spec.policy == CONSTANT:
            return spec.duration
        elapsed = self._clock.monotonic() - self._started
        delta = RANDOMIZATION_FACTOR * self._current
        gap = self._current - delta + self._rand() * 2 * delta
        if self._current >= spec.max_interval / MULTIPLIER:
            self._current = spec.max_interval
        else:
            self._current *= MULTIPLIER
        if spec.max_elapsed_time and elapsed + gap > spec.max_elapsed_time:
            return None
        return gap

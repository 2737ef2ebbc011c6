"""Running an operation under a policy, and finding the policy for a target.

``Resiliency`` answers daprd's ``Provider`` questions (``pkg/resiliency/resiliency.go``):
``app(app_id, method)`` for service invocation, ``component_outbound(name, kind)`` for state,
secrets, output bindings and publishing, ``component_inbound(name, kind)`` for delivering
input-binding events and pub/sub messages to the app, ``built_in(name)`` for daprd's built-in
retries. A named target wins; without one the ``Default…Policy`` names apply, most specific
first (``DefaultStatestoreComponentOutboundRetryPolicy``, ``DefaultComponentOutboundRetry…``,
``DefaultComponentRetryPolicy``, ``DefaultRetryPolicy``).

``Policy.run`` nests as daprd's ``NewRunnerWithOptions`` (``pkg/resiliency/policy.go``):
timeout per attempt, inside the circuit breaker, inside the retries. A Python call cannot be
cancelled, so an attempt with a timeout runs in a worker thread that is abandoned when the
time is up (``PolicyTimeout``, "context deadline exceeded"); what it was doing finishes in
the background and its result is dropped.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from .backoff import SYSTEM_CLOCK, Clock, RetrySpec
from .breaker import BreakerSpec, CircuitBreaker, CircuitBreakerOpen, ResiliencyError
from .config import PolicyNames, ResiliencySpec

__all__ = [
    "BINDING",
    "PUBSUB",
    "SECRETSTORE",
    "STATESTORE",
    "Policy",
    "PolicyTimeout",
    "Resiliency",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
#: daprd's ComponentType names, used in the Default<Type>Component<Direction>… policy names.
BINDING = "Binding"
PUBSUB = "Pubsub"
SECRETSTORE = "Secretstore"
STATESTORE = "Statestore"
#: daprd's ``defaultEndpointCacheSize``: breakers kept per app id (one per method).
_ENDPOINT_BREAKERS = 100

class PolicyTimeout(ResiliencyError):
    """An attempt took longer than the policy's timeout."""


class _Attempt(Generic[_T]):
    """One attempt run in a worker thread, so that a timeout can abandon it."""

    def __init__(self, operation: Callable[[], _T]) -> None:
        self.operation = operation
        self.done = threading.Event()
        self.result: _T | None = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.result = self.operation()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            self.error = err
        finally:
            self.done.set()


def _with_timeout(operation: Callable[[], _T], timeout: float) -> _T:
    attempt = _Attempt(operation)
    threading.Thread(target=attempt, name="resiliency-attempt", daemon=True).start()
    if not attempt.done.wait(timeout):
        raise PolicyTimeout("context deadline exceeded")
    if attempt.error is not None:
        raise attempt.error
    return attempt.result  # type: ignore[return-value]  # set when error is None


def _always(error: BaseException) -> bool:
    return True


class Policy:
    """A timeout, retry and circuit breaker (each optional) for one target.

    ``run(operation)`` calls ``operation`` under them and returns its result or raises its
    last error; the policy's own failures are ``PolicyTimeout`` and ``CircuitBreakerOpen``.
    ``retriable(error)`` says whether an error may be retried (it always counts as a failure
    for the breaker). ``failed_status(result)`` turns a result into a failure with that HTTP
    status (an app reply daprd treats as an error); such a result is retried while the retry's
    ``matching.httpStatusCodes`` allow, and the last one is returned.
    """

    def __init__(self, name: str, timeout: float = 0.0, retry: RetrySpec | None = None,
                 breaker: CircuitBreaker | None = None, clock: Clock = SYSTEM_CLOCK,
                 rand: Callable[[], float] = random.random) -> None:
        self.name = name
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self._clock = clock
        self._rand = rand

    @property
    def empty(self) -> bool:
        return self.timeout <= 0 and self.retry is None and self.breaker is None

    @property
    def has_retries(self) -> bool:
        return self.retry is not None and self.retry.max_retries != 0

    def run(self, operation: Callable[[], _T], *,
            retriable: Callable[[BaseException], bool] = _always,
            failed_status: Callable[[_T], int | None] | None = None) -> _T:
        if self.empty:
            return operation()
        backoff = self.retry.backoff(self._clock, self._rand) if self.retry else None
        attempts = 0
        while True:
            attempts += 1
            try:
                result, status = self._attempt(operation, failed_status)
            except CircuitBreakerOpen:
                raise
            except Exception as err:
                gap = backoff.next() if backoff is not None and retriable(err) else None
                if gap is None:
                    raise
                self._wait(gap, attempts, err)
                continue
            if status is None:
                if attempts > 1:
                    _log.info("Recovered processing operation %s after %d attempts",
                              self.name, attempts)
                return result
            gap = None
            if backoff is not None and backoff.spec.retries_status(status):
                gap = backoff.next()
            if gap is None:
                return result
            self._wait(gap, attempts, f"status {status}")

    def _wait(self, gap: float, attempts: int, error: object) -> None:
        _log.info("Error processing operation %s. Retrying in %.0f ms (attempt %d failed: %s)",
                  self.name, gap * 1000, attempts, error)
        self._clock.sleep(gap)

    def _attempt(self, operation: Callable[[], _T],
                 failed_status: Callable[[_T], int | None] | None) -> tuple[_T, int | None]:
        breaker = self.breaker
        generation = breaker.before() if breaker is not None else 0
        try:
            result = _with_timeout(operation, self.timeout) if self.timeout > 0 else operation()
        except BaseException:
            if breaker is not None:
                breaker.after(generation, success=False)
            raise
        status = failed_status(result) if failed_status is not None else None
        if breaker is not None:
            breaker.after(generation, success=status is None)
        return result, status


class Resiliency:
    """The policies of one runtime and the breakers they keep (see the module docstring)."""

    def __init__(self, spec: ResiliencySpec | None = None, clock: Clock = SYSTEM_CLOCK,
                 rand: Callable[[], float] = random.random) -> None:
        self.spec = spec if spec is not None else ResiliencySpec.with_built_ins()
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self._component_breakers: dict[str, CircuitBreaker] = {}
        self._endpoint_breakers: dict[str, OrderedDict[str, CircuitBreaker]] = {}
        #: (name, kind, direction) -> policy; the spec does not change once loaded.
        self._component_policies: dict[tuple[str, str, str], Policy] = {}

    def has_app_target(self, app_id: str) -> bool:
        """Whether a document names ``app_id`` under ``targets.apps`` (daprd's PolicyDefined)."""
        return app_id in self.spec.apps

    def app(self, app_id: str, method: str = "") -> Policy:
        """The policy for invoking ``method`` on ``app_id`` (one breaker per app and method)."""
        names = self.spec.apps.get(app_id) or self._defaults(["App"])
        endpoint = f"{app_id}:{method}"
        breaker = None
        template = self.spec.circuit_breakers.get(names.circuit_breaker)
        if template is not None:
            breaker = self._endpoint_breaker(app_id, endpoint, template)
        return self._policy(f"endpoint[{app_id}, {endpoint}]", names, breaker)

    def component_outbound(self, name: str, kind: str) -> Policy:
        """The policy for calling component ``name`` (``kind``: STATESTORE, BINDING, ...)."""
        return self._component(name, kind, "Outbound")

    def component_inbound(self, name: str, kind: str) -> Policy:
        """The policy for delivering what component ``name`` received to the app.

        Pub/sub delivery: ``runtime.resiliency.component_inbound(pubsub_name, PUBSUB).run(
        deliver, failed_status=...)``.
        """
        return self._component(name, kind, "Inbound")

    def built_in(self, name: str) -> Policy:
        """One of daprd's built-in retry policies (retries only)."""
        return Policy(name, retry=self.spec.retries.get(name), clock=self._clock,
                      rand=self._rand)

    def _component(self, name: str, kind: str, direction: str) -> Policy:
        key = (name, kind, direction)
        policy = self._component_policies.get(key)
        if policy is None:
            policy = self._component_policies[key] = self._new_component(*key)
        return policy

    def _new_component(self, name: str, kind: str, direction: str) -> Policy:
        targets = self.spec.components.get(name)
        if targets is not None:
            names = targets[0] if direction == "Inbound" else targets[1]
        else:
            names = self._defaults([f"{kind}Component{direction}", f"Component{direction}",
                                    "Component"])
        breaker = None
        template = self.spec.circuit_breakers.get(names.circuit_breaker)
        if template is not None:
            with self._lock:
                # daprd keeps one breaker per component, shared by both directions.
                breaker = self._component_breakers.get(name)
                if breaker is None:
                    breaker = CircuitBreaker(f"{names.circuit_breaker}-{name}", template,
                                             self._clock)
                    self._component_breakers[name] = breaker
        suffix = "input" if direction == "Inbound" else "output"
        return self._policy(f"component[{name}] {suffix}", names, breaker)

    def _policy(self, label: str, names: PolicyNames, breaker: CircuitBreaker | None) -> Policy:
        if names.empty:
            return Policy(label, clock=self._clock, rand=self._rand)
        return Policy(label, timeout=self.spec.timeouts.get(names.timeout, 0.0),
                      retry=self.spec.retries.get(names.retry), breaker=breaker,
                      clock=self._clock, rand=self._rand)

    def _defaults(self, levels: list[str]) -> PolicyNames:
        """daprd's getDefaultPolicy: the most specific Default<level><Kind>Policy of each kind."""
        spec = self.spec

        def pick(kind: str, defined: Mapping[str, object]) -> str:
            for level in [*levels, ""]:
                candidate = f"Default{level}{kind}Policy"
                if candidate in defined:
                    return candidate
            return ""

        return PolicyNames(timeout=pick("Timeout", spec.timeouts),
                           retry=pick("Retry", spec.retries),
                           circuit_breaker=pick("CircuitBreaker", spec.circuit_breakers))

    def _endpoint_breaker(self, app_id: str, endpoint: str,
                          template: BreakerSpec) -> CircuitBreaker:
        with self._lock:
            cache = self._endpoint_breakers.setdefault(app_id, OrderedDict())
            breaker = cache.get(endpoint)
            if breaker is None:
                breaker = CircuitBreaker(endpoint, template, self._clock)
                cache[endpoint] = breaker
                if len(cache) > _ENDPOINT_BREAKERS:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(endpoint)
            return breaker

"""daprd's resiliency policies: timeouts, retries and circuit breakers for apps and components.

    config.py    Resiliency documents -> ResiliencySpec (policies, targets, scopes, built-ins)
    trip.py      circuit-breaker trip expressions (the CEL forms daprd's docs show)
    backoff.py   constant / exponential back-off as dapr/kit + cenkalti/backoff
    breaker.py   gobreaker's state machine
    policy.py    Policy.run (timeout, breaker, retries) and Resiliency (target -> Policy)

The runtime builds one ``Resiliency`` from ``load_resiliency(paths, app_id)``; callers ask it
for a policy and run their operation under it::

    policy = resiliency.component_inbound("orders", PUBSUB)
    reply = policy.run(lambda: channel.request("POST", "/orders", body),
                       failed_status=lambda r: None if r.status == 200 else r.status)
"""

from .breaker import CircuitBreakerOpen, ResiliencyError
from .config import ResiliencyConfigError, ResiliencySpec, load_resiliency
from .policy import BINDING, PUBSUB, SECRETSTORE, STATESTORE, Policy, PolicyTimeout, Resiliency

__all__ = [
    "BINDING",
    "PUBSUB",
    "SECRETSTORE",
    "STATESTORE",
    "CircuitBreakerOpen",
    "Policy",
    "PolicyTimeout",
    "Resiliency",
    "ResiliencyConfigError",
    "ResiliencyError",
    "ResiliencySpec",
    "load_resiliency",
]

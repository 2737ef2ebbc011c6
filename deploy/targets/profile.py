"""The Dapr resources of one profile: Components, Subscriptions and the Resiliency.

Shared by ``--target local`` (one folder per local profile) and ``--target kubernetes``; the
openfunction target takes the Subscriptions from here too.
"""

from __future__ import annotations

import copy
from typing import Any

from deploy._yaml import document
from deploy.model import Description, Subscription
from deploy.targets.components import API_VERSION, component_resource

__all__ = ["SUBSCRIPTION_API_VERSION", "profile_files", "subscription_resource"]

#: v2alpha1 (the storage version) has ``routes``; v1alpha1 only a single ``route``.
SUBSCRIPTION_API_VERSION = "dapr.io/v2alpha1"
_RESILIENCY_COMMENT = ("Timeouts, retries and circuit breakers of every function (as a service "
                       "invocation target) and every component.")


def profile_files(d: Description, profile: str, target: str,
                  namespace: str = "") -> dict[str, str]:
    """{file name: text} of every resource ``profile`` has, in description order."""
    files: dict[str, str] = {}
    for component in d.components.values():
        spec = component.profiles.get(profile)
        if spec is not None:
            resource = component_resource(d, component, profile, namespace)
            files[component.file] = document(resource, target,
                                             [spec.note, component.description])
    for s in d.subscriptions.values():
        files[s.file] = document(subscription_resource(d, s, namespace), target,
                                 [s.description or _subscription_comment(d, s)])
    if d.resiliency is not None:
        files[d.resiliency.file] = document(
            _resiliency_resource(d, profile, namespace), target,
            [d.resiliency.description or _RESILIENCY_COMMENT])
    return files


def _metadata(name: str, namespace: str) -> dict[str, str]:
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


def _subscription_comment(d: Description, s: Subscription) -> str:
    app_id = d.functions[s.function].app_id
    return f"Delivers topic {s.topic} of {s.pubsub} to {app_id} at POST {s.route}."


def subscription_resource(d: Description, s: Subscription, namespace: str = "") -> dict[str, Any]:
    """The ``kind: Subscription`` (v2alpha1) of ``s``, scoped to its function's app id."""
    spec: dict[str, Any] = {"pubsubname": s.pubsub, "topic": s.topic,
                            "routes": {"default": s.route}}
    if s.dead_letter_topic:
        spec["deadLetterTopic"] = s.dead_letter_topic
    if s.bulk_subscribe:
        spec["bulkSubscribe"] = dict(s.bulk_subscribe)
    if s.metadata:
        spec["metadata"] = dict(s.metadata)
    return {"apiVersion": SUBSCRIPTION_API_VERSION, "kind": "Subscription",
            "metadata": _metadata(s.name, namespace), "spec": spec,
            "scopes": [d.functions[s.function].app_id]}


def _resiliency_resource(d: Description, profile: str, namespace: str) -> dict[str, Any]:
    """The ``kind: Resiliency``: apps by app id, the components this profile has."""
    assert d.resiliency is not None
    r = d.resiliency
    apps = {d.functions[name].app_id: dict(policy) for name, policy in r.apps.items()}
    components = {name: {direction: dict(policy) for direction, policy in directions.items()}
                  for name, directions in r.components.items()
                  if profile in d.components[name].profiles}
    targets: dict[str, Any] = {"apps": apps}
    if components:
        targets["components"] = components
    return {"apiVersion": API_VERSION, "kind": "Resiliency",
            "metadata": _metadata(r.name, namespace),
            "spec": {"policies": copy.deepcopy(dict(r.policies)), "targets": targets},
            "scopes": d.app_ids()}

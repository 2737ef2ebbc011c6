"""Dapr ``Component`` resources from the description, shared by the local and cluster targets."""

from __future__ import annotations

from typing import Any

from deploy.model import Component, ComponentSpec, Description, SecretRef

__all__ = ["API_VERSION", "component_resource", "metadata_items"]

API_VERSION = "dapr.io/v1alpha1"


def metadata_items(spec: ComponentSpec) -> list[dict[str, Any]]:
    """``spec.metadata`` as Dapr writes it: ``value`` or ``secretKeyRef`` per name."""
    items: list[dict[str, Any]] = []
    for name, value in spec.metadata:
        if isinstance(value, SecretRef):
            items.append({"name": name, "secretKeyRef": {"name": value.name, "key": value.key}})
        else:
            items.append({"name": name, "value": value})
    return items


def component_resource(d: Description, component: Component, profile: str,
                       namespace: str = "") -> dict[str, Any]:
    """The Component resource of ``component`` in ``profile``."""
    spec = component.profiles[profile]
    metadata: dict[str, Any] = {"name": component.name}
    if namespace:
        metadata["namespace"] = namespace
    resource: dict[str, Any] = {
        "apiVersion": API_VERSION, "kind": "Component", "metadata": metadata,
        "spec": {"type": spec.type, "version": spec.version, "metadata": metadata_items(spec)},
    }
    if spec.secret_store:
        resource["auth"] = {"secretStore": spec.secret_store}
    scopes = d.scopes(component)
    if scopes:
        resource["scopes"] = scopes
    return resource

"""``--target kubernetes``: the Dapr Components (kubernetes profile) and the Dapr Configuration.

Credentials are ``secretKeyRef``s into Kubernetes Secrets read through Dapr's built-in
``kubernetes`` secret store (``auth.secretStore: kubernetes``); no literal credential is ever
written (model.py refuses one). Apply these before the knative or openfunction manifests.
"""

from __future__ import annotations

from typing import Any

from deploy._yaml import document
from deploy.model import Description
from deploy.targets.components import API_VERSION, component_resource

__all__ = ["CONFIGURATION_FILE", "render"]

_TARGET = "kubernetes"
_PROFILE = "kubernetes"
CONFIGURATION_FILE = "configuration.yaml"


def render(d: Description) -> dict[str, str]:
    namespace = d.provider["namespace"]
    files: dict[str, str] = {}
    for component in d.components.values():
        spec = component.profiles.get(_PROFILE)
        if spec is not None:
            resource = component_resource(d, component, _PROFILE, namespace)
            files[component.file] = document(resource, _TARGET,
                                             [spec.note, component.description])
    files[CONFIGURATION_FILE] = document(_configuration(d), _TARGET,
                                         ["Dapr Configuration of every function's sidecar."])
    return files


def _configuration(d: Description) -> dict[str, Any]:
    dapr = d.provider["dapr"]
    spec: dict[str, Any] = {"metric": {"enabled": True}}
    if "tracingSamplingRate" in dapr:
        spec["tracing"] = {"samplingRate": dapr["tracingSamplingRate"]}
    return {"apiVersion": API_VERSION, "kind": "Configuration",
            "metadata": {"name": dapr["config"], "namespace": d.provider["namespace"]},
            "spec": spec}

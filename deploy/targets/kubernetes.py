"""``--target kubernetes``: the Dapr resources of the kubernetes profile (Components,
Subscriptions, the Resiliency) and the Dapr Configuration.

Credentials are ``secretKeyRef``s into Kubernetes Secrets read through Dapr's built-in
``kubernetes`` secret store (``auth.secretStore: kubernetes``); no literal credential is ever
written (model.py refuses one). Apply these before the knative or openfunction manifests.
"""

from __future__ import annotations

from typing import Any

from deploy._yaml import document
from deploy.model import Description
from deploy.targets.components import API_VERSION
from deploy.targets.profile import profile_files

__all__ = ["CONFIGURATION_FILE", "render"]

_TARGET = "kubernetes"
_PROFILE = "kubernetes"
CONFIGURATION_FILE = "configuration.yaml"


def render(d: Description) -> dict[str, str]:
    files = profile_files(d, _PROFILE, _TARGET, d.provider["namespace"])
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

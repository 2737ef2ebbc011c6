"""``--target kubernetes``: the Dapr resources of the kubernetes profile (Components,
Subscriptions, the Resiliency) and the Dapr Configuration.

Credentials are ``secretKeyRef``s into Kubernetes Secrets read through Dapr's built-in
``kubernetes`` secret store (``auth.secretStore: kubernetes``); no literal credential is ever
written (model.py refuses one). Apply these before the knative or openfunction manifests.
"""

from __future__ import annotations

from typing import Any

from deploy._yaml import documents
from deploy.model import Description, Function
from deploy.targets.components import API_VERSION
from deploy.targets.knative import configuration_name
from deploy.targets.profile import profile_files

__all__ = ["CONFIGURATION_FILE", "configuration_resource", "render"]

_TARGET = "kubernetes"
_PROFILE = "kubernetes"
CONFIGURATION_FILE = "configuration.yaml"


def render(d: Description) -> dict[str, str]:
    files = profile_files(d, _PROFILE, _TARGET, d.provider["namespace"])
    files[CONFIGURATION_FILE] = documents(
        [configuration_resource(d, f, _PROFILE) for f in d.functions.values()], _TARGET,
        ["Dapr Configuration of each function's sidecar: tracing, and secret scopes that deny",
         "every secret but those the function lists (functions.<name>.secrets)."])
    return files


def configuration_resource(d: Description, f: Function, profile: str) -> dict[str, Any]:
    """The ``kind: Configuration`` of ``f``'s sidecar in ``profile``."""
    dapr = d.provider["dapr"]
    spec: dict[str, Any] = {}
    if profile == _PROFILE:
        spec["metric"] = {"enabled": True}
    if "tracingSamplingRate" in dapr:
        spec["tracing"] = {"samplingRate": dapr["tracingSamplingRate"]}
    spec["secrets"] = {"scopes": d.secret_scopes(f, profile)}
    metadata = {"name": configuration_name(d, f)}
    if profile == _PROFILE:
        metadata["namespace"] = d.provider["namespace"]
    return {"apiVersion": API_VERSION, "kind": "Configuration", "metadata": metadata,
            "spec": spec}

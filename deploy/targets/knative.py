"""``--target knative``: one ``serving.knative.dev/v1`` Service per function, Dapr-annotated.

The Dapr sidecar injector acts on the revision's pods through the annotations on
``spec.template``; Knative's own autoscaling annotations and ``containerConcurrency`` sit next
to them. ``dapr.io/api-token-secret`` names the Kubernetes Secret ``<service>-dapr-api-token``
(key ``token``): the injector gives daprd its value as ``DAPR_API_TOKEN``, so daprd refuses
callers without it, and the function container reads the same key into ``DAPR_API_TOKEN``,
which the dapr SDK sends (docs.dapr.io "Enable API token authentication in Dapr").
``build-images.sh`` builds and pushes the images these Services run (deploy/Dockerfile, the
function as a build argument).
"""

from __future__ import annotations

import shlex
from typing import Any

from deploy._yaml import document
from deploy.model import Description, Function

__all__ = ["API_TOKEN_SECRET_KEY", "API_VERSION", "BUILD_SCRIPT", "api_token_env",
           "api_token_secret", "configuration_name", "dapr_annotations", "function_env", "labels",
           "render"]

_TARGET = "knative"
API_VERSION = "serving.knative.dev/v1"
BUILD_SCRIPT = "build-images.sh"
#: The key of the API token Secret daprd's injector reads (``kubectl create secret generic
#: <name> --from-literal=token=...``, as Dapr's docs create it).
API_TOKEN_SECRET_KEY = "token"
_API_TOKEN_ENV = "DAPR_API_TOKEN"
_LOG_FORMAT_ENV = "LOG_FORMAT"
#: Every function answers ``GET /`` with 200 (its help text), so it doubles as the probe.
_PROBE_PATH = "/"


def render(d: Description) -> dict[str, str]:
    files = {f"{f.name}.yaml": document(_service(d, f), _TARGET, [f.description])
             for f in d.functions.values()}
    files[BUILD_SCRIPT] = _build_script(d)
    return files


def dapr_annotations(d: Description, f: Function) -> dict[str, str]:
    """The sidecar injector's annotations for ``f`` (shared with the openfunction target)."""
    dapr = d.provider["dapr"]
    annotations = {"dapr.io/enabled": "true", "dapr.io/app-id": f.app_id,
                   "dapr.io/app-port": str(d.provider["containerPort"]),
                   "dapr.io/app-protocol": dapr["appProtocol"],
                   "dapr.io/config": configuration_name(d, f),
                   "dapr.io/api-token-secret": api_token_secret(d)}
    if dapr.get("logAsJson"):
        annotations["dapr.io/log-as-json"] = "true"
    return annotations


def function_env(d: Description, f: Function) -> dict[str, str]:
    """The function process's environment in a pod: with ``dapr.logAsJson``, its log is JSON
    lines too (LOG_FORMAT, unless the function's own environment sets it), like its sidecar's."""
    json_log = {_LOG_FORMAT_ENV: "json"} if d.provider["dapr"].get("logAsJson") else {}
    return {**json_log, **f.env()}


def api_token_secret(d: Description) -> str:
    """The Kubernetes Secret holding the service's Dapr API token (one for all its functions,
    as ``make run`` uses one per run)."""
    return f"{d.service}-dapr-api-token"


def api_token_env(d: Description) -> dict[str, Any]:
    """The container's ``DAPR_API_TOKEN``, read from the secret daprd's token comes from."""
    return {"name": _API_TOKEN_ENV, "valueFrom": {"secretKeyRef": {
        "name": api_token_secret(d), "key": API_TOKEN_SECRET_KEY}}}


def configuration_name(d: Description, f: Function) -> str:
    """The Dapr Configuration of ``f``'s sidecar (its own: secret scopes are per app)."""
    return f"{d.provider['dapr']['config']}-{f.name}"


def labels(d: Description, f: Function) -> dict[str, str]:
    return {"app.kubernetes.io/name": f.name, "app.kubernetes.io/part-of": d.service}


def _container(d: Description, f: Function) -> dict[str, Any]:
    """The function's container: image, port, env, resources, probes."""
    port = d.provider["containerPort"]
    spec: dict[str, Any] = {
        "name": "function", "image": d.image(f),
        "ports": [{"name": "http1", "containerPort": port}],
        "env": [*({"name": k, "value": v} for k, v in function_env(d, f).items()),
                api_token_env(d)],
    }
    if f.resources:
        spec["resources"] = {kind: dict(values) for kind, values in f.resources.items()}
    probe = {"httpGet": {"path": _PROBE_PATH}}
    spec["readinessProbe"] = dict(probe)
    spec["livenessProbe"] = {**probe, "periodSeconds": 30}
    return spec


def _service(d: Description, f: Function) -> dict[str, Any]:
    annotations = {"autoscaling.knative.dev/min-scale": str(f.scale_min),
                   "autoscaling.knative.dev/max-scale": str(f.scale_max),
                   **dapr_annotations(d, f)}
    return {
        "apiVersion": API_VERSION, "kind": "Service",
        "metadata": {"name": f.name, "namespace": d.provider["namespace"],
                     "labels": labels(d, f)},
        "spec": {"template": {
            "metadata": {"labels": labels(d, f), "annotations": annotations},
            "spec": {"containerConcurrency": f.concurrency, "containers": [_container(d, f)]},
        }},
    }


def _build_script(d: Description) -> str:
    """``docker build`` + ``docker push`` for every function, run from the repository root."""
    lines = ["#!/bin/sh",
             "# Rendered from serverless.yaml by `python -m deploy render --target knative`.",
             "# Builds and pushes one image per function; run it from the repository root.",
             "set -eu"]
    dockerfile = d.provider["image"]["dockerfile"]
    for f in d.functions.values():
        args = {"FUNCTION_TARGET": f.target, "FUNCTION_SOURCE": f.source, **f.build_args}
        command = ["docker", "build", "-f", dockerfile]
        for key, value in args.items():
            command += ["--build-arg", f"{key}={value}"]
        command += ["-t", d.image(f), "."]
        lines += [shlex.join(command), shlex.join(["docker", "push", d.image(f)])]
    return "\n".join(lines) + "\n"

"""``--target openfunction``: one ``core.openfunction.io/v1beta2`` Function per function.

Built from source by Google's Python buildpack (``GOOGLE_FUNCTION_TARGET`` /
``GOOGLE_FUNCTION_SOURCE``), served by Knative behind ``serving.triggers.http``. Output
bindings are listed in ``serving.outputs`` by the names of the Components that
``--target kubernetes`` renders: OpenFunction gives components defined inline in
``serving.bindings``/``serving.states`` generated names (``<serving>-component-<name>-xxxxx``),
which functions calling Dapr by a fixed name cannot know. ``provider.openfunction.
inlineComponents: true`` writes them inline anyway, for clusters where that is wanted.

Every function stays an HTTP (Knative) function, the subscriber too: a topic reaches it through
daprd's HTTP delivery, by the Subscription resources written here beside the Functions, not
through ``serving.triggers.dapr`` and the OpenFuncAsync runtime (docs/deploy.md says why).
Publishers list the topic in ``serving.outputs``.
"""

from __future__ import annotations

from typing import Any

from deploy._yaml import document
from deploy.errors import RenderError
from deploy.model import Description, Function, SecretRef
from deploy.targets.components import metadata_items
from deploy.targets.knative import api_token_env, dapr_annotations, function_env, labels
from deploy.targets.profile import subscription_resource

__all__ = ["API_VERSION", "render"]

_TARGET = "openfunction"
API_VERSION = "core.openfunction.io/v1beta2"
_PROFILE = "kubernetes"
#: Where Google's buildpack puts the application; ``bindings`` is imported from there.
_BUILDPACK_APP_DIR = "/workspace"
#: The operation each output binding type is called with.
_OUTPUT_OPERATIONS = {"bindings.mysql": "exec"}
_DEFAULT_OPERATION = "create"


def render(d: Description) -> dict[str, str]:
    files = {f"{f.name}.yaml": document(_function(d, f), _TARGET, [f.description])
             for f in d.functions.values()}
    namespace = d.provider["namespace"]
    for name, s in d.subscriptions.items():
        if s.file in files:
            raise RenderError(f"subscriptions.{name}.file", f"{s.file} is also the file of "
                              "a Function in --target openfunction")
        files[s.file] = document(subscription_resource(d, s, namespace), _TARGET,
                                 [s.description, "The HTTP delivery of a topic to an "
                                  "OpenFunction HTTP function (see docs/deploy.md)."])
    return files


def _function(d: Description, f: Function) -> dict[str, Any]:
    of = d.provider["openfunction"]
    spec: dict[str, Any] = {"version": d.provider["image"]["tag"], "image": d.image(f)}
    if "imageCredentials" in of:
        spec["imageCredentials"] = {"name": of["imageCredentials"]}
    spec["build"] = {
        "builder": of["builder"],
        "env": {"GOOGLE_FUNCTION_TARGET": f.target, "GOOGLE_FUNCTION_SIGNATURE_TYPE": "http",
                "GOOGLE_FUNCTION_SOURCE": f.source},
        "srcRepo": {"url": of["srcRepo"]["url"], "revision": of["srcRepo"]["revision"]},
    }
    spec["serving"] = _serving(d, f)
    return {"apiVersion": API_VERSION, "kind": "Function",
            "metadata": {"name": f.name, "namespace": d.provider["namespace"],
                         "labels": labels(d, f)},
            "spec": spec}


def _serving(d: Description, f: Function) -> dict[str, Any]:
    env = {"PYTHONPATH": _BUILDPACK_APP_DIR, **function_env(d, f)}
    container: dict[str, Any] = {"name": "function", "imagePullPolicy": "IfNotPresent",
                                 "env": [*({"name": k, "value": v} for k, v in env.items()),
                                         api_token_env(d)]}
    if f.resources:
        container["resources"] = {kind: dict(values) for kind, values in f.resources.items()}
    rules = [{"matches": [{"path": {"type": "Exact", "value": path}, "method": method.upper()}
                          for path, method in f.routes]}]
    serving: dict[str, Any] = {
        "annotations": dapr_annotations(d, f),
        "labels": labels(d, f),
        "scaleOptions": {"minReplicas": f.scale_min, "maxReplicas": f.scale_max,
                         "knative": {"autoscaling.knative.dev/target": str(f.concurrency)}},
        "template": {"containers": [container]},
        "triggers": {"http": {"port": d.provider["containerPort"], "route": {"rules": rules}}},
    }
    outputs = [_output(d, name) for name in f.components
               if d.components[name].profiles[_PROFILE].type.startswith("bindings.")]
    outputs += [{"dapr": {"name": pubsub, "type": d.components[pubsub].profiles[_PROFILE].type,
                          "topic": topic}} for pubsub, topic in f.publishes]
    if outputs:
        serving["outputs"] = outputs
    if d.provider["openfunction"].get("inlineComponents", False):
        serving |= _inline_components(d, f)
    return serving


def _output(d: Description, name: str) -> dict[str, Any]:
    kind = d.components[name].profiles[_PROFILE].type
    return {"dapr": {"name": name, "type": kind,
                     "operation": _OUTPUT_OPERATIONS.get(kind, _DEFAULT_OPERATION)}}


def _inline_components(d: Description, f: Function) -> dict[str, Any]:
    """``serving.bindings`` / ``.pubsub`` / ``.states`` copies of the kubernetes components."""
    bindings: dict[str, Any] = {}
    pubsub: dict[str, Any] = {}
    states: dict[str, Any] = {}
    for name in f.components:
        spec = d.components[name].profiles[_PROFILE]
        for key, value in spec.metadata:
            if not isinstance(value, SecretRef):
                # The v1beta2 CRD types metadata[].value as an object, so the API server
                # refuses the plain strings Dapr components use: only secret refs fit.
                raise RenderError(
                    f"components.{name}.profiles.{_PROFILE}.metadata.{key}",
                    "a literal value cannot be inlined into an OpenFunction Function "
                    "(its CRD types metadata values as objects); use a secretKeyRef or set "
                    "provider.openfunction.inlineComponents: false")
        body = {"type": spec.type, "version": spec.version, "metadata": metadata_items(spec)}
        if spec.type.startswith("state."):
            states[name] = {"spec": body}
        elif spec.type.startswith("pubsub."):
            pubsub[name] = body
        else:
            bindings[name] = body
    sections = (("bindings", bindings), ("pubsub", pubsub), ("states", states))
    return {key: value for key, value in sections if value}

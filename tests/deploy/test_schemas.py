"""Every rendered manifest against the real schemas kept in shared/schemas.

CRDs (Knative Service v1, OpenFunction Function v1beta2, Dapr Component, Configuration and
Resiliency v1alpha1, Dapr Subscription v2alpha1) through jsonschema; Dapr Components also
against components-contrib's metadata field lists; dapr.yaml against the documented multi-app
run fields.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import all_resources, documents, load_yaml

#: (apiVersion, kind) -> (CRD file, version) in shared/schemas.
CRDS = {
    ("serving.knative.dev/v1", "Service"): ("knative-serving-service-crd.yaml", "v1"),
    ("core.openfunction.io/v1beta2", "Function"): ("openfunction-functions-crd.yaml", "v1beta2"),
    ("dapr.io/v1alpha1", "Component"): ("dapr-component-crd.yaml", "v1alpha1"),
    ("dapr.io/v1alpha1", "Configuration"): ("dapr-configuration-crd.yaml", "v1alpha1"),
    ("dapr.io/v1alpha1", "Resiliency"): ("dapr-resiliency-crd.yaml", "v1alpha1"),
    ("dapr.io/v2alpha1", "Subscription"): ("dapr-subscription-crd.yaml", "v2alpha1"),
}
#: Component types with no components-contrib metadata.yaml in shared/schemas: one it has not
#: copied, and the local runtime's own extension (no daprd has it).
NO_METADATA_FILE = {"bindings.localstorage", "pubsub.local.sqlite"}

#: The documented Multi-App Run fields (shared/schemas/SOURCES.md); `command` is in the examples.
RUN_APP_FIELDS = {
    "appDirPath", "appID", "resourcesPath", "resourcesPaths", "appChannelAddress",
    "configFilePath", "appProtocol", "appPort", "daprHTTPPort", "daprGRPCPort",
    "daprInternalGRPCPort", "metricsPort", "unixDomainSocket", "profilePort", "enableProfiling",
    "apiListenAddresses", "logLevel", "appMaxConcurrency", "placementHostAddress", "appSSL",
    "daprHTTPMaxRequestSize", "daprHTTPReadBufferSize", "enableAppHealthCheck",
    "appHealthCheckPath", "appHealthProbeInterval", "appHealthProbeTimeout", "appHealthThreshold",
    "enableApiLogging", "runtimePath", "env", "appLogDestination", "daprdLogDestination",
    "command",
}
RUN_INT_FIELDS = {"appPort", "daprHTTPPort", "daprGRPCPort", "daprInternalGRPCPort",
                  "metricsPort", "profilePort"}


def _crd_errors(crd_validator: Any, resource: dict[str, Any]) -> list[str]:
    key = (resource.get("apiVersion"), resource.get("kind"))
    assert key in CRDS, f"no CRD schema for {key}"
    validator = crd_validator(*CRDS[key])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(resource)]


def test_every_rendered_manifest_validates_against_its_crd(rendered: Any,
                                                             crd_validator: Any) -> None:
    checked = set()
    for target, path, resource in all_resources(rendered):
        if target == "local" and path == "dapr.yaml":
            continue
        assert _crd_errors(crd_validator, resource) == [], f"{target}/{path}"
        checked.add((resource["apiVersion"], resource["kind"]))
    assert checked == set(CRDS), "some manifest kinds were never rendered"


@pytest.mark.parametrize("key, breakage", [
    (("serving.knative.dev/v1", "Service"),
     lambda r: r["spec"]["template"]["spec"].pop("containers")),
    (("serving.knative.dev/v1", "Service"),
     lambda r: r["spec"]["template"]["spec"].__setitem__("containerConcurrency", "eight")),
    (("serving.knative.dev/v1", "Service"),  # a misspelt field the API server would drop
     lambda r: r["spec"]["template"]["spec"]["containers"][0].__setitem__("imagePullPolicie", "")),
    (("serving.knative.dev/v1", "Service"),  # a secretKeyRef without its key
     lambda r: r["spec"]["template"]["spec"]["containers"][0]["env"][-1]["valueFrom"][
         "secretKeyRef"].pop("key")),
    (("core.openfunction.io/v1beta2", "Function"), lambda r: r["spec"].pop("image")),
    (("core.openfunction.io/v1beta2", "Function"),
     lambda r: r["spec"]["serving"]["template"]["containers"][0]["env"][-1]["valueFrom"][
         "secretKeyRef"].pop("key")),
    (("core.openfunction.io/v1beta2", "Function"),
     lambda r: r["spec"]["serving"]["scaleOptions"].__setitem__("minReplicas", "0")),
    (("dapr.io/v1alpha1", "Component"), lambda r: r["spec"].pop("type")),
    (("dapr.io/v1alpha1", "Component"), lambda r: r.__setitem__("auth", {})),
    (("dapr.io/v2alpha1", "Subscription"), lambda r: r["spec"].pop("routes")),
    (("dapr.io/v2alpha1", "Subscription"),  # v1alpha1's single route, not v2alpha1's
     lambda r: r["spec"].__setitem__("route", "/event")),
    (("dapr.io/v2alpha1", "Subscription"),
     lambda r: r["spec"]["bulkSubscribe"].__setitem__("enabled", "no")),
    (("dapr.io/v1alpha1", "Resiliency"), lambda r: r["spec"].pop("targets")),
    (("dapr.io/v1alpha1", "Resiliency"),
     lambda r: r["spec"]["policies"]["retries"]["delivery"].__setitem__("maxRetries", "-1")),
    (("dapr.io/v1alpha1", "Resiliency"),  # "retries" is the policies' key, not a target's
     lambda r: r["spec"]["targets"]["apps"]["events-service"].__setitem__("retries", "x")),
])
def test_the_crd_check_rejects_a_broken_manifest(rendered: Any, crd_validator: Any,
                                                 key: tuple[str, str], breakage: Any) -> None:
    resource = next(copy.deepcopy(r) for _, _, r in all_resources(rendered)
                    if (r.get("apiVersion"), r.get("kind")) == key)
    assert _crd_errors(crd_validator, resource) == []
    breakage(resource)
    assert _crd_errors(crd_validator, resource) != []


def _allowed_metadata(schemas_dir: Path, component_type: str) -> tuple[set[str], set[str]]:
    """(allowed names, required names) from components-contrib's metadata.yaml."""
    meta = load_yaml(schemas_dir / "dapr-metadata" / f"{component_type}.yaml")
    builtin = load_yaml(schemas_dir / "dapr-metadata" / "builtin-authentication-profiles.yaml")
    fields = list(meta.get("metadata") or [])
    for profile in meta.get("authenticationProfiles") or []:
        fields += profile.get("metadata") or []
    for ref in meta.get("builtinAuthenticationProfiles") or []:
        for profile in builtin[ref["name"]]:
            fields += profile.get("metadata") or []
    allowed = {f["name"] for f in fields}
    required = {f["name"] for f in meta.get("metadata") or [] if f.get("required")}
    return allowed, required


def component_metadata_types(rendered: Any, schemas_dir: Path) -> set[str]:
    """Check every rendered Component's metadata names; return the component types seen."""
    types = set()
    for target, path, resource in all_resources(rendered):
        if resource.get("kind") != "Component":
            continue
        component_type = resource["spec"]["type"]
        types.add(component_type)
        if component_type in NO_METADATA_FILE:
            continue
        allowed, required = _allowed_metadata(schemas_dir, component_type)
        names = [item["name"] for item in resource["spec"]["metadata"]]
        assert len(names) == len(set(names)), f"{target}/{path}: repeated metadata"
        assert required <= set(names), f"{target}/{path}: missing {required - set(names)}"
        assert set(names) <= allowed, f"{target}/{path}: unknown {set(names) - allowed}"
    return types


def test_component_metadata_matches_components_contrib(rendered: Any, schemas_dir: Path) -> None:
    types = component_metadata_types(rendered, schemas_dir)
    assert {"state.redis", "state.in-memory", "bindings.mysql", "bindings.aws.s3",
            "secretstores.local.file", "pubsub.redis", "pubsub.local.sqlite"} <= types
    assert types - NO_METADATA_FILE == {t for t in types if
                                        (schemas_dir / "dapr-metadata" / f"{t}.yaml").is_file()}


def test_metadata_check_knows_unknown_and_missing_fields(schemas_dir: Path) -> None:
    allowed, required = _allowed_metadata(schemas_dir, "bindings.aws.s3")
    assert "bucket" in required and "secretKey" in allowed and "password" not in allowed
    allowed, required = _allowed_metadata(schemas_dir, "state.redis")
    assert required == {"redisHost"} and "redisPassword" in allowed


def test_dapr_yaml_uses_only_documented_multi_app_run_fields(rendered: Any) -> None:
    [run] = documents(rendered["local"]["dapr.yaml"])
    assert set(run) <= {"version", "common", "apps"} and run["version"] == 1
    assert set(run.get("common", {})) <= RUN_APP_FIELDS
    assert run["apps"], "no apps"
    for app in run["apps"]:
        assert set(app) <= RUN_APP_FIELDS, set(app) - RUN_APP_FIELDS
        assert isinstance(app["appDirPath"], str) and app["appDirPath"]
        assert all(isinstance(app[k], int) for k in RUN_INT_FIELDS & set(app))
        assert all(isinstance(v, str) for v in app.get("env", {}).values())
        assert isinstance(app["command"], list) and all(isinstance(a, str) for a in app["command"])
        for field in ("appLogDestination", "daprdLogDestination"):
            assert app.get(field, "file") in {"file", "console", "fileAndConsole"}

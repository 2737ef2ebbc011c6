"""One source of truth, and what must agree across the rendered files.

The committed config/ and dapr.yaml must be exactly what the renderer makes of serverless.yaml;
every component a function uses exists where it runs; routes, app ids and ports agree; no
secret value is written anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy.model import CREDENTIAL_FIELDS
from tests.conftest import REPO_ROOT
from tests.deploy.conftest import all_resources, documents


def _committed_local_files() -> list[str]:
    config = REPO_ROOT / "config"
    yaml_files = [p.relative_to(REPO_ROOT).as_posix() for p in config.rglob("*.yaml")]
    return sorted([*yaml_files, "dapr.yaml"])


@pytest.mark.parametrize("path", _committed_local_files())
def test_committed_local_file_is_what_the_renderer_makes(rendered: Any, path: str) -> None:
    files = rendered["local"]
    assert path in files, f"{path} is committed but serverless.yaml does not render it"
    committed = (REPO_ROOT / path).read_text(encoding="utf-8")
    assert committed == files[path], (
        f"{path} differs from serverless.yaml's rendering; edit serverless.yaml and run "
        "`make render` (python -m deploy render --target local --out .)")


def test_every_rendered_local_file_is_committed(rendered: Any) -> None:
    assert sorted(rendered["local"]) == _committed_local_files()


def _by_kind(rendered: Any, target: str, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for t, _, r in all_resources(rendered)
            if t == target and r.get("kind") == kind}


def _local_components(rendered: Any, directory: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for path, text in rendered["local"].items()
            if path.rsplit("/", 1)[0] == directory and path != "dapr.yaml"
            for doc in documents(text) if doc.get("kind") == "Component"}


def test_each_component_a_function_uses_exists_wherever_it_runs(rendered: Any,
                                                                description_data: Any) -> None:
    local = description_data["provider"]["local"]["profiles"]
    places = {"kubernetes": _by_kind(rendered, "kubernetes", "Component"),
              "services": _local_components(rendered, local["services"]),
              "embedded": _local_components(rendered, local["embedded"])}
    for name, function in description_data["functions"].items():
        for component in function.get("components", []):
            for place, components in places.items():
                assert component in components, f"{name} uses {component}, absent in {place}"
    for place, components in places.items():
        for name, component in components.items():
            store = component.get("auth", {}).get("secretStore")
            assert store is None or store in components or (
                place == "kubernetes" and store == "kubernetes"), f"{place}/{name}: {store}"


def test_openfunction_outputs_name_rendered_components(rendered: Any) -> None:
    components = _by_kind(rendered, "kubernetes", "Component")
    functions = _by_kind(rendered, "openfunction", "Function")
    outputs = [o["dapr"] for f in functions.values()
               for o in f["spec"]["serving"].get("outputs", [])]
    assert {"name": "events-db", "type": "bindings.mysql", "operation": "exec"} in outputs
    for output in outputs:
        assert components[output["name"]]["spec"]["type"] == output["type"]


def test_routes_match_the_declared_http_events(rendered: Any, description_data: Any) -> None:
    functions = _by_kind(rendered, "openfunction", "Function")
    for name, function in description_data["functions"].items():
        declared = {(e["http"]["path"], e["http"]["method"].upper()) for e in function["events"]}
        rules = functions[name]["spec"]["serving"]["triggers"]["http"]["route"]["rules"]
        routed = {(m["path"]["value"], m["method"]) for rule in rules for m in rule["matches"]}
        assert routed == declared, name
        # The trigger name is the function's own: it serves the route under its name.
        assert functions[name]["spec"]["build"]["env"]["GOOGLE_FUNCTION_TARGET"] == \
            function["handler"].rsplit(".", 1)[1]


def test_app_ids_and_ports_agree_and_are_unique(rendered: Any, description_data: Any) -> None:
    [run] = documents(rendered["local"]["dapr.yaml"])
    app_ids = [app["appID"] for app in run["apps"]]
    ports = [app[k] for app in run["apps"] for k in ("appPort", "daprHTTPPort", "daprGRPCPort")]
    assert len(set(app_ids)) == len(app_ids) == len(description_data["functions"])
    assert len(set(ports)) == len(ports)
    for app in run["apps"]:
        assert app["command"][app["command"].index("--port") + 1] == str(app["appPort"])
        assert (REPO_ROOT / app["command"][app["command"].index("--source") + 1]).is_file()
    knative = _by_kind(rendered, "knative", "Service")
    annotated = [s["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
                 for s in knative.values()]
    assert sorted(annotated) == sorted(app_ids)
    scopes = {s for _, _, r in all_resources(rendered) for s in r.get("scopes", [])}
    assert scopes <= set(app_ids)


def _secret_values(path: Path) -> list[str]:
    def flatten(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for value in node.values() for v in flatten(value)]
        return [str(node)]
    return [v for v in flatten(json.loads(path.read_text(encoding="utf-8"))) if v]


def test_no_secret_value_appears_in_anything_rendered(rendered: Any) -> None:
    secrets = [v for p in (REPO_ROOT / "config").rglob("*.json") for v in _secret_values(p)]
    assert secrets, "the local secrets files hold no value to look for"
    for target, files in rendered.items():
        for path, text in files.items():
            for secret in secrets:
                assert secret not in text, f"{target}/{path} holds a secret value"


def test_credentials_are_only_ever_secret_references(rendered: Any) -> None:
    seen = 0
    for target, path, resource in all_resources(rendered):
        if resource.get("kind") != "Component":
            continue
        for item in resource["spec"]["metadata"]:
            if item["name"] in CREDENTIAL_FIELDS:
                seen += 1
                assert "secretKeyRef" in item or item.get("value") == "", f"{target}/{path}"
    assert seen >= 4


@pytest.mark.parametrize("profile", ["services", "embedded"])
def test_local_runtime_reads_each_profile_and_finds_every_function_component(
        profile: str, description_data: Any) -> None:
    from sidecar.components.loader import read_component_specs

    directory = REPO_ROOT / description_data["provider"]["local"]["profiles"][profile]
    specs = {spec.name: spec for spec in read_component_specs([directory])}
    for function in description_data["functions"].values():
        for name in function.get("components", []):
            assert name in specs, f"{profile}: {name} not loaded"
            assert not specs[name].scopes or function["appId"] in specs[name].scopes


def _places(rendered: Any, description_data: Any) -> dict[str, dict[str, list[Any]]]:
    """Place (kubernetes, services, embedded) -> kind -> the resources rendered there."""
    local = description_data["provider"]["local"]["profiles"]
    folders = {"services": local["services"], "embedded": local["embedded"]}
    places: dict[str, dict[str, list[Any]]] = {}
    for target, path, resource in all_resources(rendered):
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        place = {"kubernetes": "kubernetes", "local": next(
            (p for p, f in folders.items() if f == folder), "")}.get(target, "")
        if place and "kind" in resource:
            places.setdefault(place, {}).setdefault(resource["kind"], []).append(resource)
    return places


def test_subscriptions_deliver_to_a_post_route_of_a_scoped_subscriber(
        rendered: Any, description_data: Any) -> None:
    routes = {f["appId"]: {e["http"]["path"] for e in f["events"] if e["http"]["method"] == "post"}
              for f in description_data["functions"].values()}
    places = _places(rendered, description_data)
    assert set(places) == {"kubernetes", "services", "embedded"}
    for place, kinds in places.items():
        components = {c["metadata"]["name"]: c for c in kinds["Component"]}
        assert kinds["Subscription"], place
        for subscription in kinds["Subscription"]:
            [app_id] = subscription["scopes"]
            spec = subscription["spec"]
            assert spec["routes"]["default"] in routes[app_id], (place, app_id)
            pubsub = components[spec["pubsubname"]]
            assert pubsub["spec"]["type"].startswith("pubsub."), place
            assert app_id in pubsub.get("scopes", [app_id]), place


def test_the_resiliency_covers_every_app_and_component_where_it_runs(
        rendered: Any, description_data: Any) -> None:
    app_ids = sorted(f["appId"] for f in description_data["functions"].values())
    for place, kinds in _places(rendered, description_data).items():
        [resiliency] = kinds["Resiliency"]
        spec = resiliency["spec"]
        assert sorted(spec["targets"]["apps"]) == app_ids, place
        assert sorted(resiliency["scopes"]) == app_ids, place
        targets = spec["targets"]["components"]
        for component in kinds["Component"]:
            name = component["metadata"]["name"]
            assert targets[name]["outbound"], (place, name)
            if component["spec"]["type"].startswith("pubsub."):
                assert targets[name]["inbound"]["retry"], (place, name)
        assert set(targets) == {c["metadata"]["name"] for c in kinds["Component"]}, place
        kinds_of = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}
        used = [*spec["targets"]["apps"].values(),
                *(policy for t in targets.values() for policy in t.values())]
        for policy in used:
            for key, name in policy.items():
                assert name in spec["policies"][kinds_of[key]], (place, key, name)


def test_the_database_is_not_retried_below_the_delivery_retries(rendered: Any) -> None:
    # A repeated INSERT could double an event; the delivery is retried as a whole instead.
    [resiliency] = [r for t, _, r in all_resources(rendered)
                    if t == "kubernetes" and r.get("kind") == "Resiliency"]
    targets = resiliency["spec"]["targets"]["components"]
    assert "retry" not in targets["events-db"]["outbound"]
    assert resiliency["spec"]["policies"]["retries"][
        targets["events-pubsub"]["inbound"]["retry"]]["maxRetries"] == -1


def test_openfunction_applies_the_same_subscriptions_as_kubernetes(rendered: Any) -> None:
    assert _by_kind(rendered, "openfunction", "Subscription") == \
        _by_kind(rendered, "kubernetes", "Subscription")
    functions = _by_kind(rendered, "openfunction", "Function")
    assert "dapr" not in functions["events"]["spec"]["serving"]["triggers"]
    outputs = [o["dapr"] for o in functions["grayscale"]["spec"]["serving"]["outputs"]]
    assert {"name": "events-pubsub", "type": "pubsub.redis", "topic": "events"} in outputs


def test_every_function_pod_uses_the_services_api_token_secret(rendered: Any,
                                                                description_data: Any) -> None:
    """daprd's injector reads dapr.io/api-token-secret (key ``token``) into daprd's
    DAPR_API_TOKEN; the function reads the same key, and the dapr SDK sends it."""
    secret = f"{description_data['service']}-dapr-api-token"
    expected_env = {"name": "DAPR_API_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}
    pods = []
    for target, _, resource in all_resources(rendered):
        if target == "knative":
            template = resource["spec"]["template"]
            pods.append((template["metadata"]["annotations"], template["spec"]["containers"]))
        elif target == "openfunction" and resource["kind"] == "Function":
            serving = resource["spec"]["serving"]
            pods.append((serving["annotations"], serving["template"]["containers"]))
    assert len(pods) == 2 * len(description_data["functions"])
    for pod_annotations, containers in pods:
        assert pod_annotations["dapr.io/api-token-secret"] == secret
        [container] = containers
        assert [e for e in container["env"] if e["name"] == "DAPR_API_TOKEN"] == [expected_env]
    # The token itself is never rendered: only a reference to the Secret.
    assert not any("DAPR_API_TOKEN" in text for files in (rendered["local"],
                                                          rendered["kubernetes"])
                   for text in files.values())

"""``serverless.yaml`` data -> a checked, typed ``Description`` (or a ``RenderError``).

First the shape (deploy/schema.py, through jsonschema), then what spans several fields: every
referenced component and function exists, app ids and ports are unique, credentials are only
ever secret references, component secret stores exist in the profile that uses them, each
subscription delivers to a route its function serves, and the resiliency section refers only to
policies, functions and components that exist and leaves none of them without a policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jsonschema

from deploy.errors import RenderError
from deploy.schema import PROFILES, SERVERLESS_SCHEMA

__all__ = [
    "CREDENTIAL_FIELDS",
    "Component",
    "ComponentSpec",
    "Description",
    "Function",
    "Resiliency",
    "SecretRef",
    "Subscription",
    "parse",
]

#: Metadata fields that hold credentials: a literal value is refused (an empty one is allowed).
CREDENTIAL_FIELDS = frozenset({"url", "connectionString", "password", "redisPassword",
                               "sentinelPassword", "accessKey", "secretKey", "sessionToken"})
#: Environment names the platform sets or that have their own field.
_RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION", "WORKERS",
                          "THREADS", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "DAPR_API_TOKEN",
                          "APP_ID"})
#: The secret store Dapr has built in on Kubernetes (no Component needed).
_BUILTIN_SECRET_STORE = "kubernetes"
#: Types only the local runtime knows (no daprd has them): refused in the kubernetes profile.
_LOCAL_ONLY_TYPES = frozenset({"pubsub.local.sqlite"})
#: The building block whose components take inbound (delivery) resiliency policies by default.
_PUBSUB = "pubsub"
#: Resiliency target field -> the policies section its value names.
_POLICY_KINDS = {"timeout": "timeouts", "retry": "retries", "circuitBreaker": "circuitBreakers"}


@dataclass(frozen=True)
class SecretRef:
    """A metadata value read from the component's secret store."""

    name: str
    key: str


@dataclass(frozen=True)
class ComponentSpec:
    """One component in one profile."""

    type: str
    version: str
    note: str
    secret_store: str
    metadata: tuple[tuple[str, str | SecretRef], ...]


@dataclass(frozen=True)
class Component:
    name: str
    description: str
    file: str
    scoped: bool
    profiles: Mapping[str, ComponentSpec]

    @property
    def block(self) -> str:
        """The building block (``state``, ``pubsub``, ...), the same in every profile."""
        return next(iter(self.profiles.values())).type.split(".", 1)[0]


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    source: str
    target: str
    app_id: str
    port: int
    dapr_http_port: int
    dapr_grpc_port: int
    components: tuple[str, ...]
    invokes: tuple[str, ...]
    #: (secret store, key) pairs the function reads through the Dapr secrets API.
    secrets: tuple[tuple[str, str], ...]
    #: (pub/sub component, topic) pairs the function publishes to.
    publishes: tuple[tuple[str, str], ...]
    routes: tuple[tuple[str, str], ...]
    scale_min: int
    scale_max: int
    concurrency: int
    workers: int
    threads: int
    resources: Mapping[str, Mapping[str, str]]
    environment: Mapping[str, str]
    build_args: Mapping[str, str]

    @property
    def paths(self) -> tuple[str, ...]:
        """Distinct route paths, in declaration order."""
        return tuple(dict.fromkeys(path for path, _ in self.routes))

    def env(self) -> dict[str, str]:
        """Environment of the function process: gunicorn sizing first, then its own."""
        return {"WORKERS": str(self.workers), "THREADS": str(self.threads), **self.environment}


@dataclass(frozen=True)
class Subscription:
    """Declarative subscription: ``topic`` of ``pubsub`` delivered to ``function`` at ``route``."""

    name: str
    description: str
    file: str
    pubsub: str
    topic: str
    function: str
    route: str
    dead_letter_topic: str
    #: ``bulkSubscribe`` as given (enabled, maxMessagesCount, maxAwaitDurationMs), or empty.
    bulk_subscribe: Mapping[str, Any]
    metadata: Mapping[str, str]


#: A resiliency target: ``timeout``/``retry``/``circuitBreaker`` -> policy name.
_Policies = Mapping[str, str]


@dataclass(frozen=True)
class Resiliency:
    """The policies, and every target's policies with the defaults already applied."""

    name: str
    description: str
    file: str
    #: Dapr's own ``spec.policies`` shape (timeouts, retries, circuitBreakers), as given.
    policies: Mapping[str, Mapping[str, Any]]
    #: Function name -> its policies as a service invocation target.
    apps: Mapping[str, _Policies]
    #: Component name -> {"outbound": ..., "inbound": ...} (directions with no policy left out).
    components: Mapping[str, Mapping[str, _Policies]]


@dataclass(frozen=True)
class Description:
    service: str
    provider: Mapping[str, Any]
    functions: Mapping[str, Function]
    components: Mapping[str, Component]
    subscriptions: Mapping[str, Subscription]
    resiliency: Resiliency | None

    def image(self, function: Function) -> str:
        image = self.provider["image"]
        return f"{image['registry']}/{function.name}:{image['tag']}"

    def scopes(self, component: Component) -> list[str]:
        """App ids allowed to load ``component``; empty means every app."""
        if not component.scoped:
            return []
        return [f.app_id for f in self.functions.values() if component.name in f.components]

    def secret_scopes(self, function: Function, profile: str) -> list[dict[str, Any]]:
        """``spec.secrets.scopes`` of ``function`` in ``profile``: every secret store of the
        profile denies all but the keys the function lists for it."""
        stores = [name for name in self.components if _is_secret_store(self, name, profile)]
        if profile == "kubernetes":
            stores.append(_BUILTIN_SECRET_STORE)
        scopes = []
        for store in stores:
            scope: dict[str, Any] = {"storeName": store, "defaultAccess": "deny"}
            allowed = [key for name, key in function.secrets if name == store]
            if allowed:
                scope["allowedSecrets"] = allowed
            scopes.append(scope)
        return scopes

    def app_ids(self) -> list[str]:
        return [f.app_id for f in self.functions.values()]


def parse(data: object) -> Description:
    """Check ``data`` (the loaded YAML) and return it as a ``Description``."""
    _check_shape(data)
    assert isinstance(data, dict)
    components = {name: _component(name, raw) for name, raw in data["components"].items()}
    functions = {name: _function(name, raw) for name, raw in data["functions"].items()}
    subscriptions = {name: _subscription(name, raw)
                     for name, raw in data.get("subscriptions", {}).items()}
    description = Description(data["service"], data["provider"], functions, components,
                              subscriptions, None)
    _check_functions(description)
    _check_components(description)
    _check_subscriptions(description)
    if "resiliency" in data:
        description = replace(description,
                              resiliency=_resiliency(description, data["resiliency"]))
    _check_files(description)
    return description


def _check_shape(data: object) -> None:
    validator = jsonschema.Draft202012Validator(SERVERLESS_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        field = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise RenderError(field, error.message)


def _component(name: str, raw: Mapping[str, Any]) -> Component:
    profiles = {}
    for profile, spec in raw["profiles"].items():
        metadata = tuple((key, SecretRef(**value["secretKeyRef"]) if isinstance(value, dict)
                          else value) for key, value in spec.get("metadata", {}).items())
        profiles[profile] = ComponentSpec(spec["type"], spec.get("version", "v1"),
                                          spec.get("note", ""), spec.get("secretStore", ""),
                                          metadata)
    return Component(name, raw.get("description", ""), raw.get("file", f"{name}.yaml"),
                     raw.get("scoped", False), profiles)


def _function(name: str, raw: Mapping[str, Any]) -> Function:
    module, _, target = raw["handler"].rpartition(".")
    # The schema's pattern allows no dot or leading slash, so the path stays in the repository.
    source = f"{module}.py"
    routes = tuple((e["http"]["path"], e["http"]["method"]) for e in raw["events"])
    resources = {kind: {k: str(v) for k, v in values.items()}
                 for kind, values in raw.get("resources", {}).items()}
    return Function(
        name=name, description=raw.get("description", ""), source=source, target=target,
        app_id=raw["appId"], port=raw["port"], dapr_http_port=raw["dapr"]["httpPort"],
        dapr_grpc_port=raw["dapr"]["grpcPort"], components=tuple(raw.get("components", ())),
        invokes=tuple(raw.get("invokes", ())),
        secrets=tuple((s["store"], s["key"]) for s in raw.get("secrets", ())),
        publishes=tuple((p["pubsub"], p["topic"]) for p in raw.get("publishes", ())),
        routes=routes, scale_min=raw["scaling"]["min"],
        scale_max=raw["scaling"]["max"], concurrency=raw["concurrency"],
        workers=raw["workers"], threads=raw["threads"], resources=resources,
        environment=dict(raw.get("environment", {})),
        build_args=dict(raw.get("build", {}).get("args", {})))


def _check_functions(d: Description) -> None:
    _unique("appId", {f"functions.{n}.appId": f.app_id for n, f in d.functions.items()})
    ports: dict[str, int] = {}
    for name, f in d.functions.items():
        ports |= {f"functions.{name}.port": f.port, f"functions.{name}.dapr.httpPort":
                  f.dapr_http_port, f"functions.{name}.dapr.grpcPort": f.dapr_grpc_port}
    _unique("port", ports)
    for name, f in d.functions.items():
        where = f"functions.{name}"
        if f.scale_min > f.scale_max:
            raise RenderError(f"{where}.scaling", f"min {f.scale_min} is above max {f.scale_max}")
        if len(set(f.routes)) != len(f.routes):
            raise RenderError(f"{where}.events", "the same path and method appear twice")
        for index, component in enumerate(f.components):
            if component not in d.components:
                raise RenderError(f"{where}.components.{index}",
                                  f"no component named {component!r} (have: "
                                  f"{', '.join(d.components)})")
            missing = [p for p in PROFILES if p not in d.components[component].profiles]
            if missing:
                raise RenderError(f"components.{component}.profiles",
                                  f"used by function {name!r} but missing profile(s) "
                                  f"{', '.join(missing)}")
        for index, other in enumerate(f.invokes):
            if other not in d.functions:
                raise RenderError(f"{where}.invokes.{index}", f"no function named {other!r}")
        for index, (pubsub, _) in enumerate(f.publishes):
            _check_pubsub_of(d, f, pubsub, f"{where}.publishes.{index}.pubsub")
        for index, (store, _) in enumerate(f.secrets):
            if not any(_is_secret_store(d, store, p) for p in PROFILES):
                raise RenderError(f"{where}.secrets.{index}.store",
                                  f"no secret store {store!r} in any profile")
        for key in f.environment:
            if key in _RESERVED_ENV:
                raise RenderError(f"{where}.environment.{key}",
                                  "is set by the platform or by its own field")


def _unique(what: str, values: Mapping[str, object]) -> None:
    """The second field holding a value already seen is the one reported."""
    first: dict[object, str] = {}
    for field, value in values.items():
        if value in first:
            raise RenderError(field, f"{what} {value} is also used by {first[value]}")
        first[value] = field


def _check_pubsub_of(d: Description, f: Function, pubsub: str, field: str) -> None:
    """``pubsub`` is a pub/sub component that function ``f`` lists in its ``components``."""
    if pubsub not in f.components:
        raise RenderError(field, f"{pubsub!r} is not in functions.{f.name}.components")
    if d.components[pubsub].block != _PUBSUB:
        raise RenderError(field, f"{pubsub!r} is a {d.components[pubsub].block} component, "
                          "not a pub/sub one")


def _check_components(d: Description) -> None:
    for name, component in d.components.items():
        for profile, spec in component.profiles.items():
            where = f"components.{name}.profiles.{profile}"
            block = spec.type.split(".", 1)[0]
            if block != component.block:
                raise RenderError(f"{where}.type", f"a {block} component, but the first "
                                  f"profile's is {component.block}: one name, one building block")
            if profile == "kubernetes" and spec.type in _LOCAL_ONLY_TYPES:
                raise RenderError(f"{where}.type",
                                  f"{spec.type} is known to the local runtime only, not to daprd")
            for key, value in spec.metadata:
                if key in CREDENTIAL_FIELDS and isinstance(value, str) and value:
                    raise RenderError(f"{where}.metadata.{key}",
                                      "holds a credential: use {secretKeyRef: {name, key}}")
                if isinstance(value, SecretRef) and not spec.secret_store:
                    raise RenderError(f"{where}.secretStore",
                                      f"required: metadata.{key} is a secretKeyRef")
            if spec.secret_store:
                _check_secret_store(d, profile, spec.secret_store, f"{where}.secretStore")


def _is_secret_store(d: Description, store: str, profile: str) -> bool:
    if profile == "kubernetes" and store == _BUILTIN_SECRET_STORE:
        return True
    component = d.components.get(store)
    spec = component.profiles.get(profile) if component else None
    return spec is not None and spec.type.startswith("secretstores.")


def _check_secret_store(d: Description, profile: str, store: str, field: str) -> None:
    if profile == "kubernetes" and store == _BUILTIN_SECRET_STORE:
        return
    component = d.components.get(store)
    spec = component.profiles.get(profile) if component else None
    if spec is None or not spec.type.startswith("secretstores."):
        raise RenderError(field, f"no secret store component {store!r} in profile {profile}")


def _subscription(name: str, raw: Mapping[str, Any]) -> Subscription:
    return Subscription(
        name=name, description=raw.get("description", ""), file=raw.get("file", f"{name}.yaml"),
        pubsub=raw["pubsub"], topic=raw["topic"], function=raw["function"], route=raw["route"],
        dead_letter_topic=raw.get("deadLetterTopic", ""),
        bulk_subscribe=dict(raw.get("bulkSubscribe", {})), metadata=dict(raw.get("metadata", {})))


def _check_subscriptions(d: Description) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for name, s in d.subscriptions.items():
        where = f"subscriptions.{name}"
        f = d.functions.get(s.function)
        if f is None:
            raise RenderError(f"{where}.function", f"no function named {s.function!r}")
        if s.pubsub not in d.components:
            raise RenderError(f"{where}.pubsub", f"no component named {s.pubsub!r}")
        _check_pubsub_of(d, f, s.pubsub, f"{where}.pubsub")
        posts = [path for path, method in f.routes if method == "post"]
        if s.route not in posts:
            raise RenderError(f"{where}.route", f"{s.route} is not a post route of "
                              f"functions.{f.name}.events (post routes: "
                              f"{', '.join(posts) or 'none'})")
        if s.dead_letter_topic == s.topic:
            raise RenderError(f"{where}.deadLetterTopic", "is the subscribed topic itself")
        # daprd refuses a second subscription of one app to the same topic of one component.
        key = (f.app_id, s.pubsub, s.topic)
        if key in seen:
            raise RenderError(f"{where}.topic", f"{s.function} already subscribes to "
                              f"{s.pubsub}/{s.topic} in subscriptions.{seen[key]}")
        seen[key] = name


def _check_files(d: Description) -> None:
    """Components, subscriptions and the resiliency share the folders they are written to."""
    files = {f"components.{n}.file": c.file for n, c in d.components.items()}
    files |= {f"subscriptions.{n}.file": s.file for n, s in d.subscriptions.items()}
    if d.resiliency is not None:
        files["resiliency.file"] = d.resiliency.file
    _unique("file", files)


def _resiliency(d: Description, raw: Mapping[str, Any]) -> Resiliency:
    """Check the section's references and apply its defaults to every function and component."""
    policies = raw["policies"]
    for name, retry in policies.get("retries", {}).items():
        unused = "maxInterval" if retry["policy"] == "constant" else "duration"
        if unused in retry:
            raise RenderError(f"resiliency.policies.retries.{name}.{unused}",
                              f"does not apply to a {retry['policy']} retry policy")
    defaults = raw.get("defaults", {})
    targets = raw.get("targets", {})
    for direction, given in defaults.items():
        _check_policy_names(policies, given, f"resiliency.defaults.{direction}")
    for name, given in targets.get("apps", {}).items():
        if name not in d.functions:
            raise RenderError(f"resiliency.targets.apps.{name}", f"no function named {name!r} "
                              f"(have: {', '.join(d.functions)})")
        _check_policy_names(policies, given, f"resiliency.targets.apps.{name}")
    for name, given in targets.get("components", {}).items():
        if name not in d.components:
            raise RenderError(f"resiliency.targets.components.{name}",
                              f"no component named {name!r} (have: {', '.join(d.components)})")
        for direction, policy in given.items():
            _check_policy_names(policies, policy,
                                f"resiliency.targets.components.{name}.{direction}")
    apps = {name: targets.get("apps", {}).get(name, defaults.get("apps", {}))
            for name in d.functions}
    components = {name: _component_policies(c, defaults, targets.get("components", {}))
                  for name, c in d.components.items()}
    _check_coverage(apps, components, d)
    return Resiliency(raw.get("name", d.service), raw.get("description", ""),
                      raw.get("file", "resiliency.yaml"), policies, apps, components)


def _check_policy_names(policies: Mapping[str, Any], given: Mapping[str, str],
                        where: str) -> None:
    for key, policy in given.items():
        kind = _POLICY_KINDS[key]
        if policy not in policies.get(kind, {}):
            raise RenderError(f"{where}.{key}", f"no {kind} policy named {policy!r} (have: "
                              f"{', '.join(policies.get(kind, {})) or 'none'})")


def _component_policies(c: Component, defaults: Mapping[str, Any],
                        targets: Mapping[str, Any]) -> dict[str, _Policies]:
    # A target's own entry replaces the default of its direction as a whole, so it can also
    # leave a policy out. Inbound defaults reach pub/sub only (deliveries to the app).
    defaulted = ("outbound", "inbound") if c.block == _PUBSUB else ("outbound",)
    own = targets.get(c.name, {})
    chosen = {direction: own.get(direction, defaults.get(direction, {})
                                 if direction in defaulted else {})
              for direction in ("outbound", "inbound")}
    return {direction: policy for direction, policy in chosen.items() if policy}


def _check_coverage(apps: Mapping[str, _Policies],
                    components: Mapping[str, Mapping[str, _Policies]],
                    d: Description) -> None:
    """Every function and component ends up with a policy: nothing runs on Dapr's defaults."""
    bare = [name for name, policy in apps.items() if not policy]
    if bare:
        raise RenderError("resiliency.defaults.apps", f"function(s) {', '.join(bare)} have no "
                          "policy: set defaults.apps or targets.apps.<function>")
    for direction in ("outbound", "inbound"):
        bare = [name for name, c in d.components.items() if direction not in components[name]
                and (direction == "outbound" or c.block == _PUBSUB)]
        if bare:
            raise RenderError(f"resiliency.defaults.{direction}",
                              f"component(s) {', '.join(bare)} have no {direction} policy: set "
                              f"defaults.{direction} or targets.components.<component>."
                              f"{direction}")

"""``serverless.yaml`` data -> a checked, typed ``Description`` (or a ``RenderError``).

First the shape (deploy/schema.py, through jsonschema), then what spans several fields: every
referenced component and function exists, app ids and ports are unique, credentials are only
ever secret references, component secret stores exist in the profile that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    "SecretRef",
    "parse",
]

#: Metadata fields that hold credentials: a literal value is refused (an empty one is allowed).
CREDENTIAL_FIELDS = frozenset({"url", "connectionString", "password", "redisPassword",
                               "sentinelPassword", "accessKey", "secretKey", "sessionToken"})
#: Environment names the platform sets or that have their own field.
_RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION", "WORKERS",
                          "THREADS", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "APP_ID"})
#: The secret store Dapr has built in on Kubernetes (no Component needed).
_BUILTIN_SECRET_STORE = "kubernetes"


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
class Description:
    service: str
    provider: Mapping[str, Any]
    functions: Mapping[str, Function]
    components: Mapping[str, Component]

    def image(self, function: Function) -> str:
        image = self.provider["image"]
        return f"{image['registry']}/{function.name}:{image['tag']}"

    def scopes(self, component: Component) -> list[str]:
        """App ids allowed to load ``component``; empty means every app."""
        if not component.scoped:
            return []
        return [f.app_id for f in self.functions.values() if component.name in f.components]


def parse(data: object) -> Description:
    """Check ``data`` (the loaded YAML) and return it as a ``Description``."""
    _check_shape(data)
    assert isinstance(data, dict)
    components = {name: _component(name, raw) for name, raw in data["components"].items()}
    functions = {name: _function(name, raw) for name, raw in data["functions"].items()}
    description = Description(data["service"], data["provider"], functions, components)
    _check_functions(description)
    _check_components(description)
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
        invokes=tuple(raw.get("invokes", ())), routes=routes, scale_min=raw["scaling"]["min"],
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


def _check_components(d: Description) -> None:
    for name, component in d.components.items():
        for profile, spec in component.profiles.items():
            where = f"components.{name}.profiles.{profile}"
            for key, value in spec.metadata:
                if key in CREDENTIAL_FIELDS and isinstance(value, str) and value:
                    raise RenderError(f"{where}.metadata.{key}",
                                      "holds a credential: use {secretKeyRef: {name, key}}")
                if isinstance(value, SecretRef) and not spec.secret_store:
                    raise RenderError(f"{where}.secretStore",
                                      f"required: metadata.{key} is a secretKeyRef")
            if spec.secret_store:
                _check_secret_store(d, profile, spec.secret_store, f"{where}.secretStore")


def _check_secret_store(d: Description, profile: str, store: str, field: str) -> None:
    if profile == "kubernetes" and store == _BUILTIN_SECRET_STORE:
        return
    component = d.components.get(store)
    spec = component.profiles.get(profile) if component else None
    if spec is None or not spec.type.startswith("secretstores."):
        raise RenderError(field, f"no secret store component {store!r} in profile {profile}")

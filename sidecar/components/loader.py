"""Component files -> a ``Registry`` of ready component instances, as daprd loads them in
self-hosted mode.

Documents come from ``resources.read_resources`` (daprd's disk loader: non-YAML files and
documents that do not parse are skipped with a warning). Of those, daprd's rules
(``pkg/internal/loader/disk/manifest.go``, ``pkg/runtime/processor/``,
``pkg/runtime/processor/secret/secret.go``, ``pkg/runtime/meta/meta.go``,
``pkg/components/versioning.go``):

- only ``apiVersion: dapr.io/v1alpha1`` + ``kind: Component`` documents count, others are
  ignored silently; a name that is not a valid path segment (``.``, ``..``, ``/``, ``%``) or
  a document whose fields have the wrong types is skipped with a warning; unknown fields are
  ignored;
- duplicate names are an error, found before ``scopes`` are applied; then a component whose
  ``scopes`` do not list the app id is not loaded;
- an empty ``spec.version`` is the initial version (``""``, ``v0`` and ``v1`` all are);
- metadata: ``value`` (``{uuid}`` and ``{appID}`` substituted), else ``envRef`` (names
  starting with ``DAPR_`` and ``APP_API_TOKEN`` are refused with a warning, and
  ``DAPR_ENV_KEYS`` is an allow-list when set), or ``secretKeyRef`` read through the store
  named by ``auth.secretStore``; a secret that cannot be read leaves the value empty with a
  warning; a store that is not loaded leaves the component unloaded (daprd keeps it pending);
  the last of two items with one name wins;
- names match the type's declared fields case-insensitively and reach the component in the
  declared spelling; undeclared names are ignored with one warning per component; a missing
  required field fails the component's init;
- init runs in a thread with ``spec.initTimeout`` (a Go duration, default 5s); past it the
  component fails as daprd's does;
- ``spec.ignoreErrors: true`` turns any failure of that component into a logged error.

Secret stores are built first. Failures are ``ComponentConfigError``s naming the file, the
component and the field.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ComponentConfigError, DaprError
from ..resources import Resource, read_resources
from ..settings import COMPONENT_INIT_TIMEOUT
from .base import Component
from .go_values import format_go_duration, go_text, parse_go_duration
from .pubsub.base import PubSub
from .pubsub.common import PUBSUB_COMMON_METADATA, template_metadata
from .registry import COMPONENT_TYPES, LoadedComponent, Registry, component_class
from .secrets.base import SecretStore
from .state.base import STATE_COMMON_METADATA, StateStore, key_prefix

__all__ = ["API_VERSION", "ComponentSpec", "load_components", "read_component_specs"]

#: The only apiVersion daprd reads Components with.
API_VERSION = "dapr.io/v1alpha1"
_KIND = "Component"
# pkg/components/versioning.go: IsInitialVersion.
_INITIAL_VERSIONS = frozenset({"", "v0", "v1"})
_ENV_KEYS_ALLOWLIST = "DAPR_ENV_KEYS"
_log = logging.getLogger(__name__)


class _Skip(Exception):
    """A document daprd's loader skips (with a warning), not a start-up error."""


@dataclass(frozen=True)
class ComponentSpec:
    """One ``kind: Component`` document, shape-checked as Go's decoder does."""

    source: Path
    name: str
    type_name: str
    version: str
    metadata: tuple[Mapping[str, Any], ...] = ()
    secret_store: str = ""
    scopes: tuple[str, ...] = ()
    ignore_errors: bool = False
    init_timeout: str = ""

    def error(self, message: str) -> ComponentConfigError:
        return ComponentConfigError(f"{self.source}: component {self.name!r}: {message}")

    @property
    def log_name(self) -> str:
        """daprd's ``Component.LogName()``: ``name (type/version)``."""
        return f"{self.name} ({self.type_name}/{self.version})"


def _typed(value: Any, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    """``value`` if it has the Go field's type (absent/null is the zero value), else _Skip."""
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is str and isinstance(value, bool)):
        raise _Skip(f"{where}: cannot unmarshal {type(value).__name__} into the field")
    return value


def _check_item(item: Any, where: str) -> Mapping[str, Any]:
    item = _typed(item, Mapping, where, {})
    _typed(item.get("name"), str, f"{where}.name", "")
    _typed(item.get("envRef"), str, f"{where}.envRef", "")
    ref = _typed(item.get("secretKeyRef"), Mapping, f"{where}.secretKeyRef", {})
    _typed(ref.get("name"), str, f"{where}.secretKeyRef.name", "")
    _typed(ref.get("key"), str, f"{where}.secretKeyRef.key", "")
    return item


def _check_name(name: str) -> None:
    # k8s apimachinery path.IsValidPathSegmentName, as daprd's disk loader checks it.
    if name in (".", ".."):
        raise _Skip(f"invalid name {name!r} for Component: may not be '.' or '..'")
    for bad in ("/", "%"):
        if bad in name:
            raise _Skip(f"invalid name {name!r} for Component: may not contain {bad!r}")


def _parse_spec(resource: Resource) -> ComponentSpec:
    doc = resource.document
    meta = _typed(doc.get("metadata"), Mapping, "metadata", {})
    name = _typed(meta.get("name"), str, "metadata.name", "")
    _check_name(name)
    spec = _typed(doc.get("spec"), Mapping, "spec", {})
    items = _typed(spec.get("metadata"), list, "spec.metadata", [])
    auth = _typed(doc.get("auth"), Mapping, "auth", {})
    scopes = _typed(doc.get("scopes"), list, "scopes", [])
    for i, scope in enumerate(scopes):
        _typed(scope, str, f"scopes[{i}]", "")
    return ComponentSpec(
        source=resource.source, name=name,
        type_name=_typed(spec.get("type"), str, "spec.type", ""),
        version=_typed(spec.get("version"), str, "spec.version", ""),
        metadata=tuple(_check_item(item, f"spec.metadata[{i}]") for i, item in enumerate(items)),
        secret_store=_typed(auth.get("secretStore"), str, "auth.secretStore", ""),
        scopes=tuple(scopes),
        ignore_errors=_typed(spec.get("ignoreErrors"), bool, "spec.ignoreErrors", False),
        init_timeout=_typed(spec.get("initTimeout"), str, "spec.initTimeout", ""))


def read_component_specs(paths: Sequence[Path]) -> list[ComponentSpec]:
    """Every Component document under ``paths`` that daprd would read, in file-name order."""
    specs = []
    for resource in read_resources(paths, _KIND):
        if resource.api_version != API_VERSION:
            continue  # daprd ignores other apiVersions without a word
        try:
            specs.append(_parse_spec(resource))
        except _Skip as skip:
            _log.warning("%s: Component document skipped: %s", resource.source, skip)
    return specs



def _env_allowed(name: str, environ: Mapping[str, str]) -> bool:
    """daprd's isEnvVarAllowed: no DAPR_* or APP_API_TOKEN; DAPR_ENV_KEYS as an allow-list."""
    key = name.upper()
    if not key or key == "APP_API_TOKEN" or key.startswith("DAPR_") or " " in key:
        return False
    allowlist = environ.get(_ENV_KEYS_ALLOWLIST, "")
    return not allowlist or key in allowlist.split(" ")


class _Pending(Exception):
    """The component's secret store is not loaded: daprd leaves the component pending."""


def _secret_value(spec: ComponentSpec, item_name: str, ref: Mapping[str, Any],
                  stores: Mapping[str, SecretStore], cache: dict[str, dict[str, str]]) -> str:
    secret_name = ref["name"]
    store = stores.get(spec.secret_store)
    if store is None:
        _log.warning("Component %s references a secret store that isn't loaded: %r",
                     spec.name, spec.secret_store)
        if spec.secret_store:
            raise _Pending(spec.secret_store)
        return ""
    if secret_name not in cache:
        try:
            cache[secret_name] = store.get(secret_name, {})
        except DaprError as err:
            _log.error("Error getting secret %r for metadata %r of component %s from store "
                       "%r: %s (the value stays empty)", secret_name, item_name, spec.name,
                       spec.secret_store, err.message)
            return ""
    return cache[secret_name].get(ref.get("key") or secret_name, "")


def _text_value(value: Any, app_id: str) -> str:
    text = go_text(value)
    while "{uuid}" in text:
        text = text.replace("{uuid}", str(uuid.uuid4()), 1)
    return text.replace("{appID}", app_id)


def _resolve_metadata(spec: ComponentSpec, stores: Mapping[str, SecretStore],
                      environ: Mapping[str, str], app_id: str) -> dict[str, str]:
    resolved: dict[str, str] = {}
    cache: dict[str, dict[str, str]] = {}
    for item in spec.metadata:
        name = item.get("name") or ""
        value = item.get("value")
        has_value = value is not None and go_text(value) != ""
        if not has_value and item.get("envRef"):
            env_name = item["envRef"]
            if _env_allowed(env_name, environ):
                resolved[name] = environ.get(env_name, "")
            else:
                _log.warning("Component %s references an env variable that isn't allowed: %s",
                             spec.name, env_name)
                resolved[name] = ""
            continue
        ref = item.get("secretKeyRef") or {}
        if ref.get("name"):
            resolved[name] = _secret_value(spec, name, ref, stores, cache)
            continue
        resolved[name] = _text_value(value, app_id)
    return resolved



def _declared(cls: type[Component]) -> frozenset[str]:
    declared = cls.required_metadata | cls.optional_metadata
    if issubclass(cls, StateStore):
        declared |= STATE_COMMON_METADATA
    if issubclass(cls, PubSub):
        declared |= PUBSUB_COMMON_METADATA
    return declared


def _fold_metadata(spec: ComponentSpec, cls: type[Component],
                   given: Mapping[str, str]) -> dict[str, str]:
    """Match names case-insensitively to the declared ones, as dapr/kit's decoder does."""
    spelling = {name.lower(): name for name in _declared(cls)}
    folded: dict[str, str] = {}
    unknown = []
    for name, value in given.items():
        declared = spelling.get(name.lower())
        if declared is None:
            unknown.append(name)
        else:
            folded[declared] = value
    if unknown:
        _log.warning("%s: component %r: metadata %s not declared by %s; ignored (declared: %s)",
                     spec.source, spec.name, ", ".join(repr(n) for n in sorted(unknown)),
                     spec.type_name, ", ".join(sorted(spelling.values())) or "none")
    for name in sorted(cls.required_metadata):
        if not folded.get(name):
            raise spec.error(f"metadata {name!r}: missing required field for {spec.type_name}")
    return folded


def _init_timeout(text: str) -> float:
    try:
        seconds = parse_go_duration(text) / 1e9 if text else 0.0
    except ValueError:
        seconds = 0.0
    return seconds if seconds > 0 else COMPONENT_INIT_TIMEOUT


class _InitCall:
    """``create()`` in a thread; a result that arrives after the timeout is closed."""

    def __init__(self, create: Callable[[], Component]) -> None:
        self._create = create
        self._lock = threading.Lock()
        self._done = False
        self._abandoned = False
        self._result: Component | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        result: Component | None = None
        error: BaseException | None = None
        try:
            result = self._create()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            error = err
        with self._lock:
            self._done, self._result, self._error = True, result, error
            late = self._abandoned
        if late and result is not None:
            result.close()

    def run(self, timeout: float, name: str) -> Component | None:
        """The instance; raises what ``create`` raised; None on timeout."""
        thread = threading.Thread(target=self._run, name=f"init-{name}", daemon=True)
        thread.start()
        thread.join(timeout)
        with self._lock:
            if not self._done:
                self._abandoned = True
                return None
        if self._error is not None:
            raise self._error
        return self._result


def _build(spec: ComponentSpec, stores: Mapping[str, SecretStore], app_id: str,
           environ: Mapping[str, str], registry: Registry) -> None:
    given = _resolve_metadata(spec, stores, environ, app_id)  # _Pending: retried later
    if spec.type_name not in COMPONENT_TYPES:
        raise spec.error(f"spec.type: unknown type {spec.type_name!r} (supported: "
                         f"{', '.join(sorted(COMPONENT_TYPES))})")
    if spec.version.lower() not in _INITIAL_VERSIONS:
        raise spec.error(f"spec.version: couldn't find {spec.type_name}/{spec.version} "
                         "(this runtime has v1 of every type)")
    try:
        cls = component_class(spec.type_name)
    except ImportError as err:
        raise spec.error(f"spec.type: {spec.type_name} is not available here: {err}") from err
    metadata = _fold_metadata(spec, cls, given)
    if issubclass(cls, PubSub):
        # daprd fills consumerID with the app id; brokers name consumer groups/queues from it.
        try:
            metadata = template_metadata(metadata, app_id, environ)
        except ComponentConfigError as err:
            raise spec.error(err.message) from err
    prefix = key_prefix(metadata.pop("keyPrefix", None), app_id, spec.name)
    actor_store = metadata.pop("actorStateStore", "").strip().lower() == "true"
    timeout = _init_timeout(spec.init_timeout)
    try:
        instance = _InitCall(lambda: cls(spec.name, metadata)).run(timeout, spec.name)
    except ComponentConfigError as err:
        raise spec.error(err.message) from err
    except Exception as err:
        raise spec.error(f"init failed: {err}") from err
    if instance is None:
        raise spec.error(f"init timeout for component {spec.log_name} exceeded after "
                         f"{format_go_duration(int(timeout * 1e9))}")
    capabilities = tuple(instance.features) + (("ACTOR",) if actor_store else ())
    registry.add(LoadedComponent(spec.name, spec.type_name, spec.version, instance,
                                 capabilities), prefix)


def _unique(specs: list[ComponentSpec]) -> list[ComponentSpec]:
    """Refuse a second component of one name (whatever its scopes), unless it ignores errors."""
    seen: dict[str, ComponentSpec] = {}
    for spec in specs:
        first = seen.get(spec.name)
        if first is None:
            seen[spec.name] = spec
            continue
        error = spec.error(f"metadata.name: duplicate name, also defined in {first.source}")
        if not spec.ignore_errors:
            raise error
        _log.error("%s (ignoreErrors: the second one is skipped)", error.message)
    return list(seen.values())


def load_components(paths: Sequence[Path], app_id: str,
                    environ: Mapping[str, str] | None = None) -> Registry:
    """Read, check and build every component ``app_id`` may use (secret stores first)."""
    environ = os.environ if environ is None else environ
    specs = [s for s in _unique(read_component_specs(paths))
             if not s.scopes or app_id in s.scopes]
    registry = Registry()
    # secret store name -> components waiting for it (daprd's pendingComponentDependents)
    pending: dict[str, list[ComponentSpec]] = {}
    queue = sorted(specs, key=lambda s: not s.type_name.startswith("secretstores."))
    try:
        while queue:
            spec = queue.pop(0)
            try:
                _build(spec, registry.secret_stores, app_id, environ, registry)
            except _Pending as unready:
                pending.setdefault(str(unready), []).append(spec)
                continue
            except ComponentConfigError as err:
                if not spec.ignore_errors:
                    raise
                _log.error("process component %s error: %s (ignoreErrors: skipped)",
                           spec.name, err.message)
                continue
            queue[:0] = pending.pop(spec.name, [])
    except BaseException:
        registry.close()
        raise
    for store, waiting in pending.items():
        for spec in waiting:
            _log.warning("%s: component %r is not loaded: its secret store %r never loaded",
                         spec.source, spec.name, store)
    return registry


"""Component files -> a ``Registry`` of ready component instances, as daprd loads them.

Every ``.yaml``/``.yml`` file directly inside each resources path is read (not recursively,
multi-document files allowed); documents of other kinds (Configuration, Subscription, ...) are
skipped as daprd does. A component whose ``scopes`` do not list the app id is not loaded.
Secret stores are built first; the other components' ``secretKeyRef`` values are then read
through the store named by ``auth.secretStore``. Any mistake is a ``ComponentConfigError``
naming the file, the component and the field.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ComponentConfigError, DaprError
from ..resources import read_resources
from .base import Component
from .go_values import go_text
from .pubsub.base import PubSub
from .pubsub.common import PUBSUB_COMMON_METADATA, template_metadata
from .registry import COMPONENT_TYPES, LoadedComponent, Registry, component_class
from .secrets.base import SecretStore
from .state.base import STATE_COMMON_METADATA, StateStore, key_prefix

__all__ = ["ComponentSpec", "load_components", "read_component_specs"]

_TOP_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "auth", "scopes"})
_SPEC_FIELDS = frozenset({"type", "version", "metadata", "ignoreErrors", "initTimeout"})
_ITEM_FIELDS = frozenset({"name", "value", "secretKeyRef", "envRef"})
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComponentSpec:
    """One ``kind: Component`` document, checked for shape but not yet resolved."""

    source: Path
    name: str
    type_name: str
    version: str
    metadata: tuple[Mapping[str, Any], ...] = ()
    secret_store: str | None = None
    scopes: tuple[str, ...] = ()
    ignore_errors: bool = False

    def error(self, message: str) -> ComponentConfigError:
        return ComponentConfigError(f"{self.source}: component {self.name!r}: {message}")



def _check_fields(source: Path, where: str, given: Mapping[str, Any],
                  allowed: frozenset[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ComponentConfigError(f"{source}: {where}: unknown field {unknown[0]!r} "
                                   f"(allowed: {', '.join(sorted(allowed))})")


def _string(source: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ComponentConfigError(
            f"{source}: {where}: missing required field (a non-empty string)")
    return value


def _parse_spec(source: Path, doc: Mapping[str, Any]) -> ComponentSpec:
    _check_fields(source, "component", doc, _TOP_FIELDS)
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping):
        raise ComponentConfigError(
            f"{source}: metadata: missing required field (a mapping with name)")
    name = _string(source, "metadata.name", meta.get("name"))
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise ComponentConfigError(f"{source}: component {name!r}: spec: missing required field")
    where = f"component {name!r}: spec"
    _check_fields(source, where, spec, _SPEC_FIELDS)
    items = spec.get("metadata") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ComponentConfigError(
            f"{source}: {where}.metadata: must be a list of name/value items")
    auth = doc.get("auth") or {}
    if not isinstance(auth, Mapping):
        raise ComponentConfigError(f"{source}: component {name!r}: auth: must be a mapping")
    _check_fields(source, f"component {name!r}: auth", auth, frozenset({"secretStore"}))
    scopes = doc.get("scopes") or []
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ComponentConfigError(
            f"{source}: component {name!r}: scopes: must be a list of app ids")
    return ComponentSpec(
        source=source, name=name,
        type_name=_string(source, f"{where}.type", spec.get("type")),
        version=_string(source, f"{where}.version", spec.get("version")),
        metadata=tuple(items), secret_store=auth.get("secretStore"), scopes=tuple(scopes),
        ignore_errors=bool(spec.get("ignoreErrors", False)))


def read_component_specs(paths: Sequence[Path]) -> list[ComponentSpec]:
    """Every Component document under ``paths``, in file-name order."""
    return [_parse_spec(r.source, r.document) for r in read_resources(paths, "Component")]



def _secret_value(spec: ComponentSpec, item_name: str, ref: Any,
                  stores: Mapping[str, SecretStore]) -> str:
    where = f"metadata {item_name!r}: secretKeyRef"
    if not isinstance(ref, Mapping):
        raise spec.error(f"{where}: must be a mapping with name and key")
    _check_fields(spec.source, f"component {spec.name!r}: {where}", ref,
                  frozenset({"name", "key"}))
    secret_name = ref.get("name")
    if not isinstance(secret_name, str) or not secret_name:
        raise spec.error(f"{where}.name: missing required field")
    key = ref.get("key") or secret_name
    if not spec.secret_store:
        raise spec.error(f"{where}: auth.secretStore is missing, so the secret cannot be read")
    store = stores.get(spec.secret_store)
    if store is None:
        raise spec.error(f"auth.secretStore: secret store {spec.secret_store!r} is not loaded "
                         f"for this app (loaded: {', '.join(sorted(stores)) or 'none'})")
    try:
        secret = store.get(secret_name)
    except DaprError as err:
        raise spec.error(f"{where}: unresolved secret {secret_name!r} in store "
                         f"{spec.secret_store!r}: {err.message}") from err
    if key not in secret:
        raise spec.error(f"{where}.key: unresolved secret: secret {secret_name!r} in store "
                         f"{spec.secret_store!r} has no key {key!r}")
    return secret[key]


def _resolve_metadata(spec: ComponentSpec, stores: Mapping[str, SecretStore],
                      environ: Mapping[str, str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for item in spec.metadata:
        _check_fields(spec.source, f"component {spec.name!r}: metadata item", item, _ITEM_FIELDS)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise spec.error("metadata item: missing required field 'name'")
        if name in resolved:
            raise spec.error(f"metadata {name!r}: given twice")
        if "secretKeyRef" in item:
            resolved[name] = _secret_value(spec, name, item["secretKeyRef"], stores)
        elif "envRef" in item:
            resolved[name] = environ.get(str(item["envRef"]), "")
        else:
            resolved[name] = go_text(item.get("value"))
    return resolved



def _check_metadata(spec: ComponentSpec, cls: type[Component], given: Mapping[str, str]) -> None:
    allowed = cls.required_metadata | cls.optional_metadata
    if issubclass(cls, StateStore):
        allowed |= STATE_COMMON_METADATA
    if issubclass(cls, PubSub):
        allowed |= PUBSUB_COMMON_METADATA
    for name in sorted(cls.required_metadata):
        if not given.get(name):
            raise spec.error(f"metadata {name!r}: missing required field for {spec.type_name}")
    for name in sorted(given):
        if name not in allowed:
            raise spec.error(f"metadata {name!r}: unknown field for {spec.type_name} "
                             f"(known: {', '.join(sorted(allowed)) or 'none'})")


def _build(spec: ComponentSpec, stores: Mapping[str, SecretStore], app_id: str,
           environ: Mapping[str, str], registry: Registry) -> None:
    if spec.type_name not in COMPONENT_TYPES:
        raise spec.error(f"spec.type: unknown type {spec.type_name!r} (supported: "
                         f"{', '.join(sorted(COMPONENT_TYPES))})")
    try:
        cls = component_class(spec.type_name)
    except ImportError as err:
        raise spec.error(f"spec.type: {spec.type_name} is not available here: {err}") from err
    metadata = _resolve_metadata(spec, stores, environ)
    _check_metadata(spec, cls, metadata)
    if issubclass(cls, PubSub):
        # daprd fills consumerID with the app id; brokers name consumer groups/queues from it.
        try:
            metadata = template_metadata(metadata, app_id, environ)
        except ComponentConfigError as err:
            raise spec.error(err.message) from err
    prefix = key_prefix(metadata.pop("keyPrefix", None), app_id, spec.name)
    metadata.pop("actorStateStore", None)
    try:
        instance = cls(spec.name, metadata)
    except ComponentConfigError as err:
        raise spec.error(err.message) from err
    except Exception as err:
        if spec.ignore_errors:
            _log.warning("%s: component %r failed to initialise and is skipped "
                         "(ignoreErrors): %s", spec.source, spec.name, err)
            return
        raise spec.error(f"init failed: {err}") from err
    registry.add(LoadedComponent(spec.name, spec.type_name, spec.version, instance), prefix)


def load_components(paths: Sequence[Path], app_id: str,
                    environ: Mapping[str, str] | None = None) -> Registry:
    """Read, check and build every component ``app_id`` may use (secret stores first)."""
    environ = os.environ if environ is None else environ
    specs = [s for s in read_component_specs(paths) if not s.scopes or app_id in s.scopes]
    seen: dict[str, ComponentSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise spec.error(
                f"metadata.name: duplicate name, also defined in {seen[spec.name].source}")
        seen[spec.name] = spec
    registry = Registry()
    try:
        for spec in sorted(specs, key=lambda s: not s.type_name.startswith("secretstores.")):
            _build(spec, registry.secret_stores, app_id, environ, registry)
    except BaseException:
        registry.close()
        raise
    return registry

"""Every registered component class declares exactly Dapr's metadata fields.

For each registry entry whose module imports, the declared required set must equal the
``required: true`` names of components-contrib's metadata.yaml for the type (copies in
``$SCHEMAS_DIR/dapr-metadata``, default ../shared/schemas next to the repository), and every
optional name must appear in that file: its metadata, its authenticationProfiles, or the
builtinAuthenticationProfiles it names. Local extensions are listed below with a reason.
Local-only types (no counterpart in components-contrib) are compared with the fields their
documentation lists instead, and must really have no metadata.yaml there.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.components.registry import COMPONENT_TYPES, component_class
from tests.conftest import REPO_ROOT

SCHEMAS_DIR = Path(os.environ.get("SCHEMAS_DIR", REPO_ROOT.parent / "shared" / "schemas"))
METADATA_DIR = SCHEMAS_DIR / "dapr-metadata"

#: Types without a metadata.yaml in components-contrib: Dapr's documented fields
#: (docs.dapr.io, supported-bindings/localstorage: "rootPath", required).
DOCUMENTED_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "bindings.localstorage": (frozenset({"rootPath"}), frozenset()),
}
#: Names a class may accept beyond Dapr's file, each with the reason.
LOCAL_EXTENSIONS: dict[str, dict[str, str]] = {}
#: Types that exist only in this runtime (no metadata.yaml can exist): (required, optional)
#: exactly as their documentation lists them.
#: pubsub.local.sqlite: a broker shared by the embedded profile's runtimes (docs/pubsub.md).
LOCAL_ONLY_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "pubsub.local.sqlite": (frozenset({"databasePath"}), frozenset({
        "consumerID", "processingTimeout", "redeliverInterval", "concurrency", "pollInterval",
        "retention", "maxLen"})),
}


def _importable(type_name: str) -> bool:
    module = COMPONENT_TYPES[type_name].partition(":")[0]
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _names(items: list[dict[str, Any]] | None, required: bool | None = None) -> set[str]:
    return {item["name"] for item in items or []
            if required is None or bool(item.get("required")) == required}


def _schema_fields(type_name: str) -> tuple[set[str], set[str]]:
    """(required names, every known name) from the metadata.yaml of ``type_name``."""
    doc = yaml.safe_load((METADATA_DIR / f"{type_name}.yaml").read_text(encoding="utf-8"))
    required = _names(doc.get("metadata"), required=True)
    known = _names(doc.get("metadata"))
    for profile in doc.get("authenticationProfiles") or []:
        known |= _names(profile.get("metadata"))
    builtin = yaml.safe_load(
        (METADATA_DIR / "builtin-authentication-profiles.yaml").read_text(encoding="utf-8"))
    for ref in doc.get("builtinAuthenticationProfiles") or []:
        for profile in builtin[ref["name"]]:
            known |= _names(profile.get("metadata"))
        known |= _names(ref.get("metadata"))
    return required, known


IMPORTABLE = [t for t in sorted(COMPONENT_TYPES) if _importable(t)]


def test_schemas_are_present() -> None:
    assert (METADATA_DIR / "state.redis.yaml").is_file(), f"set SCHEMAS_DIR ({SCHEMAS_DIR})"
    assert "state.redis" in IMPORTABLE and "state.in-memory" in IMPORTABLE


@pytest.mark.parametrize("type_name", IMPORTABLE)
def test_declared_fields_match_dapr(type_name: str) -> None:
    cls = component_class(type_name)
    assert cls.type_name == type_name
    if type_name in LOCAL_ONLY_FIELDS:
        assert not (METADATA_DIR / f"{type_name}.yaml").exists(), f"{type_name} is in Dapr"
        assert (set(cls.required_metadata), set(cls.optional_metadata)) == tuple(
            set(s) for s in LOCAL_ONLY_FIELDS[type_name])
        return
    if type_name in DOCUMENTED_FIELDS:
        required, known = (set(s) for s in DOCUMENTED_FIELDS[type_name])
        known |= required
    else:
        required, known = _schema_fields(type_name)
    assert set(cls.required_metadata) == required
    extensions = set(LOCAL_EXTENSIONS.get(type_name, {}))
    unknown = set(cls.optional_metadata) - known - extensions
    assert not unknown, f"{type_name} declares fields Dapr does not have: {sorted(unknown)}"


def test_every_registered_type_names_a_component_class() -> None:
    for type_name, target in COMPONENT_TYPES.items():
        module, _, name = target.partition(":")
        assert module.startswith("sidecar.") and name, type_name


def test_local_only_types_are_registered() -> None:
    """The allow-list names only types this runtime registers (no stale exemptions)."""
    assert set(LOCAL_ONLY_FIELDS) <= set(COMPONENT_TYPES)

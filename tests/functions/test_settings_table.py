"""docs/functions.md's settings table names exactly the variables the functions read, each
with the functions that read it: shared settings by two or more, the others by their own."""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

from bindings import settings
from tests.conftest import REPO_ROOT

from .conftest import FUNCTIONS, function_module

_ROW = re.compile(r"^\| ([A-Z0-9_, ]+) \| .* \| ([a-z, ]+) \|$")


def _documented() -> dict[str, str]:
    table = {}
    for line in (REPO_ROOT / "docs" / "functions.md").read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            for name in match.group(1).split(","):
                table[name.strip()] = match.group(2)
    return table


def _names(instance: Any) -> set[str]:
    return {field.name.upper() for field in dataclasses.fields(instance)}


def test_the_table_lists_every_setting_with_who_reads_it():
    sys.path.insert(0, str(FUNCTIONS["classify"].parent))
    import classify_settings

    own = {"grayscale": _names(function_module("grayscale").config),
           "events": _names(function_module("events").config),
           "classify": _names(classify_settings.load({}))}
    shared = _names(settings.load({}))
    documented = _documented()
    assert set(documented) == shared | own["grayscale"] | own["events"] | own["classify"]
    for function, names in own.items():
        assert not names & shared, f"{function} repeats a shared setting"
        for name in names:
            assert documented[name] == function, name
    for name in shared:
        assert documented[name] == "all" or "," in documented[name], name

"""Data-driven: each tests/deploy/data/<case>/serverless.yaml in, expected/<target>/ out.

To accept a deliberate change, re-render a case and review the diff:
    python -m deploy render --file tests/deploy/data/<case>/serverless.yaml \
        --target <target> --out tests/deploy/data/<case>/expected/<target>
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy import TARGETS, render
from tests.deploy.conftest import all_resources, documents, load_yaml
from tests.deploy.test_schemas import CRDS

DATA = Path(__file__).parent / "data"
CASES = sorted(p.parent.name for p in DATA.glob("*/serverless.yaml"))


def _expected(case: str, target: str) -> dict[str, str]:
    root = DATA / case / "expected" / target
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("case", CASES)
def test_case_renders_its_expected_files(case: str, target: str) -> None:
    expected = _expected(case, target)
    assert expected, f"no expected files for {case}/{target}"
    actual = render(load_yaml(DATA / case / "serverless.yaml"), target)
    assert sorted(actual) == sorted(expected)
    for path, text in expected.items():
        assert actual[path] == text, f"{case}/{target}/{path}"


@pytest.mark.parametrize("case", CASES)
def test_case_manifests_validate_against_the_crds(case: str, crd_validator: Any) -> None:
    data = load_yaml(DATA / case / "serverless.yaml")
    rendered = {t: render(data, t) for t in ("kubernetes", "knative", "openfunction")}
    count = 0
    for target, path, resource in all_resources(rendered):
        validator = crd_validator(*CRDS[(resource["apiVersion"], resource["kind"])])
        assert list(validator.iter_errors(resource)) == [], f"{case}/{target}/{path}"
        count += 1
    assert count >= 4


def test_inline_components_reach_openfunction_serving() -> None:
    data = load_yaml(DATA / "minimal" / "serverless.yaml")
    text = render(data, "openfunction")["hello.yaml"]
    [function] = documents(text)
    assert function["spec"]["serving"]["states"]["counter"]["spec"]["type"] == "state.redis"

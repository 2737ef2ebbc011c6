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
from tests.deploy.test_schemas import CRDS, component_metadata_types

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


def _case_rendered(case: str) -> dict[str, dict[str, str]]:
    data = load_yaml(DATA / case / "serverless.yaml")
    return {t: render(data, t) for t in TARGETS}


@pytest.mark.parametrize("case", CASES)
def test_case_manifests_validate_against_the_crds(case: str, crd_validator: Any) -> None:
    count = 0
    for target, path, resource in all_resources(_case_rendered(case)):
        if "kind" not in resource:  # the local run file
            continue
        validator = crd_validator(*CRDS[(resource["apiVersion"], resource["kind"])])
        assert list(validator.iter_errors(resource)) == [], f"{case}/{target}/{path}"
        count += 1
    assert count >= 4


@pytest.mark.parametrize("case", CASES)
def test_case_component_metadata_matches_components_contrib(case: str,
                                                            schemas_dir: Path) -> None:
    assert component_metadata_types(_case_rendered(case), schemas_dir)


def test_rabbitmq_in_the_cluster_reads_its_connection_string_from_a_secret() -> None:
    rendered = _case_rendered("pubsub")
    [component] = documents(rendered["kubernetes"]["orders.yaml"])
    assert component["spec"]["type"] == "pubsub.rabbitmq"
    assert component["spec"]["metadata"] == [{"name": "connectionString", "secretKeyRef": {
        "name": "rabbitmq", "key": "connection-string"}}]
    assert component["auth"] == {"secretStore": "kubernetes"}
    kinds = {r["kind"] for t, _, r in all_resources(rendered) if t == "kubernetes"}
    assert kinds == {"Component", "Configuration", "Resiliency", "Subscription"}


def test_resiliency_targets_only_the_components_a_profile_has() -> None:
    rendered = _case_rendered("pubsub")
    local = documents(rendered["local"]["resources/resiliency-policies.yaml"])[0]
    cluster = documents(rendered["kubernetes"]["resiliency-policies.yaml"])[0]
    assert set(local["spec"]["targets"]["components"]) == {"orders", "cache", "local-secrets"}
    assert set(cluster["spec"]["targets"]["components"]) == {"orders", "cache"}
    assert cluster["spec"]["targets"]["apps"] == {"shop-producer": {"timeout": "short"},
                                                  "shop-consumer": {"timeout": "long",
                                                                    "retry": "few"}}


def test_inline_components_reach_openfunction_serving() -> None:
    data = load_yaml(DATA / "minimal" / "serverless.yaml")
    text = render(data, "openfunction")["hello.yaml"]
    [function] = documents(text)
    assert function["spec"]["serving"]["states"]["counter"]["spec"]["type"] == "state.redis"
    [producer] = documents(_case_rendered("pubsub")["openfunction"]["producer.yaml"])
    assert producer["spec"]["serving"]["pubsub"]["orders"]["type"] == "pubsub.rabbitmq"
    assert {"dapr": {"name": "orders", "type": "pubsub.rabbitmq", "topic": "placed"}} in \
        producer["spec"]["serving"]["outputs"]

"""Invalid descriptions: ``RenderError`` names the field, and the CLI exits 2 saying so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import RenderError, render
from deploy._cli import main


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[last] = value


def _remove(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    del data[last]


CASES = [  # (what to change, value or REMOVE, field the error must name, words in the message)
    ("functions.grayscale.port", "9005", "functions.grayscale.port", "integer"),
    ("functions.grayscale.port", 70000, "functions.grayscale.port", "maximum"),
    ("functions.classify.port", 9005, "functions.classify.port", "also used"),
    ("functions.events.dapr.httpPort", 50003, "functions.events.dapr.httpPort", "also used"),
    ("functions.classify.appId", "image-api-grayscale", "functions.classify.appId", "also used"),
    ("functions.grayscale.components", ["statestore", "nope"],
     "functions.grayscale.components.1", "no component named 'nope'"),
    ("functions.grayscale.invokes", ["ghost"], "functions.grayscale.invokes.0", "ghost"),
    ("functions.grayscale.scaling", {"min": 5, "max": 2}, "functions.grayscale.scaling", "min"),
    ("functions.grayscale.environment", {"PORT": "1"}, "functions.grayscale.environment.PORT",
     "platform"),
    ("functions.grayscale.handler", "functions/grayscale/main", "functions.grayscale.handler",
     "does not match"),
    ("functions.grayscale.handler", "../outside/main.grayscale", "functions.grayscale.handler",
     "does not match"),
    ("functions.grayscale.handler", "/abs/main.grayscale", "functions.grayscale.handler",
     "does not match"),
    ("functions.grayscale.timeout", 30, "functions.grayscale", "timeout"),
    ("functions.grayscale.events", [], "functions.grayscale.events", "non-empty"),
    ("functions.Bad_Name", {}, "functions", "Bad_Name"),
    ("functions.grayscale.workers", "REMOVE", "functions.grayscale", "workers"),
    ("provider.containerPort", "REMOVE", "provider", "containerPort"),
    ("components.statestore.profiles.kubernetes.metadata.redisPassword", "hunter2",
     "components.statestore.profiles.kubernetes.metadata.redisPassword", "credential"),
    ("components.events-db.profiles.kubernetes.secretStore", "REMOVE",
     "components.events-db.profiles.kubernetes.secretStore", "secretKeyRef"),
    ("components.events-db.profiles.services.secretStore", "vault",
     "components.events-db.profiles.services.secretStore", "no secret store component 'vault'"),
    ("components.images.profiles.kubernetes", "REMOVE", "components.images.profiles",
     "kubernetes"),
    ("components.images.profiles.services.type", "blob", "components.images.profiles.services.type",
     "does not match"),
]


@pytest.mark.parametrize("path, value, field, words", CASES)
def test_invalid_description_names_the_field(description: dict[str, Any], path: str, value: Any,
                                             field: str, words: str) -> None:
    if value == "REMOVE":
        _remove(description, path)
    else:
        _set(description, path, value)
    with pytest.raises(RenderError) as caught:
        render(description, "local")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert words in str(caught.value)


def test_unknown_target_is_refused(description: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="unknown target 'swarm'") as caught:
        render(description, "swarm")
    assert caught.value.field == "target"


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(RenderError, match=r"^\(top level\): "):
        render(["service"], "local")


def test_inline_openfunction_components_refuse_literal_values(description: dict[str, Any]) -> None:
    description["provider"]["openfunction"]["inlineComponents"] = True
    with pytest.raises(RenderError) as caught:
        render(description, "openfunction")
    assert caught.value.field == "components.statestore.profiles.kubernetes.metadata.redisHost"


def test_cli_writes_the_files_it_lists(tmp_path: Path, capsys: Any) -> None:
    assert main(["render", "--target", "kubernetes", "--out", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.split()
    assert sorted(listed) == sorted(str(p) for p in tmp_path.iterdir())
    assert (tmp_path / "events-db.yaml").read_text().count("secretKeyRef") == 1


def test_cli_reports_an_invalid_description_with_the_field(tmp_path: Path, capsys: Any,
                                                           description: dict[str, Any]) -> None:
    description["functions"]["events"]["port"] = 9006
    bad = tmp_path / "serverless.yaml"
    bad.write_text(yaml.safe_dump(description))
    out = tmp_path / "out"
    assert main(["render", "--target", "local", "--out", str(out), "--file", str(bad)]) == 2
    assert "functions.events.port: port 9006 is also used by functions.classify.port" in \
        capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("content, words", [(None, "cannot read"), ("a: [b", "not valid YAML")])
def test_cli_reports_an_unreadable_file(tmp_path: Path, capsys: Any, content: str | None,
                                        words: str) -> None:
    path = tmp_path / "serverless.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["render", "--target", "local", "--out", str(tmp_path), "--file", str(path)]) == 2
    assert words in capsys.readouterr().err

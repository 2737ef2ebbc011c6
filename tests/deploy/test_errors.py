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
    ("functions.grayscale.environment", {"DAPR_API_TOKEN": "x"},
     "functions.grayscale.environment.DAPR_API_TOKEN", "platform"),
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
    ("provider.dapr.logAsJson", "yes", "provider.dapr.logAsJson", "boolean"),
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
    ("components.events-pubsub.profiles.kubernetes.type", "pubsub.local.sqlite",
     "components.events-pubsub.profiles.kubernetes.type", "local runtime only"),
    ("components.events-pubsub.profiles.services.type", "state.redis",
     "components.events-pubsub.profiles.services.type", "one building block"),
    ("components.events-pubsub.profiles.kubernetes.metadata.connectionString", "amqp://u:p@h",
     "components.events-pubsub.profiles.kubernetes.metadata.connectionString", "credential"),
    ("functions.classify.publishes", [{"pubsub": "statestore", "topic": "events"}],
     "functions.classify.publishes.0.pubsub", "not a pub/sub one"),
    ("functions.classify.publishes", [{"pubsub": "images", "topic": "events"}],
     "functions.classify.publishes.0.pubsub", "not in functions.classify.components"),
    ("subscriptions.events-to-db.pubsub", "nope", "subscriptions.events-to-db.pubsub",
     "no component named 'nope'"),
    ("subscriptions.events-to-db.pubsub", "events-db", "subscriptions.events-to-db.pubsub",
     "not a pub/sub one"),
    ("subscriptions.events-to-db.function", "ghost", "subscriptions.events-to-db.function",
     "no function named 'ghost'"),
    ("subscriptions.events-to-db.function", "grayscale", "subscriptions.events-to-db.route",
     "not a post route of functions.grayscale.events"),
    ("subscriptions.events-to-db.route", "/events", "subscriptions.events-to-db.route",
     "/events is not a post route"),
    ("subscriptions.events-to-db.route", "event", "subscriptions.events-to-db.route",
     "does not match"),
    ("subscriptions.events-to-db.deadLetterTopic", "events",
     "subscriptions.events-to-db.deadLetterTopic", "subscribed topic itself"),
    ("subscriptions.events-to-db.bulkSubscribe", {"maxMessagesCount": 10},
     "subscriptions.events-to-db.bulkSubscribe", "enabled"),
    ("subscriptions.events-to-db.file", "statestore.yaml", "subscriptions.events-to-db.file",
     "also used by components.statestore.file"),
    ("subscriptions.events-to-db.topic", "REMOVE", "subscriptions.events-to-db", "topic"),
    ("subscriptions.again", {"pubsub": "events-pubsub", "topic": "events", "function": "events",
                             "route": "/create_event"},
     "subscriptions.again.topic", "already subscribes to events-pubsub/events"),
    ("resiliency.targets.apps", {"ghost": {"timeout": "invoke"}},
     "resiliency.targets.apps.ghost", "no function named 'ghost'"),
    ("resiliency.targets.apps", {"events": {"timeout": "slow"}},
     "resiliency.targets.apps.events.timeout", "no timeouts policy named 'slow'"),
    ("resiliency.targets.components.nope", {"outbound": {"timeout": "state"}},
     "resiliency.targets.components.nope", "no component named 'nope'"),
    ("resiliency.targets.components.events-db.outbound", {"circuitBreaker": "breaker"},
     "resiliency.targets.components.events-db.outbound.circuitBreaker",
     "no circuitBreakers policy named 'breaker'"),
    ("resiliency.defaults.inbound", {"retry": "delivery", "timeout": "publish",
                                     "circuitBreaker": "database"}, "", ""),
    ("resiliency.defaults.inbound.retry", "missing", "resiliency.defaults.inbound.retry",
     "no retries policy named 'missing'"),
    ("resiliency.defaults.apps", "REMOVE", "resiliency.defaults.apps",
     "function(s) grayscale, classify, events have no policy"),
    ("resiliency.defaults.outbound", "REMOVE", "resiliency.defaults.outbound",
     "component(s) images, local-store have no outbound policy"),
    ("resiliency.defaults.inbound", "REMOVE", "resiliency.defaults.inbound",
     "component(s) events-pubsub have no inbound policy"),
    ("resiliency.policies.retries.publish.duration", "1s",
     "resiliency.policies.retries.publish.duration", "exponential"),
    ("resiliency.policies.retries.state.maxInterval", "1s",
     "resiliency.policies.retries.state.maxInterval", "constant"),
    ("resiliency.policies.retries.state.maxRetries", "REMOVE",
     "resiliency.policies.retries.state", "maxRetries"),
    ("resiliency.policies.retries.state.maxRetries", -2,
     "resiliency.policies.retries.state.maxRetries", "minimum"),
    ("resiliency.policies.timeouts.state", "half a second", "resiliency.policies.timeouts.state",
     "does not match"),
    ("resiliency.policies.circuitBreakers.database.trip", "REMOVE",
     "resiliency.policies.circuitBreakers.database", "trip"),
    ("resiliency.defaults.apps", {}, "resiliency.defaults.apps", "non-empty"),
    ("resiliency.file", "statestore.yaml", "resiliency.file",
     "also used by components.statestore.file"),
]


@pytest.mark.parametrize("path, value, field, words", CASES)
def test_invalid_description_names_the_field(description: dict[str, Any], path: str, value: Any,
                                             field: str, words: str) -> None:
    if value == "REMOVE":
        _remove(description, path)
    else:
        _set(description, path, value)
    if not field:  # a change that must render fine
        assert render(description, "local")
        return
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

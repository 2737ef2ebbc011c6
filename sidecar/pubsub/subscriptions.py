"""Subscriptions: programmatic ones the app lists (HTTP: ``GET /dapr/subscribe``; gRPC:
``ListTopicSubscriptions``, through the app channel) and declarative
``kind: Subscription`` files in the resources path (daprd's
``pkg/runtime/pubsub/subscriptions.go``).

App JSON (v1 and v2 shapes): ``[{pubsubname, topic, route | routes: {rules: [{match, path}],
default}, deadLetterTopic, metadata, bulkSubscribe: {enabled, maxMessagesCount,
maxAwaitDurationMs}}]``. Files: ``apiVersion: dapr.io/v1alpha1`` (``spec.route``) or
``dapr.io/v2alpha1`` (``spec.routes``), with ``scopes`` (app ids; empty = every app). Rules
come out as daprd builds them: the v2 rules, then the default (or v1 route) as a rule with no
match; a subscription with no rule at all is dropped with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ComponentConfigError
from ..invoke.channel import AppChannel, AppChannelError
from ..resources import read_resources
from ..settings import INPUT_BINDING_PROBE_ATTEMPTS, INPUT_BINDING_PROBE_INTERVAL
from .routing import Rule, RuleError, compile_rule

__all__ = [
    "API_VERSIONS",
    "DEFAULT_BULK_AWAIT_MS",
    "DEFAULT_BULK_MAX_MESSAGES",
    "BulkSubscribe",
    "Subscription",
    "SubscriptionKind",
    "fetch_programmatic",
    "parse_programmatic",
    "read_declarative",
]

API_VERSIONS = ("dapr.io/v1alpha1", "dapr.io/v2alpha1")
#: daprd's defaults for bulkSubscribe (pkg/runtime/pubsub/default_bulksub.go).
DEFAULT_BULK_MAX_MESSAGES = 100
DEFAULT_BULK_AWAIT_MS = 1000
SubscriptionKind = Literal["DECLARATIVE", "PROGRAMMATIC", "STREAMING"]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BulkSubscribe:
    enabled: bool = False
    max_messages: int = DEFAULT_BULK_MAX_MESSAGES
    max_await_ms: int = DEFAULT_BULK_AWAIT_MS


@dataclass(frozen=True)
class Subscription:
    """One topic subscription of the app, rules compiled."""

    pubsub_name: str
    topic: str
    rules: tuple[Rule, ...]
    kind: SubscriptionKind
    dead_letter_topic: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    bulk: BulkSubscribe = BulkSubscribe()
    #: Where it came from, for messages: a file and name, or the app endpoint.
    origin: str = ""

    def describe(self) -> dict[str, Any]:
        """The metadata API's entry (daprd's ``metadataResponsePubsubSubscription``)."""
        entry: dict[str, Any] = {
            "pubsubname": self.pubsub_name, "topic": self.topic,
            "deadLetterTopic": self.dead_letter_topic, "type": self.kind,
            "rules": [{k: v for k, v in (("match", r.match), ("path", r.path)) if v}
                      for r in self.rules],
        }
        if self.metadata:
            entry["metadata"] = dict(self.metadata)
        return entry


class _Invalid(ValueError):
    """A subscription item that cannot be used; the message names what is wrong."""


def _text(item: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise _Invalid(f"{key}: missing required field")
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"{key}: must be a string, got {value!r}")
    return value


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise _Invalid(f"{where}: must be a map of strings")
    return {str(k): v for k, v in value.items()}


def _bulk(value: Any) -> BulkSubscribe:
    if not value:
        return BulkSubscribe()
    if not isinstance(value, Mapping):
        raise _Invalid("bulkSubscribe: must be a mapping")
    count = value.get("maxMessagesCount") or DEFAULT_BULK_MAX_MESSAGES
    wait = value.get("maxAwaitDurationMs") or DEFAULT_BULK_AWAIT_MS
    if not isinstance(count, int) or not isinstance(wait, int) or count < 1 or wait < 0:
        raise _Invalid("bulkSubscribe: maxMessagesCount and maxAwaitDurationMs must be "
                       "positive integers")
    return BulkSubscribe(bool(value.get("enabled")), count, wait)


def _rules(route: str, routes: Any) -> tuple[Rule, ...]:
    routes = routes or {}
    if not isinstance(routes, Mapping):
        raise _Invalid("routes: must be a mapping with rules and default")
    items = routes.get("rules") or []
    if not isinstance(items, list) or not all(isinstance(r, Mapping) for r in items):
        raise _Invalid("routes.rules: must be a list of {match, path}")
    rules = []
    for index, item in enumerate(items):
        try:
            rules.append(compile_rule(_text(item, "match"), _text(item, "path")))
        except RuleError as err:
            raise _Invalid(f"routes.rules[{index}]: {err}") from err
    default = _text(routes, "default")
    if default or route:
        rules.append(Rule("", default or route))
    return tuple(rules)


def _subscription(item: Mapping[str, Any], kind: SubscriptionKind, origin: str,
                  route_key: str | None) -> Subscription:
    route = _text(item, "route") if route_key in (None, "route") else ""
    routes = item.get("routes") if route_key in (None, "routes") else None
    return Subscription(
        pubsub_name=_text(item, "pubsubname", required=True),
        topic=_text(item, "topic", required=True),
        rules=_rules(route, routes), kind=kind,
        dead_letter_topic=_text(item, "deadLetterTopic"),
        metadata=_string_map(item.get("metadata"), "metadata"),
        bulk=_bulk(item.get("bulkSubscribe")), origin=origin)


def _usable(subscriptions: list[Subscription]) -> list[Subscription]:
    kept = []
    for sub in subscriptions:
        if not sub.rules:
            _log.warning("topic %s has an empty routes. removing from subscriptions list",
                         sub.topic)
            continue
        kept.append(sub)
    return kept


def parse_programmatic(body: Any) -> list[Subscription]:
    """The app's ``/dapr/subscribe`` answer; items that cannot be used are logged and skipped."""
    if not isinstance(body, list):
        _log.error("error getting topics from app: expected a JSON array, got %s",
                   type(body).__name__)
        return []
    found = []
    for index, item in enumerate(body):
        origin = f"GET /dapr/subscribe item {index}"
        try:
            if not isinstance(item, Mapping):
                raise _Invalid("must be a JSON object")
            found.append(_subscription(item, "PROGRAMMATIC", origin, None))
        except _Invalid as err:
            _log.error("subscription %s skipped: %s", origin, err)
    return _usable(found)


def fetch_programmatic(channel: AppChannel, stopping: threading.Event) -> list[Subscription]:
    """The app's own list, retried while the app starts; [] when it has none or never answers."""
    for _ in range(INPUT_BINDING_PROBE_ATTEMPTS):
        if stopping.is_set():
            return []
        try:
            body = channel.list_subscriptions()
        except AppChannelError:
            stopping.wait(INPUT_BINDING_PROBE_INTERVAL)
            continue
        return parse_programmatic(body)
    _log.error("the app did not list its subscriptions; no programmatic subscriptions")
    return []


def read_declarative(paths: Sequence[Path], app_id: str) -> list[Subscription]:
    """Every ``kind: Subscription`` for ``app_id``; ComponentConfigError naming file and name."""
    found = []
    for resource in read_resources(paths, "Subscription"):
        doc = resource.document
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
        name = str(meta.get("name") or "") if meta else ""
        where = f"{resource.source}: subscription {name!r}"
        version = doc.get("apiVersion")
        if version not in API_VERSIONS:
            _log.warning("%s: apiVersion %r is not one of %s; skipped", where, version,
                         ", ".join(API_VERSIONS))
            continue
        scopes = doc.get("scopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ComponentConfigError(f"{where}: scopes: must be a list of app ids")
        if scopes and app_id not in scopes:
            continue
        spec = doc.get("spec")
        try:
            if not isinstance(spec, Mapping):
                raise _Invalid("spec: missing required field")
            route_key = "route" if version == API_VERSIONS[0] else "routes"
            found.append(_subscription(spec, "DECLARATIVE", where, route_key))
        except _Invalid as err:
            raise ComponentConfigError(f"{where}: spec.{err}") from err
    return _usable(found)

"""Reading ``kind: Resiliency`` documents (daprd's ``pkg/resiliency/resiliency.go``).

Every Resiliency document of the resources path whose ``scopes`` are empty or name this app
id is decoded, in file order, into one ``ResiliencySpec``: later documents override
same-named policies and targets, and targets may name policies of any document, as daprd
merges them. daprd's built-in retry policies come first (``DaprBuiltInServiceRetries`` and
friends); a document may override them (retries below 3 are raised to 3, and
``DaprBuiltInActorNotFoundRetries`` cannot be overridden). As daprd, a document that cannot
be decoded is logged as an error (file, document and field named) and skipped; the runtime
still starts. Unknown fields are logged as warnings (daprd ignores them silently). A target
naming a policy that no document defines is logged and that reference dropped.

Durations are Go durations (``500ms``, ``1m30s``) or a bare integer string meaning
milliseconds, as daprd's ``parseDuration``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..components.go_values import parse_go_duration
from ..errors import DaprError
from ..resources import Resource, read_resources
from .backoff import CONSTANT, EXPONENTIAL, RetrySpec
from .breaker import BreakerSpec
from .trip import TripSyntaxError, parse_trip

__all__ = [
    "BUILT_IN_ACTOR_NOT_FOUND_RETRIES",
    "BUILT_IN_RETRIES",
    "BUILT_IN_SERVICE_RETRIES",
    "PolicyNames",
    "ResiliencyConfigError",
    "ResiliencySpec",
    "load_resiliency",
    "parse_document",
]

_log = logging.getLogger(__name__)
_KIND = "Resiliency"

BUILT_IN_SERVICE_RETRIES = "DaprBuiltInServiceRetries"
BUILT_IN_ACTOR_NOT_FOUND_RETRIES = "DaprBuiltInActorNotFoundRetries"
#: daprd's ``addBuiltInPolicies``; only the service retries apply to what this runtime serves.
BUILT_IN_RETRIES: Mapping[str, RetrySpec] = {
    BUILT_IN_SERVICE_RETRIES: RetrySpec(CONSTANT, duration=1.0, max_retries=3),
    "DaprBuiltInActorRetries": RetrySpec(CONSTANT, duration=1.0, max_retries=3),
    "DaprBuiltInActorReminderRetries": RetrySpec(EXPONENTIAL, max_retries=-1),
    "DaprBuiltInInitializationRetries": RetrySpec(EXPONENTIAL, duration=2.0, max_interval=1.0,
                                                  max_retries=3, max_elapsed_time=10.0),
    BUILT_IN_ACTOR_NOT_FOUND_RETRIES: RetrySpec(CONSTANT, duration=1.0, max_retries=5),
}
_MIN_BUILT_IN_RETRIES = 3
_HTTP_CODES, _GRPC_CODES = (100, 599), (0, 16)
_DOC_FIELDS = {"apiVersion", "kind", "metadata", "spec", "scopes"}
_RETRY_FIELDS = {"policy", "duration", "maxInterval", "maxRetries", "matching"}
_MATCHING_FIELDS = {"httpStatusCodes", "gRPCStatusCodes"}
_BREAKER_FIELDS = {"maxRequests", "interval", "timeout", "trip"}
_NAME_FIELDS = {"timeout", "retry", "circuitBreaker"}
_APP_FIELDS = _NAME_FIELDS | {"circuitBreakerCacheSize"}


class ResiliencyConfigError(DaprError):
    """A Resiliency document cannot be decoded; the message names file, document and field."""

    code = "ERR_RESILIENCY_CONFIG"


@dataclass(frozen=True)
class PolicyNames:
    """The policies one target names (empty: none); ``source`` is the file that set them."""

    timeout: str = ""
    retry: str = ""
    circuit_breaker: str = ""
    source: str = ""

    @property
    def empty(self) -> bool:
        return not (self.timeout or self.retry or self.circuit_breaker)


@dataclass
class ResiliencySpec:
    """Every policy and target that applies to this app id (see the module docstring)."""

    timeouts: dict[str, float] = field(default_factory=dict)
    retries: dict[str, RetrySpec] = field(default_factory=dict)
    circuit_breakers: dict[str, BreakerSpec] = field(default_factory=dict)
    apps: dict[str, PolicyNames] = field(default_factory=dict)
    #: component name -> (inbound, outbound)
    components: dict[str, tuple[PolicyNames, PolicyNames]] = field(default_factory=dict)
    #: metadata.name of every document loaded, in order.
    names: list[str] = field(default_factory=list)

    @classmethod
    def with_built_ins(cls) -> ResiliencySpec:
        return cls(retries=dict(BUILT_IN_RETRIES))

    def merge(self, other: ResiliencySpec) -> None:
        """Add ``other``'s policies and targets over these (daprd's DecodeConfiguration)."""
        self.timeouts.update(other.timeouts)
        for name, retry in other.retries.items():
            if name == BUILT_IN_ACTOR_NOT_FOUND_RETRIES:
                _log.warning("Attempted to override protected policy %s which is not allowed. "
                             "Ignoring provided policy and using default.", name)
                continue
            if name in BUILT_IN_RETRIES and retry.max_retries < _MIN_BUILT_IN_RETRIES:
                _log.warning("Attempted override of %s did not meet minimum retry count, "
                             "resetting to 3.", name)
                retry = replace(retry, max_retries=_MIN_BUILT_IN_RETRIES)
            self.retries[name] = retry
        self.circuit_breakers.update(other.circuit_breakers)
        self.apps.update(other.apps)
        self.components.update(other.components)
        self.names.extend(other.names)

    def check_references(self) -> None:
        """Drop (and log) target references to policies no document defines."""
        for app_id, names in list(self.apps.items()):
            self.apps[app_id] = self._checked(f"targets.apps.{app_id}", names)
        for name, (inbound, outbound) in list(self.components.items()):
            where = f"targets.components.{name}"
            self.components[name] = (self._checked(f"{where}.inbound", inbound),
                                     self._checked(f"{where}.outbound", outbound))

    def _checked(self, where: str, names: PolicyNames) -> PolicyNames:
        kinds = (("timeout", self.timeouts), ("retry", self.retries),
                 ("circuit_breaker", self.circuit_breakers))
        for attribute, defined in kinds:
            value = getattr(names, attribute)
            if value and value not in defined:
                _log.error("%s: resiliency %s: no %s policy named %r; ignored", names.source,
                           where, attribute.replace("_", " "), value)
                names = replace(names, **{attribute: ""})
        return names


def _fail(source: Path, doc_name: str, path: str, problem: str) -> ResiliencyConfigError:
    return ResiliencyConfigError(f"{source}: resiliency {doc_name!r}: {path}: {problem}")


class _Decoder:
    """Decodes one document, naming file, document and field in every error."""

    def __init__(self, source: Path, doc_name: str) -> None:
        self.source = source
        self.doc_name = doc_name

    def fail(self, path: str, problem: str) -> ResiliencyConfigError:
        return _fail(self.source, self.doc_name, path, problem)

    def mapping(self, value: Any, path: str, known: set[str] | None = None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, found {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"key {key!r} is not a string")
            if known is not None and key not in known:
                _log.warning("%s: resiliency %r: %s.%s: unknown field, ignored (known: %s)",
                             self.source, self.doc_name, path, key, ", ".join(sorted(known)))
        return value

    def text(self, value: Any, path: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, found {value!r}")
        return value

    def integer(self, value: Any, path: str, default: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, found {value!r}")
        return value

    def duration(self, value: Any, path: str, default: float) -> float:
        text = self.text(value, path).strip()
        if not text:
            return default
        try:
            nanoseconds = int(text) * 10**6 if text.lstrip("-").isdigit() else (
                parse_go_duration(text))
        except ValueError as err:
            raise self.fail(path, str(err)) from err
        return nanoseconds / 1e9

    def retry(self, value: Any, path: str) -> RetrySpec:
        spec = self.mapping(value, path, _RETRY_FIELDS)
        policy = self.text(spec.get("policy"), f"{path}.policy").lower() or CONSTANT
        if policy not in (CONSTANT, EXPONENTIAL):
            raise self.fail(f"{path}.policy", f"unexpected back off policy type: {policy} "
                                              "(expected constant or exponential)")
        matching = self.mapping(spec.get("matching"), f"{path}.matching", _MATCHING_FIELDS)
        defaults = RetrySpec()
        return RetrySpec(
            policy=policy,
            duration=self.duration(spec.get("duration"), f"{path}.duration", defaults.duration),
            max_interval=self.duration(spec.get("maxInterval"), f"{path}.maxInterval",
                                       defaults.max_interval),
            max_retries=self.integer(spec.get("maxRetries"), f"{path}.maxRetries", -1),
            http_status_codes=self.codes(matching.get("httpStatusCodes"),
                                         f"{path}.matching.httpStatusCodes", _HTTP_CODES),
            grpc_status_codes=self.codes(matching.get("gRPCStatusCodes"),
                                         f"{path}.matching.gRPCStatusCodes", _GRPC_CODES))

    def codes(self, value: Any, path: str, valid: tuple[int, int]
              ) -> tuple[tuple[int, int], ...] | None:
        """daprd's ``parsePatterns``: "429,500-599"; empty entries ignored."""
        text = self.text(value, path)
        if not text:
            return None
        ranges = []
        for pattern in text.split(","):
            if not pattern:
                continue
            bounds = pattern.split("-")
            if len(bounds) > 2:
                raise self.fail(path, f"invalid pattern {pattern}, more than one '-' exists")
            try:
                low, high = int(bounds[0]), int(bounds[-1])
            except ValueError as err:
                raise self.fail(path, f"invalid pattern {pattern}: not an integer") from err
            for code in (low, high):
                if not valid[0] <= code <= valid[1]:
                    raise self.fail(path, f"invalid pattern {pattern}, code {code} is not "
                                          f"valid ({valid[0]}-{valid[1]})")
            if high < low:
                raise self.fail(path, f"invalid pattern {pattern}, start value should not "
                                      "bigger than end value")
            ranges.append((low, high))
        return tuple(ranges)

    def breaker(self, value: Any, path: str) -> BreakerSpec:
        spec = self.mapping(value, path, _BREAKER_FIELDS)
        defaults = BreakerSpec()
        trip_text = self.text(spec.get("trip"), f"{path}.trip")
        try:
            trip = parse_trip(trip_text) if trip_text.strip() else None
        except TripSyntaxError as err:
            raise self.fail(f"{path}.trip", f"unsupported expression {trip_text!r}: {err} "
                                            "(supported: comparisons of requests, "
                                            "totalSuccesses, totalFailures, "
                                            "consecutiveSuccesses, consecutiveFailures with "
                                            "integers, joined by && || ! and parentheses)"
                            ) from err
        max_requests = self.integer(spec.get("maxRequests"), f"{path}.maxRequests", 0)
        if max_requests < 0:
            raise self.fail(f"{path}.maxRequests", f"must not be negative, found {max_requests}")
        return BreakerSpec(
            max_requests=max_requests,
            interval=self.duration(spec.get("interval"), f"{path}.interval", defaults.interval),
            timeout=self.duration(spec.get("timeout"), f"{path}.timeout", 0.0),
            trip=trip)

    def names(self, value: Any, path: str, known: set[str]) -> PolicyNames:
        spec = self.mapping(value, path, known)
        if "circuitBreakerCacheSize" in spec:
            self.integer(spec["circuitBreakerCacheSize"], f"{path}.circuitBreakerCacheSize", 0)
        return PolicyNames(timeout=self.text(spec.get("timeout"), f"{path}.timeout"),
                           retry=self.text(spec.get("retry"), f"{path}.retry"),
                           circuit_breaker=self.text(spec.get("circuitBreaker"),
                                                     f"{path}.circuitBreaker"),
                           source=str(self.source))


def parse_document(resource: Resource) -> ResiliencySpec:
    """Decode one Resiliency document; ResiliencyConfigError naming file, document and field."""
    doc = resource.document
    metadata = doc.get("metadata")
    doc_name = str(metadata.get("name") or "") if isinstance(metadata, Mapping) else ""
    decoder = _Decoder(resource.source, doc_name)
    decoder.mapping(doc, "document", _DOC_FIELDS)
    spec = decoder.mapping(doc.get("spec"), "spec", {"policies", "targets"})
    policies = decoder.mapping(spec.get("policies"), "spec.policies",
                               {"timeouts", "retries", "circuitBreakers"})
    targets = decoder.mapping(spec.get("targets"), "spec.targets",
                              {"apps", "actors", "components"})
    result = ResiliencySpec(names=[doc_name])
    where = "spec.policies"
    for name, value in decoder.mapping(policies.get("timeouts"), f"{where}.timeouts").items():
        result.timeouts[name] = decoder.duration(value, f"{where}.timeouts.{name}", 0.0)
    for name, value in decoder.mapping(policies.get("retries"), f"{where}.retries").items():
        result.retries[name] = decoder.retry(value, f"{where}.retries.{name}")
    breakers = decoder.mapping(policies.get("circuitBreakers"), f"{where}.circuitBreakers")
    for name, value in breakers.items():
        result.circuit_breakers[name] = decoder.breaker(value, f"{where}.circuitBreakers.{name}")
    where = "spec.targets"
    for app_id, value in decoder.mapping(targets.get("apps"), f"{where}.apps").items():
        result.apps[app_id] = decoder.names(value, f"{where}.apps.{app_id}", _APP_FIELDS)
    for name, value in decoder.mapping(targets.get("components"),
                                       f"{where}.components").items():
        path = f"{where}.components.{name}"
        directions = decoder.mapping(value, path, {"inbound", "outbound"})
        result.components[name] = (
            decoder.names(directions.get("inbound"), f"{path}.inbound", _NAME_FIELDS),
            decoder.names(directions.get("outbound"), f"{path}.outbound", _NAME_FIELDS))
    if targets.get("actors"):
        _log.info("%s: resiliency %r: actor targets ignored (no actors in this runtime)",
                  resource.source, doc_name)
    return result


def _in_scope(resource: Resource, app_id: str) -> bool:
    scopes = resource.document.get("scopes") or []
    if not isinstance(scopes, list):
        metadata = resource.document.get("metadata")
        name = str(metadata.get("name") or "") if isinstance(metadata, Mapping) else ""
        raise _fail(resource.source, name, "scopes",
                    f"expected a list of app ids, found {scopes!r}")
    return not scopes or app_id in [str(scope) for scope in scopes]


def load_resiliency(paths: Sequence[Path], app_id: str) -> ResiliencySpec:
    """The built-in policies plus every Resiliency document for ``app_id`` under ``paths``.

    Missing folders are skipped (as daprd); bad documents are logged and skipped.
    """
    spec = ResiliencySpec.with_built_ins()
    try:
        resources = read_resources([p for p in paths if p.is_dir()], _KIND)
    except DaprError as err:
        _log.error("could not read resiliency resources: %s", err.message)
        return spec
    for resource in resources:
        try:
            if not _in_scope(resource, app_id):
                continue
            document = parse_document(resource)
        except ResiliencyConfigError as err:
            _log.error("Could not read resiliency policy: %s; document skipped", err.message)
            continue
        _log.info("Loading Resiliency configuration: %s", ", ".join(document.names))
        spec.merge(document)
    spec.check_references()
    return spec

"""``--config``: Dapr ``Configuration`` files, read as daprd reads them in self-hosted mode.

daprd's ``config.LoadStandaloneConfiguration`` (``pkg/config/configuration.go``) reads each file
in flag order, expands environment variables in its text (Go's ``os.ExpandEnv``: ``$NAME`` and
``${NAME}``, an unset name becomes empty) and decodes it over the result of the files before, so
a later file overrides the fields it sets. A missing or unreadable file, or one that is not a
``dapr.io/v1alpha1`` ``Configuration``, stops start-up (``ConfigurationError`` naming the file
and field), as do daprd's own checks: a ``storeName`` repeated in ``spec.secrets.scopes``, a
``defaultAccess`` other than allow/deny, an access-control policy without ``appId``,
``trustDomain`` or ``namespace`` (``pkg/acl.ParseAccessControlSpec``).

Honoured:

    spec.secrets.scopes     the secrets API (``SecretsScope.IsSecretAllowed``); not the runtime's
                            own secretKeyRef resolution, which daprd does not scope either
    spec.api.allowed/denied the HTTP and gRPC APIs (``pkg/http/endpoints``,
                            ``pkg/api/grpc/endpoints.go``)
    spec.accessControl      service invocation received from other runtimes (``pkg/acl``)
    spec.tracing            samplingRate and stdout (``sidecar/tracing.py``)
    spec.logging.apiLogging enabled, obfuscateURLs, omitHealthChecks (``sidecar/api_logging.py``)

Every other setting (``metric``, ``mtls``, ``features``, ``tracing.otel``, ...) is named in one
warning at start-up and otherwise ignored.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from .api_logging import ApiLogging
from .errors import DaprError
from .tracing import Tracer

__all__ = [
    "ALWAYS_ALLOWED",
    "GRPC_API_GROUPS",
    "HTTP_API_GROUPS",
    "AccessControl",
    "AclOperation",
    "AclPolicy",
    "ApiRule",
    "Configuration",
    "ConfigurationError",
    "InvocationDenied",
    "SecretPermissionDenied",
    "SecretScope",
    "configuration_of",
    "expand_env",
    "load_configuration",
]

_log = logging.getLogger(__name__)
_API_VERSION = "dapr.io/v1alpha1"
_KIND = "Configuration"
_ALLOW, _DENY = "allow", "deny"
_DEFAULT_TRUST_DOMAIN = "public"
_DEFAULT_NAMESPACE = "default"
_HONOURED = frozenset({"secrets", "api", "accessControl", "tracing", "logging"})
#: daprd's APILoggingSpec fields -> ApiLogging's.
_API_LOGGING_FIELDS = {"enabled": "enabled", "obfuscateURLs": "obfuscate_urls",
                       "omitHealthChecks": "omit_health_checks"}
_TRACING_HONOURED = frozenset({"samplingRate", "stdout"})
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)")
#: HTTP endpoint groups daprd registers whatever the API rules say (``AlwaysAllowed``).
ALWAYS_ALLOWED = frozenset({"healthz"})
#: ``<name>.<version>`` of a gRPC API rule -> the RPCs it covers (``pkg/api/grpc/endpoints.go``).
GRPC_API_GROUPS: Mapping[str, frozenset[str]] = {
    "invoke.v1": frozenset({"InvokeService"}),
    "state.v1": frozenset({"GetState", "GetBulkState", "SaveState", "DeleteState",
                           "DeleteBulkState", "ExecuteStateTransaction"}),
    "publish.v1": frozenset({"PublishEvent", "BulkPublishEvent"}),
    "publish.v1alpha1": frozenset({"BulkPublishEventAlpha1"}),
    "bindings.v1": frozenset({"InvokeBinding"}),
    "secrets.v1": frozenset({"GetSecret", "GetBulkSecret"}),
    "metadata.v1": frozenset({"GetMetadata", "SetMetadata"}),
    "shutdown.v1": frozenset({"Shutdown"}),
}


#: HTTP API endpoint (``http_api.HttpApi`` handler name) -> daprd's endpoint group and version.
HTTP_API_GROUPS: Mapping[str, tuple[str, str]] = {
    "healthz": ("healthz", "v1"), "metadata": ("metadata", "v1"),
    "set_metadata": ("metadata", "v1"), "save_state": ("state", "v1"),
    "bulk_state": ("state", "v1"), "transact_state": ("state", "v1"),
    "get_state": ("state", "v1"), "delete_state": ("state", "v1"),
    "bulk_secret": ("secrets", "v1"), "get_secret": ("secrets", "v1"),
    "binding": ("bindings", "v1"), "publish": ("publish", "v1"),
    "bulk_publish": ("publish", "v1alpha1"), "invoke": ("invoke", "v1"),
}


class SecretPermissionDenied(DaprError):
    """403 ERR_PERMISSION_DENIED: ``spec.secrets.scopes`` do not allow the key (plain status)."""

    code, http_status, grpc_status = (
        "ERR_PERMISSION_DENIED", 403, grpc.StatusCode.PERMISSION_DENIED)


class InvocationDenied(DaprError):
    """``spec.accessControl`` refused a call from another runtime (gRPC PERMISSION_DENIED)."""

    code, http_status, grpc_status = ("ERR_DIRECT_INVOKE", 403, grpc.StatusCode.PERMISSION_DENIED)


class ConfigurationError(ValueError):
    """A ``--config`` file is missing or wrong; the message names the file and the field."""


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Go's ``os.ExpandEnv``: ``$NAME`` / ``${NAME}`` replaced, unset names by ""."""
    return _ENV_REFERENCE.sub(lambda m: environ.get(m.group(1) or m.group(2), ""), text)


@dataclass(frozen=True)
class SecretScope:
    """One ``spec.secrets.scopes`` entry."""

    store: str
    default_access: str = _ALLOW
    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    def allows(self, key: str) -> bool:
        """daprd's ``SecretsScope.IsSecretAllowed``."""
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_access == _ALLOW


@dataclass(frozen=True)
class ApiRule:
    """One ``spec.api.allowed`` / ``denied`` entry."""

    name: str
    version: str
    protocol: str

    def matches_http(self, group: str, group_version: str, api_version: str,
                     route: str) -> bool:
        """The group rule (``state``/``v1``) or daprd's legacy path rule (``state``/``v1.0``)."""
        return ((self.name == group and self.version == group_version)
                or (self.version == api_version and route.startswith(self.name)))

    def covers_rpc(self, rpc: str) -> bool:
        return rpc in GRPC_API_GROUPS.get(f"{self.name}.{self.version}", frozenset())


@dataclass(frozen=True)
class AclOperation:
    name: str
    verbs: Mapping[str, str]
    action: str

    def matches(self, operation: str) -> bool:
        # "*" stands for one path segment or part of one, "**" for any number of them.
        pattern = "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                          for part in re.split(r"(\*\*|\*)", self.name))
        return re.fullmatch(pattern, operation) is not None


@dataclass(frozen=True)
class AclPolicy:
    app_id: str
    default_action: str
    trust_domain: str
    namespace: str
    operations: tuple[AclOperation, ...]


@dataclass(frozen=True)
class AccessControl:
    """``spec.accessControl``, as ``pkg/acl`` applies it to an HTTP app."""

    default_action: str
    trust_domain: str
    policies: Mapping[str, AclPolicy]

    def allows(self, caller: str, method: str, verb: str, trust_domain: str = _DEFAULT_TRUST_DOMAIN,
               namespace: str = _DEFAULT_NAMESPACE) -> bool:
        """``IsOperationAllowedByAccessControlPolicy`` for an HTTP app and ``caller``'s call."""
        action = self.default_action
        policy = self.policies.get(caller) if caller else None
        if policy is None or policy.trust_domain != trust_domain or policy.namespace != namespace:
            return action.lower() == _ALLOW
        if policy.default_action:
            action = policy.default_action
        operation = "/" + method.lstrip("/").lower()
        for rule in policy.operations:
            if rule.matches(operation):
                action = rule.verbs.get(verb.upper(), rule.verbs.get("*", action))
                break
        return action.lower() == _ALLOW


@dataclass(frozen=True)
class Configuration:
    """The merged ``--config`` files; ``Configuration()`` is daprd's default (no file)."""

    files: tuple[Path, ...] = ()
    secret_scopes: Mapping[str, SecretScope] = field(default_factory=dict)
    api_allowed: tuple[ApiRule, ...] = ()
    api_denied: tuple[ApiRule, ...] = ()
    access_control: AccessControl | None = None
    sampling_rate: str = ""
    stdout: bool = False
    api_logging: ApiLogging = field(default_factory=ApiLogging)
    ignored: tuple[str, ...] = ()

    def secret_allowed(self, store: str, key: str) -> bool:
        scope = self.secret_scopes.get(store)
        return scope is None or scope.allows(key)

    def http_api_allowed(self, group: str, group_version: str, api_version: str,
                         route: str) -> bool:
        """daprd's ``Endpoint.IsAllowed`` for one HTTP endpoint."""
        if group in ALWAYS_ALLOWED:
            return True
        denied = [r for r in self.api_denied if r.protocol == "http"]
        allowed = [r for r in self.api_allowed if r.protocol == "http"]
        if any(r.matches_http(group, group_version, api_version, route) for r in denied):
            return False
        return not allowed or any(
            r.matches_http(group, group_version, api_version, route) for r in allowed)

    def grpc_api_allowed(self, rpc: str) -> bool:
        """daprd's gRPC API allow/deny interceptor for RPC ``rpc`` (its short name)."""
        if any(r.protocol == "grpc" and r.covers_rpc(rpc) for r in self.api_denied):
            return False
        allowed = [r for r in self.api_allowed if r.protocol == "grpc"]
        return not allowed or any(r.covers_rpc(rpc) for r in allowed)

    def check_secret(self, store: str, key: str) -> None:
        """SecretPermissionDenied in daprd's words unless ``key`` of ``store`` may be read."""
        if not self.secret_allowed(store, key):
            raise SecretPermissionDenied(f"access denied by policy to get {_go_quote(key)} "
                                         f"from {_go_quote(store)}")

    def check_invocation(self, caller: str, method: str, verb: str) -> None:
        """InvocationDenied in daprd's words unless ``caller`` may call ``method``."""
        acl = self.access_control
        if acl is None or acl.allows(caller, method, verb):
            return
        operation = "/" + method.lstrip("/")
        raise InvocationDenied(f"access control policy has denied access to appid: {caller} "
                               f"operation: {operation} verb: {verb.upper()}")

    def tracer(self, app_id: str) -> Tracer:
        return Tracer(self.sampling_rate, self.stdout, app_id)


_DEFAULT = Configuration()
_NO_TRACER = Tracer("0")


def configuration_of(runtime: object) -> tuple[Configuration, Tracer]:
    """A runtime's configuration and tracer; the defaults for a stand-in that has none."""
    configuration = getattr(runtime, "configuration", None)
    if not isinstance(configuration, Configuration):
        return _DEFAULT, _NO_TRACER
    tracer = getattr(runtime, "tracer", None)
    return configuration, tracer if isinstance(tracer, Tracer) else _NO_TRACER


def _go_quote(text: str) -> str:
    """Go's ``%q`` for plain text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"{path}: cannot read the file ({err.strerror})") from err
    try:
        document = yaml.safe_load(expand_env(text, environ))
    except yaml.YAMLError as err:
        raise ConfigurationError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: must be a Configuration resource (a mapping)")
    for key, expected in (("apiVersion", _API_VERSION), ("kind", _KIND)):
        if document.get(key) != expected:
            raise ConfigurationError(f"{path}: {key}: must be {expected}, got "
                                     f"{document.get(key)!r}")
    spec = document.get("spec") or {}
    if not isinstance(spec, dict):
        raise ConfigurationError(f"{path}: spec: must be a mapping")
    return spec


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A later file's fields over an earlier one's, as Go decodes into one struct."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Reader:
    """Typed access to the merged spec; errors name the files and the field."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.where = ", ".join(str(f) for f in files)

    def fail(self, field_name: str, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}: spec.{field_name}: {message}")

    def mapping(self, value: Any, field_name: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field_name, f"must be a mapping, got {type(value).__name__}")
        return value

    def items(self, value: Any, field_name: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(field_name, "must be a list of mappings")
        return value

    def text(self, value: Any, field_name: str) -> str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise self.fail(field_name, f"must be a string, got {type(value).__name__}")
        return str(value).lower() if isinstance(value, bool) else str(value)

    def strings(self, value: Any, field_name: str) -> frozenset[str]:
        if value is None:
            return frozenset()
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            raise self.fail(field_name, "must be a list of strings")
        return frozenset(str(v) for v in value)


def _secret_scopes(r: _Reader, secrets: Any) -> dict[str, SecretScope]:
    scopes: dict[str, SecretScope] = {}
    for index, raw in enumerate(r.items(r.mapping(secrets, "secrets").get("scopes"),
                                        "secrets.scopes")):
        where = f"secrets.scopes[{index}]"
        store = r.text(raw.get("storeName"), f"{where}.storeName")
        if store in scopes:
            raise r.fail(f"{where}.storeName", f"{store} storeName is repeated in secrets "
                                               "configuration")
        access = r.text(raw.get("defaultAccess"), f"{where}.defaultAccess").lower() or _ALLOW
        if access not in (_ALLOW, _DENY):
            raise r.fail(f"{where}.defaultAccess", f"defaultAccess {raw.get('defaultAccess')} "
                                                   "can be either allow or deny")
        scopes[store] = SecretScope(
            store, access, r.strings(raw.get("allowedSecrets"), f"{where}.allowedSecrets"),
            r.strings(raw.get("deniedSecrets"), f"{where}.deniedSecrets"))
    return scopes


def _api_rules(r: _Reader, api: Mapping[str, Any], kind: str) -> tuple[ApiRule, ...]:
    rules = []
    for index, raw in enumerate(r.items(api.get(kind), f"api.{kind}")):
        where = f"api.{kind}[{index}]"
        protocol = r.text(raw.get("protocol"), f"{where}.protocol").lower() or "http"
        if protocol not in ("http", "grpc"):
            raise r.fail(f"{where}.protocol", f"must be http or grpc, got {protocol!r}")
        rules.append(ApiRule(r.text(raw.get("name"), f"{where}.name"),
                             r.text(raw.get("version"), f"{where}.version"), protocol))
    return tuple(rules)


def _operation(r: _Reader, raw: Mapping[str, Any], where: str) -> AclOperation:
    name = r.text(raw.get("name"), f"{where}.name")
    action = r.text(raw.get("action"), f"{where}.action")
    verbs = {verb.upper(): action for verb in r.strings(raw.get("httpVerb"), f"{where}.httpVerb")}
    return AclOperation("/" + name.lstrip("/").lower(), verbs, action)


def _access_control(r: _Reader, value: Any) -> AccessControl | None:
    spec = r.mapping(value, "accessControl")
    policies_raw = r.items(spec.get("policies"), "accessControl.policies")
    default = r.text(spec.get("defaultAction"), "accessControl.defaultAction")
    trust = r.text(spec.get("trustDomain"), "accessControl.trustDomain")
    if not (default or trust or policies_raw):
        return None  # daprd: no access control list at all
    if not default:
        # daprd: policies without a global default action default to the safer "deny".
        default = _DENY if policies_raw else _ALLOW
        if policies_raw:
            _log.warning("No global default action has been specified. Setting default global "
                         "action as Deny")
    policies: dict[str, AclPolicy] = {}
    for index, raw in enumerate(policies_raw):
        where = f"accessControl.policies[{index}]"
        missing = [key for key in ("appId", "trustDomain", "namespace") if not raw.get(key)]
        if missing:
            raise r.fail(where, f"invalid access control spec: missing {', '.join(missing)}")
        operations = tuple(_operation(r, op, f"{where}.operations[{i}]") for i, op in
                           enumerate(r.items(raw.get("operations"), f"{where}.operations")))
        app_id = r.text(raw["appId"], f"{where}.appId")
        policies[app_id] = AclPolicy(
            app_id, r.text(raw.get("defaultAction"), f"{where}.defaultAction"),
            r.text(raw["trustDomain"], f"{where}.trustDomain"),
            r.text(raw["namespace"], f"{where}.namespace"), operations)
    return AccessControl(default, trust or _DEFAULT_TRUST_DOMAIN, policies)


def _api_logging(r: _Reader, logging_spec: Mapping[str, Any]) -> ApiLogging:
    raw = r.mapping(logging_spec.get("apiLogging"), "logging.apiLogging")
    values: dict[str, bool] = {}
    for key, value in raw.items():
        where = f"logging.apiLogging.{key}"
        if key not in _API_LOGGING_FIELDS:
            raise r.fail(where, f"unknown field (known: {', '.join(_API_LOGGING_FIELDS)})")
        if not isinstance(value, bool):
            raise r.fail(where, f"must be true or false, got {value!r}")
        values[_API_LOGGING_FIELDS[key]] = value
    return ApiLogging(**values)


def _ignored(spec: Mapping[str, Any], tracing: Mapping[str, Any],
             logging_spec: Mapping[str, Any]) -> tuple[str, ...]:
    names = [f"spec.{key}" for key in spec if key not in _HONOURED]
    names += [f"spec.tracing.{key}" for key in tracing if key not in _TRACING_HONOURED]
    names += [f"spec.logging.{key}" for key in logging_spec if key != "apiLogging"]
    return tuple(names)


def load_configuration(paths: Sequence[Path],
                       environ: Mapping[str, str] | None = None) -> Configuration:
    """Read, merge and check ``paths`` (daprd's ``--config`` files, in order)."""
    if not paths:
        return Configuration()
    environ = os.environ if environ is None else environ
    spec: dict[str, Any] = {}
    for path in paths:
        spec = _merge(spec, _read(path, environ))
    r = _Reader(paths)
    api = r.mapping(spec.get("api"), "api")
    tracing = r.mapping(spec.get("tracing"), "tracing")
    logging_spec = r.mapping(spec.get("logging"), "logging")
    stdout = tracing.get("stdout", False)
    if not isinstance(stdout, bool):
        raise r.fail("tracing.stdout", f"must be true or false, got {stdout!r}")
    configuration = Configuration(
        files=tuple(paths), secret_scopes=_secret_scopes(r, spec.get("secrets")),
        api_allowed=_api_rules(r, api, "allowed"), api_denied=_api_rules(r, api, "denied"),
        access_control=_access_control(r, spec.get("accessControl")),
        sampling_rate=r.text(tracing.get("samplingRate"), "tracing.samplingRate"),
        stdout=stdout, api_logging=_api_logging(r, logging_spec),
        ignored=_ignored(spec, tracing, logging_spec))
    if configuration.ignored:
        _log.warning("Configuration %s: not supported by the local runtime, ignored: %s",
                     r.where, ", ".join(configuration.ignored))
    return configuration

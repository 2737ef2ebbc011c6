"""The shape of ``serverless.yaml`` as a JSON Schema (checked with ``jsonschema``).

Shape only: types, required fields, allowed keys, formats. What needs more than one field
(references between functions and components, unique ports, secrets) is checked in model.py.
docs/deploy.md is the field-by-field reference for the same structure.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROFILES", "SERVERLESS_SCHEMA"]

#: Component profiles, in the order they are rendered: two local ones and the cluster one.
PROFILES = ("embedded", "services", "kubernetes")

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_POSITIVE = {"type": "integer", "minimum": 1}
_QUANTITY = {"type": ["string", "integer", "number"]}
#: ``dir/module.target``: a relative path without dots, so it stays inside the repository.
_HANDLER = {"type": "string",
            "pattern": r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.[A-Za-z_][A-Za-z0-9_]*$"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_FILE = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]+\.yaml$"}
_PATH = {"type": "string", "pattern": "^/[A-Za-z0-9_\\-/]*$"}
#: A pub/sub topic: what Redis Streams, RabbitMQ and Kafka all accept.
_TOPIC = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", "maxLength": 249}
#: A Go duration, as Dapr parses resiliency timeouts and intervals (``500ms``, ``1m30s``).
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
_POLICY_NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_\-]*$"}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these keys, the listed ones required."""
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_SECRET_REF = _closed({"secretKeyRef": _closed({"name": {"type": "string", "minLength": 1},
                                                "key": {"type": "string", "minLength": 1}},
                                               ("name", "key"))}, ("secretKeyRef",))

_COMPONENT_SPEC = _closed({
    "type": {"type": "string", "pattern": r"^(state|bindings|secretstores|pubsub)\.[a-z0-9.\-]+$"},
    "version": {"type": "string", "pattern": "^v[0-9]+$"},
    "note": {"type": "string"},
    "secretStore": _NAME,
    "metadata": {"type": "object",
                 "additionalProperties": {"anyOf": [{"type": "string"}, _SECRET_REF]}},
}, ("type",))

_COMPONENT = _closed({
    "description": {"type": "string"},
    "file": _FILE,
    "scoped": {"type": "boolean"},
    "profiles": {"type": "object", "minProperties": 1, "additionalProperties": False,
                 "properties": {profile: _COMPONENT_SPEC for profile in PROFILES}},
}, ("profiles",))

_HTTP_EVENT = _closed({"http": _closed({
    "path": _PATH,
    "method": {"enum": ["get", "post", "put", "patch", "delete"]},
}, ("path", "method"))}, ("http",))

_RESOURCES = _closed({"requests": {"type": "object", "additionalProperties": _QUANTITY},
                      "limits": {"type": "object", "additionalProperties": _QUANTITY}})

_FUNCTION = _closed({
    "handler": _HANDLER,
    "description": {"type": "string"},
    "appId": _NAME,
    "port": _PORT,
    "dapr": _closed({"httpPort": _PORT, "grpcPort": _PORT}, ("httpPort", "grpcPort")),
    "components": {"type": "array", "items": _NAME, "uniqueItems": True},
    "invokes": {"type": "array", "items": _NAME, "uniqueItems": True},
    # Secrets the function reads through the Dapr secrets API; every other one is denied.
    "secrets": {"type": "array", "uniqueItems": True,
                "items": _closed({"store": _NAME, "key": {"type": "string", "minLength": 1}},
                                 ("store", "key"))},
    "publishes": {"type": "array", "uniqueItems": True,
                  "items": _closed({"pubsub": _NAME, "topic": _TOPIC}, ("pubsub", "topic"))},
    "events": {"type": "array", "items": _HTTP_EVENT, "minItems": 1},
    "scaling": _closed({"min": {"type": "integer", "minimum": 0}, "max": _POSITIVE},
                       ("min", "max")),
    "concurrency": _POSITIVE,
    "workers": _POSITIVE,
    "threads": _POSITIVE,
    "resources": _RESOURCES,
    "environment": _STRING_MAP,
    "build": _closed({"args": _STRING_MAP}),
}, ("handler", "appId", "port", "dapr", "events", "scaling", "concurrency", "workers",
    "threads"))

_PROVIDER = _closed({
    "name": {"const": "dapr"},
    "runtime": {"type": "string", "pattern": r"^python3\.[0-9]+$"},
    "namespace": _NAME,
    "containerPort": _PORT,
    "image": _closed({"registry": {"type": "string", "minLength": 1},
                      "tag": {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"},
                      "dockerfile": {"type": "string"}}, ("registry", "tag", "dockerfile")),
    "dapr": _closed({"appProtocol": {"enum": ["http"]}, "config": _NAME,
                     "tracingSamplingRate": {"type": "string", "pattern": r"^[0-9.]+$"},
                     "logAsJson": {"type": "boolean"}},
                    ("appProtocol", "config")),
    "local": _closed({
        "runFile": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]+\.yaml$"},
        "profiles": _closed({"services": {"type": "string"}, "embedded": {"type": "string"}},
                            ("services", "embedded")),
        "runProfile": {"enum": ["services", "embedded"]},
    }, ("runFile", "profiles", "runProfile")),
    "openfunction": _closed({
        "builder": {"type": "string", "minLength": 1},
        "imageCredentials": _NAME,
        "srcRepo": _closed({"url": {"type": "string", "minLength": 1},
                            "revision": {"type": "string", "minLength": 1}},
                           ("url", "revision")),
        "inlineComponents": {"type": "boolean"},
    }, ("builder", "srcRepo")),
}, ("name", "runtime", "namespace", "containerPort", "image", "dapr", "local", "openfunction"))

_SUBSCRIPTION = _closed({
    "description": {"type": "string"},
    "file": _FILE,
    "pubsub": _NAME,
    "topic": _TOPIC,
    "function": _NAME,
    "route": _PATH,
    "deadLetterTopic": _TOPIC,
    "bulkSubscribe": _closed({"enabled": {"type": "boolean"},
                              "maxMessagesCount": {"type": "integer", "minimum": 1,
                                                   "maximum": 2**31 - 1},
                              "maxAwaitDurationMs": {"type": "integer", "minimum": 1,
                                                     "maximum": 2**31 - 1}}, ("enabled",)),
    "metadata": _STRING_MAP,
}, ("pubsub", "topic", "function", "route"))

# maxRetries is required: Dapr's default when it is left out is -1, retry forever.
_RETRY = _closed({
    "policy": {"enum": ["constant", "exponential"]},
    "duration": _DURATION,
    "maxInterval": _DURATION,
    "maxRetries": {"type": "integer", "minimum": -1},
    "matching": _closed({"httpStatusCodes": {"type": "string", "minLength": 1},
                         "gRPCStatusCodes": {"type": "string", "minLength": 1}}),
}, ("policy", "maxRetries"))

_CIRCUIT_BREAKER = _closed({
    "maxRequests": _POSITIVE,
    "interval": _DURATION,
    "timeout": _DURATION,
    "trip": {"type": "string", "minLength": 1},
}, ("trip",))


def _named(item: dict[str, Any]) -> dict[str, Any]:
    """A map of policy name -> ``item``."""
    return {"type": "object", "propertyNames": _POLICY_NAME, "additionalProperties": item}


_TARGET_POLICY = {**_closed({"timeout": _POLICY_NAME, "retry": _POLICY_NAME,
                             "circuitBreaker": _POLICY_NAME}), "minProperties": 1}

_RESILIENCY = _closed({
    "name": _NAME,
    "file": _FILE,
    "description": {"type": "string"},
    "policies": {**_closed({"timeouts": _named(_DURATION), "retries": _named(_RETRY),
                            "circuitBreakers": _named(_CIRCUIT_BREAKER)}), "minProperties": 1},
    "defaults": _closed({"apps": _TARGET_POLICY, "outbound": _TARGET_POLICY,
                         "inbound": _TARGET_POLICY}),
    "targets": _closed({
        "apps": {"type": "object", "propertyNames": _NAME, "additionalProperties": _TARGET_POLICY},
        "components": {"type": "object", "propertyNames": _NAME,
                       "additionalProperties": {**_closed({"outbound": _TARGET_POLICY,
                                                           "inbound": _TARGET_POLICY}),
                                                "minProperties": 1}},
    }),
}, ("policies",))

#: The whole description. Function and component names are DNS labels: they become resource names.
SERVERLESS_SCHEMA: dict[str, Any] = _closed({
    "service": _NAME,
    "provider": _PROVIDER,
    "functions": {"type": "object", "minProperties": 1, "propertyNames": _NAME,
                  "additionalProperties": _FUNCTION},
    "components": {"type": "object", "propertyNames": _NAME,
                   "additionalProperties": _COMPONENT},
    "subscriptions": {"type": "object", "propertyNames": _NAME,
                      "additionalProperties": _SUBSCRIPTION},
    "resiliency": _RESILIENCY,
}, ("service", "provider", "functions", "components"))

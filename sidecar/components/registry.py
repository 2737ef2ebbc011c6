"""Dapr type strings -> component classes, and the set of components one runtime loaded.

Classes are imported lazily (``component_class``) so a driver such as redis or boto3 is
imported only when a component of its type is configured.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field

from .base import Component
from .bindings.base import InputBinding, OutputBinding
from .pubsub.base import PubSub
from .secrets.base import SecretStore
from .state.base import StateStore

__all__ = ["COMPONENT_TYPES", "LoadedComponent", "Registry", "component_class"]

#: Dapr type string -> "module:Class" implementing it.
COMPONENT_TYPES: dict[str, str] = {
    "state.in-memory": "sidecar.components.state.in_memory:InMemoryStateStore",
    "state.redis": "sidecar.components.state.redis:RedisStateStore",
    "secretstores.local.file": "sidecar.components.secrets.local_file:LocalFileSecretStore",
    "secretstores.local.env": "sidecar.components.secrets.local_env:LocalEnvSecretStore",
    "bindings.mysql": "sidecar.components.bindings.mysql.binding:MySQLBinding",
    "bindings.localstorage": "sidecar.components.bindings.localstorage:LocalStorageBinding",
    "bindings.aws.s3": "sidecar.components.bindings.aws_s3:S3Binding",
    "bindings.cron": "sidecar.components.bindings.cron:CronBinding",
    "pubsub.local.sqlite": "sidecar.components.pubsub.sqlite:SQLitePubSub",
    "pubsub.redis": "sidecar.components.pubsub.redis:RedisPubSub",
    "pubsub.rabbitmq": "sidecar.components.pubsub.rabbitmq:RabbitMQPubSub",
    "pubsub.in-memory": "sidecar.components.pubsub.in_memory:InMemoryPubSub",
}

_log = logging.getLogger(__name__)


def component_class(type_name: str) -> type[Component]:
    """Import and return the class for ``type_name``; KeyError when the type is unknown."""
    module_name, _, class_name = COMPONENT_TYPES[type_name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise TypeError(f"{COMPONENT_TYPES[type_name]} is not a Component class")
    return cls


@dataclass(frozen=True)
class LoadedComponent:
    """One configured component, as the metadata API lists it."""

    name: str
    type_name: str
    version: str
    instance: Component
    #: What the metadata API lists: the type's features, plus ``ACTOR`` for an actor store.
    capabilities: tuple[str, ...] = ()


@dataclass
class Registry:
    """The components one runtime serves, by building block and name."""

    components: list[LoadedComponent] = field(default_factory=list)
    state_stores: dict[str, StateStore] = field(default_factory=dict)
    #: State store name -> the prefix its keys get ("" for keyPrefix none).
    key_prefixes: dict[str, str] = field(default_factory=dict)
    secret_stores: dict[str, SecretStore] = field(default_factory=dict)
    output_bindings: dict[str, OutputBinding] = field(default_factory=dict)
    input_bindings: dict[str, InputBinding] = field(default_factory=dict)
    pubsubs: dict[str, PubSub] = field(default_factory=dict)

    def add(self, loaded: LoadedComponent, key_prefix: str = "") -> None:
        """Register ``loaded`` under every building block its class implements."""
        self.components.append(loaded)
        instance, name = loaded.instance, loaded.name
        if isinstance(instance, StateStore):
            self.state_stores[name] = instance
            self.key_prefixes[name] = key_prefix
        if isinstance(instance, SecretStore):
            self.secret_stores[name] = instance
        if isinstance(instance, OutputBinding):
            self.output_bindings[name] = instance
        if isinstance(instance, InputBinding):
            self.input_bindings[name] = instance
        if isinstance(instance, PubSub):
            self.pubsubs[name] = instance

    def close(self) -> None:
        """Close every component, in reverse order of loading; errors do not stop the rest."""
        for loaded in reversed(self.components):
            try:
                loaded.instance.close()
            except Exception:  # noqa: BLE001 - one failing close must not leak the others
                _log.exception("closing component %s failed", loaded.name)

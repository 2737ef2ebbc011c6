"""Metadata daprd handles for every ``pubsub.*`` component, whatever its type.

``consumerID`` (defaulted to the app id, so brokers name consumer groups and queues from it)
and the scoping keys (``publishingScopes``, ``subscriptionScopes``, ``allowedTopics``,
``protectedTopics``) are accepted on every pub/sub component; ``template_metadata`` applies
daprd's ``{uuid}``, ``{podName}``, ``{namespace}`` and ``{appID}`` placeholders
(``pkg/runtime/processor/meta.go``) and its ``consumerID`` default
(``pkg/runtime/processor/pubsub``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from ...errors import ComponentConfigError

__all__ = ["CONSUMER_ID", "PUBSUB_COMMON_METADATA", "template_metadata"]

CONSUMER_ID = "consumerID"
PUBSUB_COMMON_METADATA = frozenset({
    CONSUMER_ID, "publishingScopes", "subscriptionScopes", "allowedTopics", "protectedTopics",
})


def _templated(name: str, value: str, app_id: str, environ: Mapping[str, str]) -> str:
    while "{uuid}" in value:
        value = value.replace("{uuid}", str(uuid.uuid4()), 1)
    if "{podName}" in value:
        pod = environ.get("POD_NAME", "")
        if not pod:
            raise ComponentConfigError(f"metadata {name!r}: refers to {{podName}} but POD_NAME "
                                       "is not set")
        value = value.replace("{podName}", pod)
    value = value.replace("{namespace}", f"{environ.get('NAMESPACE', '')}.{app_id}")
    return value.replace("{appID}", app_id)


def template_metadata(metadata: Mapping[str, str], app_id: str,
                      environ: Mapping[str, str]) -> dict[str, str]:
    """The metadata with placeholders applied and ``consumerID`` defaulted to the app id."""
    resolved = {k: _templated(k, v, app_id, environ) for k, v in metadata.items()}
    resolved[CONSUMER_ID] = resolved.get(CONSUMER_ID, "").strip() or app_id
    return resolved

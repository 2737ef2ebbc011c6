"""The HTTP bulk-publish body and answer (``POST /v1.0-alpha1/publish/bulk/<pubsub>/<topic>``).

Body: ``[{"entryId", "event", "contentType", "metadata"}]``; ``event`` becomes bytes as daprd's
``ConvertEventToBytes`` does (JSON content types: its JSON text; text/*, XML: the string;
``application/octet-stream``: base64 text decoded). Answer on failure: ``{"failedEntries":
[{"entryId", "error"}], "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import PubSubEventsError, PubSubPublishError
from .cloudevents import event_to_bytes
from .publisher import BulkEntry

__all__ = ["bulk_entries", "failed_entries_body"]


def _events_error(pubsub: str, topic: str, reason: str) -> PubSubEventsError:
    return PubSubEventsError(f"error when unmarshaling the request for topic {topic} pubsub "
                             f"{pubsub}: {reason}")


def bulk_entries(body: bytes, pubsub: str, topic: str) -> list[BulkEntry]:
    """The entries of an HTTP bulk-publish body; PubSubEventsError when it cannot be read."""
    try:
        items: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise _events_error(pubsub, topic, str(err)) from None
    if not isinstance(items, list):
        raise _events_error(pubsub, topic, "expected a JSON array of entries")
    entries = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _events_error(pubsub, topic, f"entry {index} is not a JSON object")
        metadata = item.get("metadata") or {}
        content_type = item.get("contentType") or ""
        entry_id = item.get("entryId") or ""
        if (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in
                                                       metadata.values())
                or not isinstance(content_type, str) or not isinstance(entry_id, str)):
            raise _events_error(pubsub, topic, f"entry {index}: entryId and contentType must "
                                               "be strings, metadata a map of strings")
        entries.append(BulkEntry(entry_id, event_to_bytes(item.get("event"), content_type),
                                 content_type, metadata))
    return entries


def failed_entries_body(failed: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """daprd's BulkPublishResponse for a partly failed bulk publish (status 500)."""
    return {"failedEntries": [{"entryId": entry_id, "error": error}
                              for entry_id, error in failed],
            "errorCode": PubSubPublishError.code}

"""The CloudEvent envelope, as daprd builds it (``pkg/runtime/pubsub/cloudevents.go`` and
components-contrib ``pubsub/envelope.go``).

Hand-written rather than the ``cloudevents`` SDK: daprd's envelope is a plain JSON map with
its own extension fields, its data/data_base64 rule and an incoming event kept field for field,
which the SDK's attribute validation and marshalling would change.

A published body becomes ``{id, source (the app id), type com.dapr.event.sent, specversion
1.0, datacontenttype, topic, pubsubname, traceid, traceparent, tracestate, time, data |
data_base64}``. A body sent as ``application/cloudevents+json`` is kept and only missing
fields filled. ``metadata.cloudevent.{id,source,type,traceid,traceparent,tracestate}``
override fields; ``metadata.ttlInSeconds`` adds ``expiration`` when the broker has no TTL.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import PubSubCloudEventError, PubSubMetadataError
from ..tracing import SpanContext

__all__ = [
    "CLOUDEVENT_CONTENT_TYPE",
    "DEFAULT_DATA_CONTENT_TYPE",
    "DEFAULT_SOURCE",
    "DEFAULT_TYPE",
    "RAW_PAYLOAD",
    "SPEC_VERSION",
    "TTL_IN_SECONDS",
    "dump_event",
    "event_to_bytes",
    "from_raw_payload",
    "has_expired",
    "is_binary_content_type",
    "is_cloudevent_content_type",
    "is_json_content_type",
    "is_raw_payload",
    "is_string_content_type",
    "new_envelope",
    "read_event",
    "rfc3339",
]

CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
DEFAULT_TYPE = "com.dapr.event.sent"
DEFAULT_SOURCE = "Dapr"
DEFAULT_DATA_CONTENT_TYPE = "text/plain"
SPEC_VERSION = "1.0"
RAW_PAYLOAD = "rawPayload"
TTL_IN_SECONDS = "ttlInSeconds"
_OVERRIDE_PREFIX = "cloudevent."
_OVERRIDES = ("id", "source", "type", "traceid", "traceparent", "tracestate")
# Go's strconv.ParseBool.
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False,
             "False": False}


def _media_type(content_type: str) -> str:
    return content_type.lower().split(";", 1)[0].strip()


def is_cloudevent_content_type(content_type: str) -> bool:
    return _media_type(content_type) == CLOUDEVENT_CONTENT_TYPE


def is_json_content_type(content_type: str) -> bool:
    return _media_type(content_type) == "application/json"


def is_binary_content_type(content_type: str) -> bool:
    return _media_type(content_type) == "application/octet-stream"


def is_string_content_type(content_type: str) -> bool:
    return content_type.lower().startswith("text/") or _media_type(
        content_type) == "application/xml"


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` text: seconds, ``Z`` for UTC, else the offset."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def dump_event(event: Mapping[str, Any]) -> bytes:
    """Go ``json.Marshal`` of a map: compact, keys sorted."""
    try:
        return json.dumps(event, separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise PubSubCloudEventError(f"cannot serialize the cloud event: {err}") from err


def is_raw_payload(metadata: Mapping[str, str]) -> bool:
    """components-contrib ``metadata.IsRawPayload``: a Go boolean, false when absent."""
    value = metadata.get(RAW_PAYLOAD, "")
    if value == "":
        return False
    if value not in _GO_BOOLS:
        raise PubSubMetadataError(f"failed deserializing metadata. Error: {RAW_PAYLOAD} value "
                                  f"must be a valid boolean: actual is '{value}'")
    return _GO_BOOLS[value]


def _ttl_seconds(metadata: Mapping[str, str]) -> int | None:
    """A positive ``ttlInSeconds``; anything else is ignored, as daprd's ApplyMetadata does."""
    try:
        ttl = int(metadata.get(TTL_IN_SECONDS, ""))
    except ValueError:
        return None
    return ttl if ttl > 0 else None


def _data_field(data: bytes, content_type: str) -> tuple[str, Any]:
    if is_json_content_type(content_type):
        try:
            return "data", json.loads(data)
        except (UnicodeDecodeError, ValueError):
            pass
    elif is_binary_content_type(content_type):
        return "data_base64", base64.b64encode(data).decode("ascii")
    return "data", data.decode("utf-8", "replace")


def _kept_event(data: bytes, app_fields: Mapping[str, Any]) -> dict[str, Any]:
    """FromCloudEvent: the app's own event, daprd's routing fields set, defaults filled."""
    try:
        event = json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise PubSubCloudEventError(f"cannot create cloudevent: {err}") from err
    if not isinstance(event, dict):
        raise PubSubCloudEventError("cannot create cloudevent: the body is not a JSON object")
    event.setdefault("time", rfc3339(datetime.now().astimezone()))
    event.update(app_fields)
    for key, default in (("source", DEFAULT_SOURCE), ("type", DEFAULT_TYPE),
                         ("specversion", SPEC_VERSION)):
        if event.get(key) is None:
            event[key] = default
    return event


def new_envelope(*, app_id: str, pubsub: str, topic: str, data: bytes, content_type: str,
                 metadata: Mapping[str, str], broker_ttl: bool = False,
                 trace: SpanContext | None = None) -> dict[str, Any]:
    """daprd's NewCloudEvent + ApplyMetadata for one published message (see module doc).

    ``trace`` is the publishing request's span: its traceparent/tracestate go into the event
    unless ``metadata.cloudevent.*`` overrides them.
    """
    overrides = {key[len(_OVERRIDE_PREFIX):].lower(): value for key, value in metadata.items()
                 if key.lower().startswith(_OVERRIDE_PREFIX)}
    traceparent = (overrides.get("traceparent") or overrides.get("traceid")
                   or (trace.traceparent if trace else ""))
    tracestate = overrides.get("tracestate", trace.tracestate if trace else "")
    if is_cloudevent_content_type(content_type):
        event = _kept_event(data, {"traceid": traceparent, "traceparent": traceparent,
                                   "tracestate": tracestate, "topic": topic,
                                   "pubsubname": pubsub})
    else:
        content_type = content_type or DEFAULT_DATA_CONTENT_TYPE
        field, value = _data_field(data, content_type)
        event = {
            "id": overrides.get("id") or str(uuid.uuid4()),
            "specversion": SPEC_VERSION, "datacontenttype": content_type,
            "source": overrides.get("source") or app_id or DEFAULT_SOURCE,
            "type": overrides.get("type") or DEFAULT_TYPE,
            "topic": topic, "pubsubname": pubsub, "traceid": traceparent,
            "traceparent": traceparent, "tracestate": tracestate,
            "time": rfc3339(datetime.now().astimezone()), field: value,
        }
    ttl = _ttl_seconds(metadata)
    if ttl is not None and not broker_ttl:
        event["expiration"] = rfc3339(datetime.now(UTC) + timedelta(seconds=ttl))
    return event


def from_raw_payload(data: bytes, topic: str, pubsub: str) -> dict[str, Any]:
    """The event a ``rawPayload`` subscriber gets: the bytes as ``data_base64``."""
    return {"id": str(uuid.uuid4()), "specversion": SPEC_VERSION,
            "datacontenttype": "application/octet-stream", "source": DEFAULT_SOURCE,
            "type": DEFAULT_TYPE, "topic": topic, "pubsubname": pubsub,
            "data_base64": base64.b64encode(data).decode("ascii")}


def read_event(data: bytes, topic: str, pubsub: str, raw: bool) -> dict[str, Any]:
    """The CloudEvent a broker message holds (a raw payload wrapped as one); ValueError saying
    why, in daprd's words, when it cannot be read."""
    if raw:
        return from_raw_payload(data, topic, pubsub)
    try:
        event = json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"error deserializing cloud event in pubsub {pubsub} and topic "
                         f"{topic}: {err}") from err
    if not isinstance(event, dict):
        raise ValueError(f"error deserializing cloud event in pubsub {pubsub} and topic "
                         f"{topic}: not a JSON object")
    return event


def has_expired(event: Mapping[str, Any]) -> bool:
    """True when ``expiration`` is an RFC 3339 time in the past (unparsable: not expired)."""
    text = event.get("expiration")
    if not isinstance(text, str) or not text:
        return False
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        return False
    return moment < datetime.now(UTC)


def event_to_bytes(event: Any, content_type: str) -> bytes:
    """An HTTP bulk-publish entry's ``event`` as bytes (daprd's ConvertEventToBytes)."""
    if is_json_content_type(content_type) or is_cloudevent_content_type(content_type):
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if is_string_content_type(content_type):
        if not isinstance(event, str):
            raise PubSubCloudEventError(f"error mismatch of content type {content_type} and "
                                        f"event of type {type(event).__name__}")
        return event.encode("utf-8")
    if is_binary_content_type(content_type):
        if not isinstance(event, str):
            raise PubSubCloudEventError(f"error mismatch of content type {content_type}: "
                                        "a base64 string is expected")
        try:
            return base64.b64decode(event, validate=True)
        except (binascii.Error, ValueError) as err:
            raise PubSubCloudEventError(f"error decoding base64 event: {err}") from err
    raise PubSubCloudEventError(f"unable to marshal event with content type {content_type!r}")

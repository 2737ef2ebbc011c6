"""Reading what Dapr delivers to ``POST /event``: one CloudEvent, or a bulk envelope of them.

Pure functions, no I/O. A delivery is a CloudEvent whose ``id`` is the event's unique id (the
publisher sets it, so a redelivered message carries the same one) and whose ``data`` is the
event object ``{event_ts, op_type, input_size}``. With bulk subscribe Dapr posts
``{"entries": [{"entryId", "event": <CloudEvent>, ...}], ...}`` and expects a status per
entry. Each entry is checked alone: a malformed one is dropped (Dapr sends it to the
dead-letter topic when one is set), the others are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_EVENT_ID", "Entry", "read_delivery", "statuses"]

#: Longest event id stored (the ``event_id`` column is VARCHAR(64)).
MAX_EVENT_ID = 64


@dataclass(frozen=True)
class Entry:
    """One delivered event: its bulk entry id ("" for a single delivery), its event id and
    insert parameters, or why it is dropped."""

    entry_id: str
    event_id: str = ""
    row: tuple[Any, ...] = ()
    problem: str = ""


def _entry(entry_id: str, cloud_event: Any,
           validate: Callable[[Any], list[Any]]) -> Entry:
    if not isinstance(cloud_event, dict):
        return Entry(entry_id, problem="the delivery is not a CloudEvent object")
    event_id = cloud_event.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID:
        return Entry(entry_id, problem=f"the CloudEvent id must be a string of "
                                       f"1..{MAX_EVENT_ID} characters")
    try:
        row = validate(cloud_event.get("data"))
    except ValueError as err:
        return Entry(entry_id, event_id, problem=str(err))
    return Entry(entry_id, event_id, tuple(row))


def read_delivery(body: Any, validate: Callable[[Any], list[Any]]) -> tuple[bool, list[Entry]]:
    """(whether it is a bulk delivery, its entries). ``validate`` turns an event object into
    insert parameters or raises ValueError saying what is wrong."""
    if isinstance(body, dict) and isinstance(body.get("entries"), list):
        entries = []
        for index, item in enumerate(body["entries"]):
            entry_id = item.get("entryId") if isinstance(item, dict) else None
            if not isinstance(entry_id, str) or not entry_id:
                entries.append(Entry(f"#{index}", problem="bulk entry without an entryId"))
                continue
            entries.append(_entry(entry_id, item.get("event"), validate))
        return True, entries
    return False, [_entry("", body, validate)]


def statuses(entries: list[Entry], stored: bool) -> list[dict[str, str]]:
    """Dapr's bulk answer: DROP for malformed entries, the rest SUCCESS or RETRY."""
    taken = "SUCCESS" if stored else "RETRY"
    return [{"entryId": e.entry_id, "status": "DROP" if e.problem else taken}
            for e in entries if not e.entry_id.startswith("#")]

"""``bindings.cron``: daprd's cron input binding, firing on a background thread.

Metadata: ``schedule`` (required), in the forms daprd's parser (robfig/cron with
``SecondOptional | Descriptor``) accepts:

- ``@every <Go duration>`` (``@every 10s``, ``@every 1m30s``): fires on whole seconds, every
  duration truncated to whole seconds (at least 1s), counted from start-up;
- ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``, ``@hourly``;
- 5-field cron (``min hour dom month dow``) or 6-field with seconds first
  (``*/15 * * * * *``), evaluated by croniter; names (MON-FRI, JAN) and ``?`` work;
- an optional ``TZ=Area/City`` or ``CRON_TZ=Area/City`` prefix; otherwise local time.

Each firing calls ``deliver(b"", {"timeZone": ..., "readTimeUTC": ...})`` -- empty data and the
two metadata keys daprd sends (``timeZone`` is "Local" unless a TZ prefix names a zone;
``readTimeUTC`` is Go's ``time.Time.String()`` of the UTC time). A delivery that raises is
logged and the schedule goes on, as daprd ignores the app's answer. Deliveries run one at a
time on the binding's thread, so a firing due while the app is still busy with the previous
one is skipped (robfig would run them concurrently).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ...errors import BindingInvokeError, ComponentConfigError
from ..go_values import parse_go_duration
from .base import Deliver, InputBinding

__all__ = ["CronBinding", "Schedule", "go_utc_string", "parse_schedule"]

_log = logging.getLogger(__name__)

_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
               "@hourly": "0 * * * *"}
_STOP_JOIN_SECONDS = 5.0
_NS = 10**9


class Schedule:
    """When a schedule fires next: ``next_after(t)`` in epoch seconds, strictly after ``t``."""

    def __init__(self, zone: tzinfo | None, every_seconds: int = 0, cron: str = "") -> None:
        self.zone, self._every, self._cron = zone, every_seconds, cron
        self._seconds_first = len(cron.split()) == 6

    @property
    def zone_name(self) -> str:
        """What daprd reports as ``timeZone``: Go's ``Location.String()``."""
        return str(self.zone) if self.zone is not None else "Local"

    def next_after(self, now: float) -> float:
        if self._every:
            return float(int(now) + self._every)  # robfig drops the sub-second part
        start = datetime.fromtimestamp(now, tz=self.zone or UTC)
        if self.zone is None:
            start = start.astimezone()
        it = croniter(self._cron, start, second_at_beginning=self._seconds_first)
        return float(it.get_next(float))


def parse_schedule(text: str) -> Schedule:
    """Parse a daprd cron schedule; raise ValueError saying what is wrong."""
    spec, zone = text.strip(), None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, spec = spec.partition(" ")
        name = prefix.partition("=")[2]
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        spec = spec.strip()
    if spec.startswith("@every"):
        delay = parse_go_duration(spec[len("@every"):].strip() or "missing")
        if delay <= 0:
            raise ValueError("@every needs a positive duration")
        return Schedule(zone, every_seconds=max(delay // _NS, 1))
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor {spec!r} (known: @every <duration>, "
                             f"{', '.join(_DESCRIPTORS)})")
        spec = _DESCRIPTORS[spec]
    fields = len(spec.split())
    if fields not in (5, 6) or not croniter.is_valid(spec, second_at_beginning=fields == 6):
        raise ValueError("expected 5 fields (min hour dom month dow) or 6 with seconds first")
    return Schedule(zone, cron=spec)


def go_utc_string(ns: int) -> str:
    """Go's ``time.Now().UTC().String()``: "2006-01-02 15:04:05.999999999 +0000 UTC"."""
    seconds, frac = divmod(ns, _NS)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + " +0000 UTC"


class CronBinding(InputBinding):
    """Dapr ``bindings.cron`` (metadata: schedule)."""

    type_name: ClassVar[str] = "bindings.cron"
    required_metadata: ClassVar[frozenset[str]] = frozenset({"schedule"})

    def __init__(self, name: str, metadata: Mapping[str, str]) -> None:
        super().__init__(name, metadata)
        text = self.metadata.get("schedule", "")
        if not text:
            raise ComponentConfigError(f"component {name!r}: schedule not set")
        try:
            self.schedule = parse_schedule(text)
        except ValueError as err:
            raise ComponentConfigError(
                f"component {name!r}: invalid schedule format {text!r}: {err}") from None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, deliver: Deliver) -> None:
        if self._stop.is_set():
            raise BindingInvokeError(f"binding {self.name!r}: binding is closed")
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(deliver,), daemon=True,
                                        name=f"cron-{self.name}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(_STOP_JOIN_SECONDS)

    def close(self) -> None:
        self.stop()

    def _run(self, deliver: Deliver) -> None:
        due = self.schedule.next_after(time.time())
        while not self._stop.wait(max(due - time.time(), 0.0)):
            if time.time() < due:
                continue  # woke early (clock adjustment): wait again for the same firing
            metadata = {"timeZone": self.schedule.zone_name,
                        "readTimeUTC": go_utc_string(time.time_ns())}
            try:
                deliver(b"", metadata)
            except Exception:  # noqa: BLE001 - one failed delivery must not stop the schedule
                _log.exception("cron binding %s: delivering the event failed", self.name)
            due = self.schedule.next_after(time.time())

"""bindings.cron: schedule parsing as daprd's parser, real firing on a thread, prompt stop."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

from sidecar.components.bindings.cron import CronBinding, go_utc_string, parse_schedule
from sidecar.errors import ComponentConfigError

GO_UTC = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$")


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
          zone: tzinfo = UTC) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp()


def test_every_1s_fires_with_daprd_metadata_and_stops_promptly():
    events: list[tuple[bytes, dict[str, str]]] = []
    fired = threading.Event()

    def deliver(data: bytes, metadata: dict[str, str]) -> None:
        events.append((data, metadata))
        if len(events) >= 2:
            fired.set()

    binding = CronBinding("tick", {"schedule": "@every 1s"})
    binding.start(deliver)
    try:
        assert fired.wait(4), f"expected 2 firings in 4s, got {len(events)}"
    finally:
        started = time.monotonic()
        binding.stop()
        stop_took = time.monotonic() - started
    assert stop_took < 0.5
    count = len(events)
    time.sleep(1.2)
    assert len(events) == count  # nothing after stop
    data, metadata = events[0]
    assert data == b""
    assert metadata["timeZone"] == "Local"
    assert GO_UTC.match(metadata["readTimeUTC"])


def test_a_failing_delivery_does_not_stop_the_schedule():
    calls: list[int] = []
    done = threading.Event()

    def deliver(data: bytes, metadata: dict[str, str]) -> None:
        calls.append(1)
        if len(calls) >= 2:
            done.set()
        raise RuntimeError("app is down")

    binding = CronBinding("tick", {"schedule": "@every 1s"})
    binding.start(deliver)
    try:
        assert done.wait(4)
    finally:
        binding.stop()


@pytest.mark.parametrize("spec, now, expected", [
    ("@every 10s", epoch(2024, 1, 1, 0, 0, 0) + 0.7, epoch(2024, 1, 1, 0, 0, 10)),
    ("@every 1m30s", epoch(2024, 1, 1, 0, 0, 0), epoch(2024, 1, 1, 0, 1, 30)),
    ("@every 1500ms", epoch(2024, 1, 1, 0, 0, 0), epoch(2024, 1, 1, 0, 0, 1)),
    ("TZ=UTC @hourly", epoch(2024, 1, 1, 5, 20, 0), epoch(2024, 1, 1, 6, 0, 0)),
    ("CRON_TZ=UTC @daily", epoch(2024, 1, 1, 5, 20, 0), epoch(2024, 1, 2, 0, 0, 0)),
    ("TZ=UTC */15 * * * * *", epoch(2024, 1, 1, 0, 0, 1), epoch(2024, 1, 1, 0, 0, 15)),
    ("TZ=UTC 0 30 * * * *", epoch(2024, 1, 1, 0, 0, 0), epoch(2024, 1, 1, 0, 30, 0)),
    ("TZ=UTC 0 9 * * MON-FRI", epoch(2024, 1, 6, 12, 0, 0), epoch(2024, 1, 8, 9, 0, 0)),
    ("TZ=Asia/Tokyo 0 9 * * *", epoch(2023, 12, 31, 12, 0, 0),
     epoch(2024, 1, 1, 9, 0, 0, zone=ZoneInfo("Asia/Tokyo"))),
])
def test_next_firing(spec, now, expected):
    assert parse_schedule(spec).next_after(now) == expected


def test_zone_name_follows_the_tz_prefix():
    assert parse_schedule("@hourly").zone_name == "Local"
    assert parse_schedule("TZ=Europe/Paris @hourly").zone_name == "Europe/Paris"


@pytest.mark.parametrize("spec, expected", [
    ("", "schedule not set"),
    ("@every", "invalid duration"),
    ("@every 10 seconds", "invalid duration"),
    ("@fortnightly", "unrecognized descriptor"),
    ("* * *", "expected 5 fields"),
    ("61 * * * *", "expected 5 fields"),
    ("TZ=Nowhere/Land @hourly", "unknown time zone"),
])
def test_bad_schedules_fail_at_start_up(spec, expected):
    with pytest.raises(ComponentConfigError, match=expected):
        CronBinding("tick", {"schedule": spec})


def test_go_utc_string():
    assert go_utc_string(1_700_000_000_120_000_000) == "2023-11-14 22:13:20.12 +0000 UTC"
    assert go_utc_string(1_700_000_000 * 10**9) == "2023-11-14 22:13:20 +0000 UTC"

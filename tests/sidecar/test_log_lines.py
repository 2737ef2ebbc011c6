"""The runtime's log under a repeated fault, and as JSON (real ``python -m sidecar``).

Redis goes away behind a TCP proxy the test shuts (the shared Redis is never stopped): each
failed state call is a warning, written once and then summarised with its count.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import redis

from sidecar.testing import run_sidecar
from tests.sidecar.components.state.test_redis_outage import TcpProxy
from tests.sidecar.helpers import component_doc, unique_id, write_components

_FAULT = "scope=sidecar.runtime msg=component call failed: StateGetError ERR_STATE_GET"
_REPEATED = re.compile(r"\(repeated (\d+) times in the last 1 s\)$")


def test_a_repeated_state_store_fault_is_one_line_and_a_summary(
        redis_client: redis.Redis, tmp_path: Path) -> None:
    proxy = TcpProxy()
    folder = write_components(tmp_path, component_doc("statestore", "state.redis", {
        "redisHost": f"127.0.0.1:{proxy.port}", "dialTimeout": "1s", "readTimeout": "1s",
        "redisMaxRetries": "1"}))
    with run_sidecar(unique_id("logs"), [folder], env={"LOG_REPEAT_SECONDS": "1"}) as sidecar:
        proxy.close()
        with httpx.Client(base_url=sidecar.http_url, timeout=10) as client:
            statuses = {client.get(f"/v1.0/state/statestore/k{i}").status_code
                        for i in range(30)}
        time.sleep(2.5)  # every summary is due
        log = sidecar.log
    assert statuses == {500}
    faults = [line for line in log.splitlines() if _FAULT in line]
    summaries = [line for line in faults if _REPEATED.search(line)]
    assert len(faults) - len(summaries) == 1, log
    counts = [int(m.group(1)) for m in map(_REPEATED.search, summaries) if m]
    assert len(counts) == len(summaries) and 1 + sum(counts) == 30
    assert all(line.startswith("time=") for line in log.splitlines()), log


def test_json_lines_parse(tmp_path: Path) -> None:
    folder = write_components(tmp_path, component_doc("statestore", "state.in-memory"))
    app_id = unique_id("json")
    with run_sidecar(app_id, [folder], env={"LOG_FORMAT": "json"}) as sidecar:
        log = sidecar.log
    records = [json.loads(line) for line in log.splitlines()]
    assert records, log
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["app_id"] == app_id
    assert any(r["message"].startswith("dapr initialized") for r in records), records

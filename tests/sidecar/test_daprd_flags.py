"""daprd's flags beyond the basic ones, on a real runtime: the body limit (``--max-body-size``),
calls to the app at once (``--app-max-concurrency``), the app's address
(``--app-channel-address``), ``--wait``, ``--log-as-json`` and the warning about flags that ask
for what a local runtime lacks. Parsing is in ``test_cli.py``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from dapr.proto import api_service_v1, api_v1, appcallback_service_v1, common_v1

from sidecar.invoke.grpc_channel import GrpcAppChannel
from sidecar.invoke.messages import AppRequest
from sidecar.settings import Settings
from sidecar.testing import Sidecar, free_port, run_sidecar
from tests.sidecar.fake_app import run_fake_app
from tests.sidecar.helpers import component_doc, write_components
from tests.sidecar.resiliency_helpers import run_flaky_app

_MIB = 1024 * 1024


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_components(tmp_path_factory.mktemp("flags") / "components",
                            component_doc("statestore", "state.in-memory"))


@pytest.fixture(scope="module")
def small_limit(components: Path) -> Iterator[Sidecar]:
    with run_sidecar("small-limit", [components], flags=["--max-body-size", "1Ki"]) as sidecar:
        yield sidecar


@pytest.fixture(scope="module")
def large_limit(components: Path) -> Iterator[Sidecar]:
    with run_sidecar("large-limit", [components],
                     flags=["-max-body-size", "8Mi"]) as sidecar:  # daprd's one-dash form too
        yield sidecar


def _save_over_http(sidecar: Sidecar, size: int) -> httpx.Response:
    body = json.dumps([{"key": "k", "value": "x" * size}])
    return httpx.post(f"{sidecar.http_url}/v1.0/state/statestore", content=body, timeout=10)


def _save_over_grpc(sidecar: Sidecar, size: int) -> None:
    options = [("grpc.max_send_message_length", 64 * _MIB)]
    with grpc.insecure_channel(sidecar.grpc_address, options=options) as channel:
        api_service_v1.DaprStub(channel).SaveState(api_v1.SaveStateRequest(
            store_name="statestore",
            states=[common_v1.StateItem(key="k", value=b"x" * size)]), timeout=10)


def test_max_body_size_lowers_the_limit_over_http_and_grpc(small_limit: Sidecar) -> None:
    assert _save_over_http(small_limit, 500).status_code == 204
    refused = _save_over_http(small_limit, 2048)
    assert refused.status_code == 413
    assert refused.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
    _save_over_grpc(small_limit, 500)
    with pytest.raises(grpc.RpcError) as caught:
        _save_over_grpc(small_limit, 128 * 1024)  # past the limit and its envelope
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_max_body_size_raises_the_limit_past_daprds_4_mib(large_limit: Sidecar) -> None:
    assert _save_over_http(large_limit, 5 * _MIB).status_code == 204
    _save_over_grpc(large_limit, 5 * _MIB)
    assert httpx.get(f"{large_limit.http_url}/v1.0/state/statestore/k",
                     timeout=10).content == b"x" * (5 * _MIB)


def _invoke_at_once(sidecar: Sidecar, calls: int) -> list[int]:
    statuses: list[int] = []

    def call() -> None:
        reply = httpx.post(f"{sidecar.http_url}/v1.0/invoke/{sidecar.app_id}/method/slow",
                           timeout=20)
        statuses.append(reply.status_code)

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.parametrize(("flags", "one_at_a_time"), [
    (["--app-max-concurrency", "1"], True),
    (["--app-max-concurrency", "-1"], False),  # daprd's default: no limit
])
def test_app_max_concurrency_holds_calls_until_a_slot_frees(
        components: Path, flags: list[str], one_at_a_time: bool) -> None:
    with run_flaky_app() as app:
        app.delay["/slow"] = 0.4
        with run_sidecar("bounded", [components], app_port=app.port, flags=flags) as sidecar:
            assert _invoke_at_once(sidecar, 3) == [200, 200, 200]
            metadata = httpx.get(f"{sidecar.http_url}/v1.0/metadata", timeout=5).json()
    gaps = app.gaps("/slow")
    if one_at_a_time:
        assert min(gaps) >= 0.35, gaps  # each call waited for the one before it
        assert metadata["appConnectionProperties"]["maxConcurrency"] == 1
    else:
        assert max(gaps) < 0.35, gaps  # all three reached the app together
        assert metadata["appConnectionProperties"]["maxConcurrency"] == -1


class _SlowGrpcApp(appcallback_service_v1.AppCallbackServicer):
    """An AppCallback server whose OnInvoke takes 0.4 s; it counts the calls it holds at once."""

    def __init__(self) -> None:
        self.in_flight = self.most = 0
        self._lock = threading.Lock()

    def OnInvoke(self, request: common_v1.InvokeRequest,
                 context: grpc.ServicerContext) -> common_v1.InvokeResponse:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.4)
        with self._lock:
            self.in_flight -= 1
        return common_v1.InvokeResponse()


@pytest.mark.parametrize(("limit", "most"), [(1, 1), (-1, 3)])
def test_app_max_concurrency_over_grpc_bounds_service_invocation(limit: int, most: int) -> None:
    app = _SlowGrpcApp()
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    appcallback_service_v1.add_AppCallbackServicer_to_server(app, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = GrpcAppChannel(Settings(app_id="bounded", app_port=port,
                                      app_max_concurrency=limit), timeout=10)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            replies = list(pool.map(lambda _: channel.invoke_method("slow", AppRequest()),
                                    range(3)))
    finally:
        channel.close()
        server.stop(0)
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert app.most == most


def test_app_channel_address_is_where_the_app_is_called(components: Path) -> None:
    # 127.0.0.2 is loopback too on Linux, and no app listens on 127.0.0.1 at that port.
    with run_fake_app(host="127.0.0.2") as app, \
            run_sidecar("elsewhere", [components], app_port=app.port,
                        flags=["--app-channel-address", "127.0.0.2"]) as sidecar:
        reply = httpx.get(f"{sidecar.http_url}/v1.0/invoke/elsewhere/method/hello", timeout=5)
        metadata = httpx.get(f"{sidecar.http_url}/v1.0/metadata", timeout=5).json()
    assert reply.status_code == 200 and reply.json()["path"] == "/hello"
    assert metadata["appConnectionProperties"]["channelAddress"] == "127.0.0.2"


def _wait(http_port: int, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sidecar", "--wait", "--dapr-http-port",
                           str(http_port)], capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_wait_returns_once_the_runtime_is_outbound_ready(small_limit: Sidecar) -> None:
    done = _wait(small_limit.http_port)
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "Waiting for Dapr to be outbound ready (timeout: 60 seconds): "
        f"url=http://localhost:{small_limit.http_port}/v1.0/healthz/outbound",
        "Dapr is outbound ready!"]


def test_wait_reports_a_runtime_that_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    from sidecar.__main__ import wait_until_outbound_ready

    assert wait_until_outbound_ready(free_port(), timeout=0.3) == 0  # daprd's exit code
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("Dapr outbound NOT ready yet: ")
    assert lines[-1].startswith("timeout waiting for Dapr to become outbound ready. "
                                "Last error: ")


def test_log_as_json_and_one_warning_per_ignored_flag(components: Path) -> None:
    with run_sidecar("json-logs", [components],
                     flags=["--log-as-json", "--metrics-port", "9999", "--enable-metrics=false",
                            "--placement-host-address", "localhost:50005"]) as sidecar:
        log = sidecar.log
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    warnings = [r["message"] for r in records if r["level"] == "warning"]
    assert warnings == [
        "daprd flags taken and ignored: --placement-host-address localhost:50005 (there are no "
        "actors); --metrics-port 9999 (there is no metrics endpoint)"]
    assert any(r["message"].startswith("dapr initialized") for r in records)
    assert {r["app_id"] for r in records} == {"json-logs"}

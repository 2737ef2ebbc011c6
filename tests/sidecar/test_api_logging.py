"""API logging (``--enable-api-logging``, ``spec.logging.apiLogging``) on real runtimes: one
line per HTTP and gRPC API call with daprd's fields, the flag winning over the file either way,
``obfuscateURLs`` and ``omitHealthChecks``; bad fields stop start-up naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from dapr.proto import api_service_v1, api_v1

from sidecar.api_logging import ApiLogging
from sidecar.configuration import load_configuration
from sidecar.testing import Sidecar, run_sidecar
from tests.sidecar.helpers import component_doc, write_components


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_components(tmp_path_factory.mktemp("api-logging") / "components",
                            component_doc("statestore", "state.in-memory"))


def _config(folder: Path, api_logging: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "dapr.io/v1alpha1", "kind": "Configuration", "metadata": {"name": "c"},
        "spec": {"logging": {"apiLogging": api_logging}}}), encoding="utf-8")
    return path


def _calls(sidecar: Sidecar) -> None:
    """One HTTP state read, one health check and one gRPC state read, with user agents."""
    httpx.get(f"{sidecar.http_url}/v1.0/state/statestore/k",
              headers={"User-Agent": "probe/1"}, timeout=5)
    httpx.get(f"{sidecar.http_url}/v1.0/healthz", headers={"User-Agent": "probe/1"}, timeout=5)
    options = [("grpc.primary_user_agent", "grpc-probe/2")]
    with grpc.insecure_channel(sidecar.grpc_address, options=options) as channel:
        api_service_v1.DaprStub(channel).GetState(
            api_v1.GetStateRequest(store_name="statestore", key="k"), timeout=5)


def _json_records(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_the_flag_logs_every_call_with_daprds_fields(components: Path) -> None:
    with run_sidecar("api-log", [components], flags=["--enable-api-logging"]) as sidecar:
        _calls(sidecar)
        log = sidecar.log
    # run_sidecar's own health probes are logged too; ours carry a "probe" user agent.
    lines = [line for line in log.splitlines() if "API Called" in line and "probe/" in line]
    assert len(lines) == 3, log
    state, health, grpc_state = lines
    assert "scope=dapr.runtime.http-info msg=HTTP API Called " \
           'method="GET /v1.0/state/statestore/k" useragent=probe/1 code=204 size=0 ' \
           "duration=" in state
    assert 'method="GET /v1.0/healthz" useragent=probe/1 code=204' in health
    assert "scope=dapr.runtime.grpc-info msg=gRPC API Called " \
           'method=/dapr.proto.runtime.v1.Dapr/GetState useragent="grpc-probe/2 ' in grpc_state
    assert " code=0 duration=" in grpc_state


def test_the_configuration_obfuscates_and_omits_health_checks(components: Path,
                                                              tmp_path: Path) -> None:
    config = _config(tmp_path, {"enabled": True, "obfuscateURLs": True,
                                "omitHealthChecks": True})
    with run_sidecar("api-log-config", [components], env={"DAPR_CONFIG": str(config)},
                     flags=["--log-as-json"]) as sidecar:
        _calls(sidecar)
        # A refused gRPC call is logged with its status code.
        options = [("grpc.primary_user_agent", "grpc-probe/3")]
        with grpc.insecure_channel(sidecar.grpc_address, options=options) as channel, \
                pytest.raises(grpc.RpcError):
            api_service_v1.DaprStub(channel).GetState(
                api_v1.GetStateRequest(store_name="nowhere", key="k"), timeout=5)
        log = sidecar.log
    calls = [r for r in _json_records(log)
             if r["message"].endswith("API Called") and "probe/" in r.get("useragent", "")]
    assert [(r["logger"], r["method"], r["code"]) for r in calls] == [
        ("dapr.runtime.http-info", "GetState", 204),
        ("dapr.runtime.grpc-info", "/dapr.proto.runtime.v1.Dapr/GetState", 0),
        ("dapr.runtime.grpc-info", "/dapr.proto.runtime.v1.Dapr/GetState",
         grpc.StatusCode.INVALID_ARGUMENT.value[0])]
    assert calls[0]["message"] == "HTTP API Called" and calls[0]["size"] == 0
    assert all(isinstance(r["duration"], int) for r in calls)


@pytest.mark.parametrize(("enabled_in_file", "flags"), [
    (None, []),                                  # daprd's default: off
    (True, ["--enable-api-logging=false"]),      # the flag wins over the file
])
def test_no_lines_when_off(components: Path, tmp_path: Path, enabled_in_file: bool | None,
                           flags: list[str]) -> None:
    env = {} if enabled_in_file is None else {
        "DAPR_CONFIG": str(_config(tmp_path, {"enabled": enabled_in_file}))}
    with run_sidecar("api-log-off", [components], env=env, flags=flags) as sidecar:
        _calls(sidecar)
        log = sidecar.log
    assert "API Called" not in log
    assert "ignored" not in log  # the file's spec.logging is understood, not warned about


def test_configuration_fields(tmp_path: Path) -> None:
    config = _config(tmp_path, {"enabled": True, "omitHealthChecks": True})
    assert load_configuration([config]).api_logging == ApiLogging(
        enabled=True, omit_health_checks=True)


@pytest.mark.parametrize(("api_logging", "expected"), [
    ({"enabled": "yes"}, "spec.logging.apiLogging.enabled: must be true or false, got 'yes'"),
    ({"obfuscateUrls": True}, "spec.logging.apiLogging.obfuscateUrls: unknown field"),
])
def test_bad_fields_stop_start_up_naming_the_field(tmp_path: Path, api_logging: dict[str, Any],
                                                   expected: str) -> None:
    config = _config(tmp_path, api_logging)
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--app-id", "x", "--config", str(config),
         "--resources-path", str(tmp_path), "--dapr-http-port", "0"],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert expected in done.stderr.strip().splitlines()[-1]

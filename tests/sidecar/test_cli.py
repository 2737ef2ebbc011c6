"""Flag parsing: daprd's names, env fallbacks, precedence and defaults (settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar import settings as defaults
from sidecar._cli import parse_settings


def test_defaults_come_from_settings() -> None:
    parsed = parse_settings([], environ={"XDG_RUNTIME_DIR": "/run/user/7"})
    assert (parsed.http_port, parsed.grpc_port, parsed.app_protocol, parsed.log_level) == (
        defaults.DEFAULT_HTTP_PORT, defaults.DEFAULT_GRPC_PORT, "http", "info")
    assert parsed.listen_address == "127.0.0.1"
    assert parsed.app_port is None
    assert parsed.resources_paths == (Path("./components"),)
    assert parsed.registry_dir == Path("/run/user/7/dapr-local")


def test_registry_dir_without_xdg_is_per_user_tmp() -> None:
    registry_dir = parse_settings([], environ={}).registry_dir
    assert registry_dir is not None and registry_dir.name.startswith("dapr-local-")


def test_flags() -> None:
    parsed = parse_settings(
        ["--app-id", "a", "--app-port", "9005", "--dapr-http-port", "3503",
         "--dapr-grpc-port", "50003", "--resources-path", "one", "--components-path", "two",
         "--log-level", "debug", "--dapr-listen-addresses", "0.0.0.0,[::1]",
         "--registry-dir", "/r", "--config", "c.yaml"], environ={})
    assert (parsed.app_id, parsed.app_port, parsed.http_port, parsed.grpc_port) == (
        "a", 9005, 3503, 50003)
    assert parsed.resources_paths == (Path("one"), Path("two"))
    assert (parsed.log_level, parsed.listen_address, parsed.registry_dir, parsed.config) == (
        "debug", "0.0.0.0", Path("/r"), Path("c.yaml"))


def test_env_fallbacks_and_flag_precedence() -> None:
    env = {"APP_ID": "env-app", "APP_PORT": "9100", "DAPR_HTTP_PORT": "3600",
           "DAPR_GRPC_PORT": "50100", "DAPR_RESOURCES_PATH": "x:y",
           "DAPR_LOCAL_REGISTRY_DIR": "/reg", "DAPR_LOG_LEVEL": "warn"}
    parsed = parse_settings([], environ=env)
    assert (parsed.app_id, parsed.app_port, parsed.http_port, parsed.grpc_port) == (
        "env-app", 9100, 3600, 50100)
    assert parsed.resources_paths == (Path("x"), Path("y"))
    assert (parsed.registry_dir, parsed.log_level) == (Path("/reg"), "warn")
    flagged = parse_settings(["--app-id", "flag-app", "--dapr-http-port", "1"], environ=env)
    assert (flagged.app_id, flagged.http_port) == ("flag-app", 1)


@pytest.mark.parametrize(("argv", "env"), [
    (["--app-port", "x"], {}), (["--dapr-http-port", "70000"], {}),
    (["--log-level", "loud"], {}), ([], {"DAPR_GRPC_PORT": "nope"}),
    ([], {"DAPR_LOG_LEVEL": "loud"}), (["--app-protocol", "h2c"], {}),
    ([], {"APP_PROTOCOL": "grpcs"}),
])
def test_bad_values_exit_2_with_a_message(argv: list[str], env: dict[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_settings(argv, environ=env)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err

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


# -- daprd's whole command line ------------------------------------------------------------------

#: What `dapr run` passes to daprd (dapr/cli pkg/standalone/run.go, getDaprCommand), with -1 for
#: the concurrency and body size it leaves unset.
DAPR_RUN_ARGS = [
    "--app-id", "checkout", "--dapr-http-port", "3500", "--dapr-grpc-port", "50001",
    "--log-level", "info", "--app-max-concurrency", "-1", "--app-protocol", "http",
    "--components-path", "components", "--metrics-port", "9090",
    "--dapr-http-max-request-size", "-1", "--app-port", "6000",
    "--placement-host-address", "localhost:50005", "--config", "config.yaml"]


def test_the_command_line_dapr_run_writes_is_taken() -> None:
    parsed = parse_settings(DAPR_RUN_ARGS, environ={})
    assert (parsed.app_id, parsed.http_port, parsed.grpc_port, parsed.app_port) == (
        "checkout", 3500, 50001, 6000)
    assert (parsed.resources_paths, parsed.configs) == ((Path("components"),),
                                                        (Path("config.yaml"),))
    assert (parsed.max_body_bytes, parsed.app_max_concurrency) == (4 * 1024 * 1024, -1)
    assert parsed.ignored_flags == (
        "--placement-host-address localhost:50005 (there are no actors)",
        "--metrics-port 9090 (there is no metrics endpoint)")


def test_go_flag_syntax() -> None:
    parsed = parse_settings(["-app-id", "a", "--app-port=9005", "-log-as-json", "--app-ssl",
                             "--enable-metrics=false", "--enable-mtls", "-app-max-concurrency",
                             "-1", "--disable-builtin-k8s-secret-store=false"], environ={})
    assert (parsed.app_id, parsed.app_port, parsed.app_protocol) == ("a", 9005, "https")
    assert parsed.log_as_json and parsed.app_max_concurrency == -1
    # --enable-metrics=false asks for nothing; --enable-mtls asks for what is not here.
    assert parsed.ignored_flags == (
        "--enable-mtls (there is no mTLS, runtimes authenticate each other with "
        "DAPR_API_TOKEN)",)


def test_flags_at_daprds_defaults_are_not_warned_about() -> None:
    parsed = parse_settings(["--mode", "standalone", "--allowed-origins", "*",
                             "--app-health-threshold", "3", "--enable-api-logging=false",
                             "--control-plane-namespace", "default"], environ={})
    assert parsed.ignored_flags == ()


def test_honoured_flags() -> None:
    parsed = parse_settings(["--app-channel-address", "10.0.0.7", "--app-max-concurrency", "4",
                             "--dapr-graceful-shutdown-seconds", "0", "--wait"], environ={})
    assert (parsed.app_host, parsed.app_max_concurrency) == ("10.0.0.7", 4)
    assert (parsed.shutdown_grace, parsed.wait) == (0.0, True)
    assert parse_settings([], environ={}).app_host == "127.0.0.1"
    # --enable-api-logging has three states: given true, given false, not given (the file's).
    assert [parse_settings(argv, environ={}).api_logging for argv in (
        ["--enable-api-logging"], ["--enable-api-logging=false"], [])] == [True, False, None]


@pytest.mark.parametrize(("text", "size"), [
    ("16Mi", 16 * 1024 * 1024), ("4M", 4_000_000), ("1048576", 1048576), ("1.5Ki", 1536),
    ("4e6", 4_000_000), ("1Gi", 1024 ** 3)])
def test_max_body_size_takes_quantities(text: str, size: int) -> None:
    assert parse_settings(["--max-body-size", text], environ={}).max_body_bytes == size
    assert parse_settings(["--max-body-size", text], environ={}).max_message_bytes == (
        size + defaults.MESSAGE_HEADROOM_BYTES)


def test_a_negative_size_is_dapr_runs_not_set() -> None:
    # dapr/cli Validate(): a negative maxBodySize / daprHTTPMaxRequestSize goes out as -1.
    for argv in (["--max-body-size", "-1"], ["--dapr-http-max-request-size", "-1"]):
        assert parse_settings(argv, environ={}).max_body_bytes == defaults.MAX_BODY_BYTES
    # The newest `dapr run` passes both sizes as quantities, at daprd's defaults.
    parsed = parse_settings(["--max-body-size", "4Mi", "--read-buffer-size", "4Ki"], environ={})
    assert (parsed.max_body_bytes, parsed.ignored_flags) == (defaults.MAX_BODY_BYTES, ())


def test_max_body_size_wins_over_the_deprecated_megabytes() -> None:
    assert parse_settings(["--dapr-http-max-request-size", "8"],
                          environ={}).max_body_bytes == 8 * 1024 * 1024
    assert parse_settings(["--dapr-http-max-request-size", "8", "--max-body-size", "1Ki"],
                          environ={}).max_body_bytes == 1024


def test_path_lists_are_comma_separated_and_empty_ones_add_nothing() -> None:
    parsed = parse_settings(["--resources-path", "a,b", "--resources-path", "c", "--config",
                             ""], environ={})
    assert parsed.resources_paths == (Path("a"), Path("b"), Path("c"))
    assert parsed.configs == ()


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-body-size", "0"], "not a whole number of bytes above 0"),
    (["--max-body-size", "1.5"], "not a whole number of bytes above 0"),
    (["--max-body-size", "4MB"], "not a size: '4MB'"),
    (["--mode", "kubernetes"], "standalone mode only"),
    (["--unix-domain-socket", "/tmp/dapr"], "TCP ports only"),
    (["--app-protocol", "grpc", "--app-ssl"], "grpcs"),
    (["--enable-mtls=maybe"], "not a boolean: 'maybe'"),
    (["--dapr-graceful-shutdown-seconds", "-3"], "must be 0 or more"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_bad_daprd_flags_exit_2_naming_the_problem(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_settings(argv, environ={})
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--version", "-version", "--build-info"):
        with pytest.raises(SystemExit) as caught:
            parse_settings([flag], environ={})
        assert caught.value.code == 0
        assert capsys.readouterr().out.strip() == defaults.RUNTIME_VERSION

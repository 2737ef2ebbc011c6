"""dapr.yaml parsing: the repository's own file, the documented path rules, and every error
naming the file, the app and the field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from launcher.plan import build_plan, proxy_routes
from launcher.runfile import RunFileError, load_run_file

from .stack import REPO_ROOT


def write(folder: Path, document: object) -> Path:
    path = folder / "dapr.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def app(**fields: object) -> dict[str, object]:
    return {"appID": "a", "appDirPath": ".", "appPort": 9100, "daprHTTPPort": 9101,
            "daprGRPCPort": 9102, "command": ["functions-framework", "--target", "fa"],
            **fields}


def test_the_repository_file_parses_with_the_seed_ports() -> None:
    run = load_run_file(REPO_ROOT / "dapr.yaml")
    found = {a.app_id: (a.target, a.app_port, a.http_port, a.grpc_port, a.app_dir)
             for a in run.apps}
    assert found == {
        "image-api-grayscale": ("grayscale", 9005, 3503, 50003, REPO_ROOT),
        "image-api-classify": ("classify", 9006, 3504, 50004, REPO_ROOT),
        "events-service": ("events", 9007, 3505, 50005, REPO_ROOT),
    }
    assert all(a.resources_paths == (REPO_ROOT / "config",) for a in run.apps)


def test_a_folder_means_its_dapr_yaml() -> None:
    assert load_run_file(REPO_ROOT).path == REPO_ROOT / "dapr.yaml"


def test_path_rules_common_from_file_app_paths_from_app_dir(tmp_path: Path) -> None:
    for sub in ("shared", "svc/own", "svc/more", "svc"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    path = write(tmp_path, {"version": 1,
                            "common": {"resourcesPath": "./shared", "env": {"A": 1, "B": True}},
                            "apps": [app(appDirPath="svc", resourcesPaths="own, more",
                                         env={"A": "x"}),
                                     app(appID="b", appPort=9200, daprHTTPPort=None,
                                         daprGRPCPort=None, appDirPath="svc")]})
    first, second = load_run_file(path).apps
    assert first.app_dir == tmp_path / "svc"
    assert first.resources_paths == (tmp_path / "svc/own", tmp_path / "svc/more")
    assert dict(first.env) == {"A": "x", "B": "true"}
    assert second.resources_paths == (tmp_path / "shared",)
    assert (second.http_port, second.grpc_port) == (None, None)


def test_missing_dapr_ports_get_free_ones(tmp_path: Path) -> None:
    (tmp_path / "config/embedded").mkdir(parents=True)
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": "config"},
                            "apps": [app(daprHTTPPort=None, daprGRPCPort=None)]})
    (plan,) = build_plan(load_run_file(path), "embedded", tmp_path / "reg")
    assert len({plan.http_port, plan.grpc_port, 9100}) == 3
    assert f"--dapr-http-port {plan.http_port}" in " ".join(plan.runtime.argv)
    assert plan.command.env["DAPR_GRPC_PORT"] == str(plan.grpc_port)


def test_command_plan_matches_the_dapr_cli(tmp_path: Path) -> None:
    (tmp_path / "config/embedded").mkdir(parents=True)
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": "config"},
                            "apps": [app(env={"WORKERS": 3}, logLevel="debug")]})
    (plan,) = build_plan(load_run_file(path), "embedded", tmp_path / "reg")
    env = plan.command.env
    assert (env["DAPR_HTTP_PORT"], env["DAPR_GRPC_PORT"], env["APP_ID"], env["WORKERS"]) == (
        "9101", "9102", "a", "3")
    assert Path(env["PATH"].split(":")[0]) == Path(sys.executable).parent
    argv = list(plan.runtime.argv)
    assert argv[argv.index("--resources-path") + 1] == str(tmp_path / "config/embedded")
    assert argv[argv.index("--registry-dir") + 1] == str(tmp_path / "reg")
    assert argv[argv.index("--log-level") + 1] == "debug"
    assert plan.runtime.cwd == plan.command.cwd == tmp_path
    (services,) = build_plan(load_run_file(path), "services", tmp_path / "reg")
    argv = list(services.runtime.argv)
    assert argv[argv.index("--resources-path") + 1] == str(tmp_path / "config")


def test_daprd_properties_reach_the_runtime_as_dapr_run_passes_them(tmp_path: Path) -> None:
    (tmp_path / "config/embedded").mkdir(parents=True)
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": "config",
                                                     "appMaxConcurrency": 2},
                            "apps": [app(maxBodySize="16Mi", daprHTTPMaxRequestSize=8,
                                         appChannelAddress="127.0.0.2", metricsPort=9090)]})
    (plan,) = build_plan(load_run_file(path), "embedded", tmp_path / "reg")
    argv = list(plan.runtime.argv)
    assert argv[argv.index("--app-max-concurrency") + 1] == "2"
    assert argv[argv.index("--max-body-size") + 1] == "16Mi"
    assert argv[argv.index("--dapr-http-max-request-size") + 1] == "8"
    assert argv[argv.index("--app-channel-address") + 1] == "127.0.0.2"
    assert "--metrics-port" not in argv  # ignored by the launcher, as before


def test_embedded_profile_needs_the_embedded_folder(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": "config"},
                            "apps": [app()]})
    with pytest.raises(RunFileError, match=r"the embedded profile needs .*config/embedded"):
        build_plan(load_run_file(path), "embedded", tmp_path)


@pytest.mark.parametrize("points_at", ["config", "config/embedded"])
def test_the_run_file_may_point_at_either_profile(tmp_path: Path, points_at: str) -> None:
    (tmp_path / "config/embedded").mkdir(parents=True)
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": points_at},
                            "apps": [app()]})
    for profile, expected in (("embedded", "config/embedded"), ("services", "config")):
        (plan,) = build_plan(load_run_file(path), profile, tmp_path)
        argv = list(plan.runtime.argv)
        assert argv[argv.index("--resources-path") + 1] == str(tmp_path / expected)


BAD = [
    ("version: 1\napps: [", "not valid YAML"),
    ("- 1\n- 2\n", "must be a mapping"),
    ({"version": 2, "apps": [app()]}, "version must be 1, got 2"),
    ({"version": 1}, "apps must be a non-empty list"),
    ({"version": 1, "apps": []}, "apps must be a non-empty list"),
    ({"version": 1, "apps": [app()], "extra": 1}, "unknown top-level key"),
    ({"version": 1, "apps": ["x"]}, r"apps\[0\]: each app must be a mapping"),
    ({"version": 1, "apps": [app(appPorts=1)]}, r"apps\[0\] \(a\): unknown property appPorts"),
    ({"version": 1, "apps": [app(appPort=70000)]}, "appPort must be a port number 1-65535"),
    ({"version": 1, "apps": [app(daprHTTPPort="http")]}, "daprHTTPPort must be a port"),
    ({"version": 1, "apps": [app(appDirPath="nowhere")]}, "appDirPath 'nowhere' is not a folder"),
    ({"version": 1, "apps": [app(appDirPath=None)]}, "appDirPath is required"),
    ({"version": 1, "apps": [app(command=[])]}, "command must be a non-empty list"),
    ({"version": 1, "apps": [app(command={"a": 1})]}, "command must be a non-empty list"),
    ({"version": 1, "apps": [app(env=["A=1"])]}, "env must be a mapping"),
    ({"version": 1, "apps": [app(logLevel="loud")]}, "logLevel must be one of"),
    ({"version": 1, "apps": [app(appProtocol="grpc")]}, "appProtocol 'grpc' is not supported"),
    ({"version": 1, "apps": [app(resourcesPath="missing")]}, "resources path .*missing"),
    ({"version": 1, "apps": [app(), app()]}, "appID 'a' appears more than once"),
    ({"version": 1, "apps": [app(), app(appID="b", appPort=9101)]},
     "port 9101 is used twice: a daprHTTPPort and b appPort"),
    ({"version": 1, "common": "x", "apps": [app()]}, "common must be a mapping"),
    ({"version": 1, "apps": [app(maxBodySize="4MB")]}, "maxBodySize: not a size: '4MB'"),
    ({"version": 1, "apps": [app(appMaxConcurrency="two")]},
     "appMaxConcurrency must be a whole number, got 'two'"),
    ({"version": 1, "apps": [app(appChannelAddress="")]}, "appChannelAddress must be a host"),
]


@pytest.mark.parametrize(("document", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_run_files_say_what_is_wrong(tmp_path: Path, document: object, message: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(RunFileError, match=message) as caught:
        load_run_file(path)
    assert str(caught.value).startswith(str(path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="cannot read the run file"):
        load_run_file(tmp_path / "nope.yaml")


def test_cli_reports_a_bad_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             ) -> None:
    from launcher.__main__ import main

    path = write(tmp_path, {"version": 1, "apps": [app(appPort=0)]})
    assert main(["--file", str(path)]) == 2
    assert "appPort must be a port number 1-65535, got 0" in capsys.readouterr().err


def test_two_apps_serving_one_function_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config/embedded").mkdir(parents=True)
    path = write(tmp_path, {"version": 1, "common": {"resourcesPath": "config"},
                            "apps": [app(), app(appID="b", appPort=9200, daprHTTPPort=9201,
                                                daprGRPCPort=9202)]})
    plans = build_plan(load_run_file(path), "embedded", tmp_path)
    with pytest.raises(RunFileError, match="apps a and b both serve function 'fa'"):
        proxy_routes(plans)
    assert proxy_routes(plans[:1]) == {"fa": 9100}

"""The launcher's API token: one per run, given to every runtime and every app, never printed.

The end-to-end checks (a launched runtime refuses a call without the token, the stack still
serves) are in test_stack.py, on its shared stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from launcher.plan import API_TOKEN_ENV, build_plan, new_api_token
from launcher.runfile import load_run_file


def _run_file(folder: Path) -> Path:
    (folder / "config/embedded").mkdir(parents=True)
    apps = [{"appID": app_id, "appDirPath": ".", "appPort": port, "daprHTTPPort": port + 1,
             "daprGRPCPort": port + 2, "env": {API_TOKEN_ENV: "from-the-run-file"},
             "command": ["functions-framework", "--target", app_id]}
            for app_id, port in (("a", 9100), ("b", 9200))]
    path = folder / "dapr.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "common": {"resourcesPath": "config"},
                                    "apps": apps}))
    return path


def test_every_runtime_and_every_app_get_the_one_token(tmp_path: Path) -> None:
    plans = build_plan(load_run_file(_run_file(tmp_path)), "embedded", tmp_path, "t0ken")
    envs = [spec.env for plan in plans for spec in (plan.runtime, plan.command)]
    assert len(envs) == 4
    # A runtime and its app must agree, so the run's token wins over an app's own env.
    assert [env[API_TOKEN_ENV] for env in envs] == ["t0ken"] * 4
    assert all("t0ken" not in " ".join(spec.argv) for plan in plans
               for spec in (plan.runtime, plan.command))


def test_without_a_token_no_process_gets_one(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_TOKEN_ENV, "from-the-launcher-env")
    plans = build_plan(load_run_file(_run_file(tmp_path)), "embedded", tmp_path)
    assert all(API_TOKEN_ENV not in spec.env for plan in plans
               for spec in (plan.runtime, plan.command))


def test_a_set_token_is_kept_else_each_run_makes_a_new_one() -> None:
    assert new_api_token({API_TOKEN_ENV: "mine"}) == "mine"
    made = {new_api_token({}) for _ in range(3)} | {new_api_token({API_TOKEN_ENV: ""})}
    assert len(made) == 4
    assert all(len(token) >= 43 for token in made)

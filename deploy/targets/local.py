"""``--target local``: the resource files of both local profiles and the multi-app run file.

Writes ``<profiles.services>/*.yaml``, ``<profiles.embedded>/*.yaml`` (Components,
Subscriptions, the Resiliency) and ``dapr.yaml``. The
secrets JSON files the local secret store reads stay hand-written: they hold the (local)
credentials, which never belong in the description.
"""

from __future__ import annotations

from typing import Any

from deploy._yaml import FlowList, document
from deploy.model import Description, Function
from deploy.targets.kubernetes import configuration_resource
from deploy.targets.profile import profile_files

__all__ = ["render"]

_TARGET = "local"
_LOCAL_PROFILES = ("services", "embedded")
_CONFIGURATION_DIR = "configuration"
_CONFIGURATION_COMMENT = ("Dapr Configuration of this app's runtime (--config, via dapr.yaml's "
                          "configFilePath): tracing, and secret scopes that deny every secret but "
                          "those the function lists.")
_RUN_FILE_COMMENT = ("Dapr multi-app run file: `dapr run -f .` with real Dapr, `make run` with "
                    "the local runtime.")


def render(d: Description) -> dict[str, str]:
    local = d.provider["local"]
    files: dict[str, str] = {}
    for profile in _LOCAL_PROFILES:
        directory = local["profiles"][profile].rstrip("/")
        for name, text in profile_files(d, profile, _TARGET).items():
            files[f"{directory}/{name}"] = text
    for f in d.functions.values():
        files[_configuration_path(d, f)] = document(
            configuration_resource(d, f, "services"), _TARGET, [_CONFIGURATION_COMMENT])
    files[local["runFile"]] = document(_run_file(d), _TARGET, [_RUN_FILE_COMMENT])
    return files


def _configuration_path(d: Description, f: Function) -> str:
    # One per app, for both local profiles (their secret stores have the same names; the
    # launcher passes it as --config); a subfolder, so no resources path reads it.
    folder = d.provider["local"]["profiles"]["services"].rstrip("/")
    return f"{folder}/{_CONFIGURATION_DIR}/{f.app_id}.yaml"


def _run_file(d: Description) -> dict[str, Any]:
    local = d.provider["local"]
    resources = "./" + local["profiles"][local["runProfile"]].rstrip("/").removeprefix("./")
    return {"version": 1, "common": {"resourcesPath": resources},
            "apps": [_app(d, f) for f in d.functions.values()]}


def _app(d: Description, f: Function) -> dict[str, Any]:
    command = ["python", "-m", "bindings.http.serving", "--target", f.target, "--source", f.source,
               "--port", str(f.port)]
    return {"appID": f.app_id, "appDirPath": ".", "appPort": f.port,
            "daprHTTPPort": f.dapr_http_port, "daprGRPCPort": f.dapr_grpc_port,
            "configFilePath": "./" + _configuration_path(d, f).removeprefix("./"),
            "env": f.env(), "command": FlowList(command)}

"""The project's own rendered Configurations (config/configuration/, from serverless.yaml):
only events-service may read ``DB_URL:MYSQL`` from local-store, in both local profiles."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from sidecar.testing import run_sidecar

ROOT = Path(__file__).resolve().parents[2]
SECRET = "DB_URL:MYSQL"


def _apps() -> dict[str, Path]:
    run_file = yaml.safe_load((ROOT / "dapr.yaml").read_text(encoding="utf-8"))
    return {app["appID"]: ROOT / app["configFilePath"] for app in run_file["apps"]}


@pytest.mark.parametrize("profile", ["config", "config/embedded"])
@pytest.mark.parametrize(("app_id", "status"), [
    ("image-api-grayscale", 403), ("image-api-classify", 403), ("events-service", 200)])
def test_only_events_service_reads_the_database_url(profile: str, app_id: str,
                                                    status: int) -> None:
    config = _apps()[app_id]
    with run_sidecar(app_id, [ROOT / profile], cwd=ROOT,
                     env={"DAPR_CONFIG": str(config)}) as sidecar:
        reply = httpx.get(f"{sidecar.http_url}/v1.0/secrets/local-store/{SECRET}")
        assert reply.status_code == status, reply.text
        if status == 403:
            assert reply.json()["errorCode"] == "ERR_PERMISSION_DENIED"
        else:
            assert set(reply.json()) == {SECRET}
        bulk = httpx.get(f"{sidecar.http_url}/v1.0/secrets/local-store/bulk").json()
        assert (SECRET in bulk) == (status == 200)

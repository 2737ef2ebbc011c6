"""The ``dapr_sidecar`` pytest plugin (``sidecar.testing``), used as a template user would.

Each test writes a user's test file into a fresh folder and runs pytest on it in a subprocess
(``pytester``), so the plugin arrives through its ``pytest11`` entry point and nothing of this
suite's conftest is loaded. The runtime is the real ``python -m sidecar``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

_STATE_STORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
  metadata: []
"""


def _user_project(pytester: pytest.Pytester, test_source: str) -> None:
    """A user's project: ``resources/statestore.yaml`` and one test file."""
    resources = pytester.mkdir("resources")
    (resources / "statestore.yaml").write_text(_STATE_STORE)
    pytester.makepyfile(test_user=textwrap.dedent(test_source))


def test_a_users_test_reaches_the_runtime_through_the_sdk(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("DAPR_GRPC_ENDPOINT", "127.0.0.1:9")  # would win over DAPR_GRPC_PORT
    _user_project(pytester, """
        import os
        from dapr.clients import DaprClient

        def test_state_round_trip(dapr_sidecar):
            sidecar = dapr_sidecar("resources", app_id="my-app",
                                   flags=["--app-max-concurrency", "4"])
            assert os.environ["DAPR_GRPC_PORT"] == str(sidecar.grpc_port)
            assert os.environ["DAPR_HTTP_PORT"] == str(sidecar.http_port)
            assert "DAPR_GRPC_ENDPOINT" not in os.environ
            with DaprClient() as client:
                client.save_state("statestore", "order-1", '{"total": 3}')
                assert client.get_state("statestore", "order-1").data == b'{"total": 3}'
                assert client.get_metadata().application_id == "my-app"
            assert "--app-max-concurrency" in sidecar.process.args  # daprd's flags pass on
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_runtimes_stop_and_the_environment_is_restored_after_the_test(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPR_HTTP_PORT", "3500")
    monkeypatch.delenv("DAPR_GRPC_PORT", raising=False)
    _user_project(pytester, """
        import os
        import socket

        started = []

        def test_two_runtimes(dapr_sidecar):
            first = dapr_sidecar("resources", app_id="one")
            second = dapr_sidecar(["resources"], app_id="two")
            assert first.registry_dir == second.registry_dir
            assert os.environ["DAPR_HTTP_PORT"] == str(second.http_port)
            started.extend([first, second])

        def test_after():
            assert os.environ["DAPR_HTTP_PORT"] == "3500"
            assert "DAPR_GRPC_PORT" not in os.environ
            for sidecar in started:
                assert sidecar.process.poll() is not None
                with socket.socket() as sock:
                    assert sock.connect_ex(("127.0.0.1", sidecar.http_port)) != 0
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_runtime_that_cannot_start_fails_the_test_with_its_log(
        pytester: pytest.Pytester) -> None:
    _user_project(pytester, """
        def test_bad_component(dapr_sidecar):
            dapr_sidecar("resources", app_id="bad")
    """)
    (pytester.path / "resources" / "statestore.yaml").write_text(
        _STATE_STORE.replace("state.in-memory", "state.nosuchstore"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(["*SidecarStartError: runtime bad exited with code 1*",
                                 "*state.nosuchstore*"])


def test_the_plugin_module_loads_no_runtime_module_and_nothing_heavy() -> None:
    probe = ("import sys, sidecar.testing; print(' '.join(sorted(m for m in sys.modules if "
             "m.split('.')[0] in {'sidecar', 'httpx', 'dapr', 'grpc', 'yaml', 'werkzeug'})))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == ["sidecar", "sidecar.testing"]

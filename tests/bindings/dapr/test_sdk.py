"""``bindings.dapr._sdk``: the SDK's gRPC client without ``dapr.clients``' package init (and
so without aiohttp), the package still whole for anything that asks it for a name later.

Each case runs in a fresh interpreter: the deferral only happens when ``dapr.clients`` has not
been imported yet, which the test process cannot promise.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.functions.processes import REPO_ROOT


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_client_modules_import_without_aiohttp() -> None:
    assert _run("""
        import sys
        import bindings.dapr.client, bindings.dapr.events, bindings.dapr.ratelimit
        print("aiohttp" in sys.modules, "dapr.clients.http.client" in sys.modules)
        """) == "False False"


def test_the_package_runs_its_init_when_asked_for_a_name() -> None:
    assert _run("""
        import bindings.dapr.client
        import dapr.clients
        from dapr.clients import DaprClient
        from dapr.clients.grpc.client import DaprGrpcClient
        assert DaprClient is dapr.clients.DaprClient
        assert DaprGrpcClient is bindings.dapr.client.DaprGrpcClient
        assert dapr.clients.grpc.client.DaprGrpcClient is DaprGrpcClient
        assert "BulkPublishEntry" in dapr.clients.__all__
        try:
            dapr.clients.no_such_name
        except AttributeError as err:
            print(err)
        """) == "module 'dapr.clients' has no attribute 'no_such_name'"


def test_an_imported_package_is_left_alone() -> None:
    assert _run("""
        import dapr.clients
        before = dapr.clients
        import bindings.dapr.client
        print(dapr.clients is before, "__getattr__" in vars(dapr.clients))
        """) == "True False"

"""``python -m bindings.http.serving`` loads the app with the garbage collector off, then
freezes what it loaded before gunicorn forks: a worker collects again, and never visits (nor
copies the pages of) the objects its master loaded."""

from __future__ import annotations

from pathlib import Path

import httpx

from sidecar.testing import start_function
from tests.functions.processes import SERVER

_REPORT = '''import gc

def report(request):
    return f"{gc.isenabled()} {gc.get_freeze_count()}"
'''


def test_a_worker_collects_garbage_and_the_loaded_app_is_frozen(tmp_path: Path) -> None:
    source = tmp_path / "main.py"
    source.write_text(_REPORT)
    fn = start_function("report", source, tmp_path, workers=1, threads=1, server=SERVER)
    try:
        enabled, frozen = httpx.get(f"{fn.url}/", timeout=10).text.split()
    finally:
        fn.stop()
    assert enabled == "True"
    # functions-framework and flask alone are tens of thousands of objects.
    assert int(frozen) > 10_000

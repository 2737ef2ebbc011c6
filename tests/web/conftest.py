"""A launcher-run stack (embedded profile, temporary folder) and a headless Debian Chromium,
each started once for the browser tests."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.launcher.stack import LauncherProcess, write_run_dir

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherProcess]:
    folder = tmp_path_factory.mktemp("web-stack")
    run_file, web_port = write_run_dir(folder)
    launcher = LauncherProcess.start(
        ["--file", str(run_file), "--profile", "embedded", "--registry-dir",
         str(folder / "registry")], web_port, cwd=folder)
    try:
        launcher.wait_ready()
        yield launcher
    finally:
        launcher.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"

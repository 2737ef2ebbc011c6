"""Fixtures for the tests of ``bindings``: fresh shared settings around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bindings import settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Settings read anew from the (monkeypatched) environment in each test, never leaked."""
    settings.get.cache_clear()
    yield
    settings.get.cache_clear()

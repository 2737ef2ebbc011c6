"""Metadata helpers every component uses (``sidecar.components.base``)."""

from __future__ import annotations

import pytest

from sidecar.components.base import is_truthy, metadata_duration, metadata_int
from sidecar.errors import ComponentConfigError


def test_truthy_and_metadata_duration():
    assert all(is_truthy(v) for v in ("true", "TRUE", "1", "yes", "on", "t", "y"))
    assert not any(is_truthy(v) for v in ("false", "0", "", "nope"))
    assert metadata_duration("c", "k", "12s") == 12.0
    assert metadata_duration("c", "k", "30") == 30.0
    assert metadata_duration("c", "k", None) == 0.0
    with pytest.raises(ComponentConfigError, match="'k' must be a duration"):
        metadata_duration("c", "k", "later")



def test_metadata_int():
    assert metadata_int("c", "k", " 12 ") == 12
    assert metadata_int("c", "k", "0x10") == 16
    assert metadata_int("c", "k", None) == 0
    with pytest.raises(ComponentConfigError, match="'k' must be an integer"):
        metadata_int("c", "k", "many")
